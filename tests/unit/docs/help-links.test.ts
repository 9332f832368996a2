/**
 * Help links of the task editor: every task has a helpUrl and every input
 * whose help is longer than a sentence ends with a "Learn more" link. The
 * committed task.json holds them as repository paths (the repository URL is
 * only known when packaging); each must name a file and heading that exist.
 * scripts/package.mjs fills them in from --repository, or leaves them out.
 */
import { strict as assert } from 'node:assert';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, posix } from 'node:path';
import {
  classifyOverviewLink,
  deadRepositoryLink,
  fillTaskLinks,
  githubSlug,
  headingAnchors,
  isRepositoryPath,
  linksIn,
  normalizeRepository,
  repositoryFileUrl,
  rewriteLinks,
  sentenceCount,
  taskHelpTexts,
  taskRepositoryLinks,
  type HelpTask,
} from '../../../scripts/lib/doc-links.mjs';

const root = join(__dirname, '..', '..', '..');
const tasks = readdirSync(join(root, 'tasks')).filter((n) => existsSync(join(root, 'tasks', n, 'task.json')));
const load = (name: string) => JSON.parse(readFileSync(join(root, 'tasks', name, 'task.json'), 'utf8')) as HelpTask;

describe('help links in task.json', () => {
  for (const name of tasks) {
    describe(name, () => {
      const task = load(name);

      it('has a helpUrl: a repository path of its documentation, not a guessed URL', () => {
        assert.ok(task.helpUrl, `tasks/${name}/task.json has no helpUrl: set it to "docs/tasks/${name}.md"`);
        assert.match(task.helpUrl, /^docs\/[\w./-]+\.md(#[\w-]+)?$/, 'helpUrl is filled in from --repository when packaging');
      });

      it('ends the help of every input longer than a sentence with a Learn more link', () => {
        const missing = taskHelpTexts(task)
          .filter((t) => t.input && sentenceCount(rewriteLinks(t.text, () => null)) > 1)
          .filter((t) => !/ \[Learn more\]\([^)]+\)$/.test(t.text))
          .map((t) => t.where);
        assert.deepEqual(missing, []);
      });

      it('links only to repository paths that exist, headings included', () => {
        const links = taskRepositoryLinks(task);
        assert.ok(links.length > 1);
        const dead = links.map((l) => [l.where, l.target, deadRepositoryLink(root, l.target)]).filter(([, , why]) => why);
        assert.deepEqual(dead, []);
      });

      it('has no absolute "Learn more" link (those come from --repository)', () => {
        const absolute = taskHelpTexts(task).flatMap((t) => linksIn(t.text).filter((l) => /^learn more/i.test(l.text) && /^[a-z]+:/i.test(l.target)));
        assert.deepEqual(absolute, []);
      });
    });
  }
});

describe('doc-links', () => {
  const task: HelpTask = {
    name: 'T',
    helpUrl: 'docs/tasks/T.md',
    helpMarkDown: 'Does T. [Learn more](docs/tasks/T.md)',
    inputs: [
      { name: 'a', helpMarkDown: 'One. Two, see the [setup](docs/setup.md#cluster). [Learn more](docs/tasks/T.md#inputs-and-more)' },
      { name: 'b', helpMarkDown: 'See [the spec](https://example.org/spec).' },
      { name: 'c' },
    ],
  };

  it('fills repository paths from a GitHub repository URL', () => {
    const filled = fillTaskLinks(task, 'https://github.com/contoso/m2a', 'main');
    assert.equal(filled.helpUrl, 'https://github.com/contoso/m2a/blob/main/docs/tasks/T.md');
    assert.equal(filled.helpMarkDown, 'Does T. [Learn more](https://github.com/contoso/m2a/blob/main/docs/tasks/T.md)');
    assert.equal(
      filled.inputs?.[0]?.helpMarkDown,
      'One. Two, see the [setup](https://github.com/contoso/m2a/blob/main/docs/setup.md#cluster). [Learn more](https://github.com/contoso/m2a/blob/main/docs/tasks/T.md#inputs-and-more)',
    );
    assert.equal(filled.inputs?.[1]?.helpMarkDown, 'See [the spec](https://example.org/spec).');
    assert.equal(filled.inputs?.[2]?.helpMarkDown, undefined);
    assert.equal(task.helpUrl, 'docs/tasks/T.md', 'the source object is not changed');
  });

  it('fills them from an Azure Repos URL with its path= form', () => {
    assert.equal(
      repositoryFileUrl('https://dev.azure.com/contoso/ml/_git/m2a', 'docs/setup.md#cluster', 'main'),
      'https://dev.azure.com/contoso/ml/_git/m2a?path=/docs/setup.md&version=GBmain&anchor=cluster',
    );
  });

  it('leaves them out without a repository: no helpUrl, no Learn more, other links become their text', () => {
    const bare = fillTaskLinks(task, undefined);
    assert.equal(bare.helpUrl, undefined);
    assert.ok(!('helpUrl' in bare));
    assert.equal(bare.helpMarkDown, 'Does T.');
    assert.equal(bare.inputs?.[0]?.helpMarkDown, 'One. Two, see the setup.');
    assert.equal(bare.inputs?.[1]?.helpMarkDown, 'See [the spec](https://example.org/spec).');
  });

  it('refuses a helpUrl that is already absolute', () => {
    assert.throws(() => fillTaskLinks({ ...task, helpUrl: 'https://github.com/someone/else' }, undefined), /must be a repository path/);
  });

  it('takes only an https repository URL, without .git or a trailing slash', () => {
    assert.equal(normalizeRepository('https://github.com/contoso/m2a.git'), 'https://github.com/contoso/m2a');
    assert.equal(normalizeRepository('https://github.com/contoso/m2a/'), 'https://github.com/contoso/m2a');
    for (const bad of [
      'github.com/contoso/m2a',
      'http://github.com/contoso/m2a',
      'https://github.com/contoso',
      'https://u:p@github.com/a/b',
      'https://github.com/a/b?x=1',
    ])
      assert.throws(() => normalizeRepository(bad), /--repository/, bad);
  });

  it('makes GitHub heading anchors', () => {
    assert.equal(githubSlug('Which model (`modelPath`, `versionSelection`)'), 'which-model-modelpath-versionselection');
    assert.equal(githubSlug('`.dockerignore` in the app directory'), 'dockerignore-in-the-app-directory');
    assert.equal(githubSlug('1. Input errors (an input cannot be used as given)'), '1-input-errors-an-input-cannot-be-used-as-given');
    assert.deepEqual([...headingAnchors('# A\n## B\n```\n# not a heading\n```\n## B\n')], ['a', 'b', 'b-1']);
  });

  it('finds a dead link: a missing file or a missing heading', () => {
    assert.equal(deadRepositoryLink(root, 'docs/setup.md'), undefined);
    assert.match(deadRepositoryLink(root, 'docs/nope.md') ?? '', /does not exist/);
    assert.match(deadRepositoryLink(root, 'docs/setup.md#no-such-heading') ?? '', /no heading/);
  });

  it('counts sentences, not abbreviations or dots in code', () => {
    assert.equal(sentenceCount('Name of the account, e.g. `contoso.models`.'), 1);
    assert.equal(sentenceCount('One. Two! Three?'), 3);
    assert.equal(sentenceCount('See [x](docs/a.md). Then y.'), 2);
  });
});

describe('overview.md links', () => {
  // What the package will carry where the page can reach it: the PNG of each images/*.svg, and images/*.png.
  const shipped = (path: string) =>
    /^images\/[\w.-]+\.png$/.test(path) && (existsSync(join(root, path)) || existsSync(join(root, path.replace(/\.png$/, '.svg'))));
  const overview = readFileSync(join(root, 'overview.md'), 'utf8');

  it('opens with the chain picture, rendered from images/chain.svg', () => {
    const first = overview.split('\n').filter((l) => l.trim() && !l.startsWith('#'))[0] ?? '';
    assert.match(first, /^!\[[^\]]{20,}\]\(images\/chain\.png\)$/);
    assert.ok(existsSync(join(root, 'images', 'chain.svg')));
  });

  it('has no link that would be dead in the Marketplace', () => {
    const links = linksIn(overview);
    assert.ok(links.length >= 8);
    const dead = links.map((l) => [l.target, classifyOverviewLink(root, l.target, shipped)]).filter(([, kind]) => typeof kind === 'object');
    assert.deepEqual(dead, []);
  });

  it('would catch a dead link: a missing file, a missing heading, a file the package does not carry', () => {
    assert.deepEqual(classifyOverviewLink(root, 'docs/gone.md', shipped), { dead: 'docs/gone.md does not exist in the repository' });
    assert.equal(typeof classifyOverviewLink(root, 'docs/setup.md#gone', shipped), 'object');
    assert.equal(typeof classifyOverviewLink(root, 'images/missing.png', shipped), 'object');
    assert.equal(typeof classifyOverviewLink(root, 'http://example.org/', shipped), 'object');
    assert.equal(classifyOverviewLink(root, 'images/chain.png', shipped), 'shipped');
    assert.equal(classifyOverviewLink(root, 'docs/setup.md', shipped), 'repository');
  });
});

describe('generated task references', () => {
  for (const name of tasks) {
    it(`docs/tasks/${name}.reference.md has no dead relative link`, () => {
      const text = readFileSync(join(root, 'docs', 'tasks', `${name}.reference.md`), 'utf8');
      const dead = linksIn(text)
        .filter((l) => isRepositoryPath(l.target))
        .map((l) => {
          const [file, anchor] = l.target.split('#', 2);
          return [l.target, deadRepositoryLink(root, posix.join('docs/tasks', file ?? '') + (anchor ? `#${anchor}` : ''))];
        })
        .filter(([, why]) => why);
      assert.deepEqual(dead, []);
    });
  }
});
