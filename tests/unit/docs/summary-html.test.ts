/** The docs screenshot's renderer of the summaries' Markdown subset (scripts/lib/summary-html.ts). */
import assert from 'node:assert/strict';
import { markdownToHtml } from '../../../scripts/lib/summary-html';
import { deploySummary } from '../../../shared/summary';

describe('summary-html: the Markdown subset the run summaries use', () => {
  it('renders headings, fact tables, code spans, links, bold across code, lists', () => {
    const html = markdownToHtml(
      deploySummary(
        {
          namespace: 'ml',
          image: `r.io/a@sha256:${'c'.repeat(64)}`,
          applied: ['Deployment/a (namespace ml)'],
          rollout: { ok: true, seconds: 2, revision: '3' },
        },
        { run: { url: 'https://dev.azure.com/o/p/_build/results?buildId=1', name: '1' }, error: undefined },
      ),
    );
    assert.match(html, /<h3>Deployment succeeded: revision 3<\/h3>/);
    assert.match(html, /<tr><td><strong>Namespace<\/strong><\/td><td><code>ml<\/code><\/td><\/tr>/);
    assert.match(html, /<a href="https:\/\/dev\.azure\.com\/o\/p\/_build\/results\?buildId=1">1<\/a>/);
    assert.match(html, /<strong>deployment Deployment\/a in ml<\/strong>/);
    assert.match(html, /<ul><li>Deployment\/a \(namespace ml\)<\/li><\/ul>/);
    assert.ok(!html.includes('<thead>'), 'a fact table has no header row');
  });

  it('keeps escaped pipes in cells, entities as entities, and code literal', () => {
    const html = markdownToHtml('| a | b |\n| --- | ---: |\n| x\\|y | `<i>` &lt;b&gt; |');
    assert.match(html, /<th>a<\/th><th class="num">b<\/th>/);
    assert.match(html, /<td>x\|y<\/td><td class="num"><code>&lt;i&gt;<\/code> &lt;b&gt;<\/td>/);
  });
});
