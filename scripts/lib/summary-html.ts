/**
 * The run summaries as a web page, for the docs screenshot: a Markdown
 * renderer for exactly the subset shared/summary/ writes (### headings,
 * GitHub tables, `- ` lists, paragraphs; **bold**, `code` spans of any fence
 * length, [links](url), and the backslash escape of `|`), laid out like the
 * sections of a run's Extensions tab. Not a general Markdown renderer: the
 * summaries' builders are its only input.
 */

function escapeHtml(s: string): string {
  return s
    .replace(/&(?!(amp|lt|gt);)/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;');
}

/** Inline Markdown: code spans first (their content is literal), then links and bold. */
function inline(md: string): string {
  let out = '';
  let i = 0;
  while (i < md.length) {
    const fence = /^`+/.exec(md.slice(i))?.[0];
    if (fence) {
      const end = md.indexOf(fence, i + fence.length);
      if (end > 0) {
        const body = md.slice(i + fence.length, end);
        const inner = fence.length > 1 && body.startsWith(' ') && body.endsWith(' ') ? body.slice(1, -1) : body;
        out += `<code>${inner.replace(/\\\|/g, '|').replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')}</code>`;
        i = end + fence.length;
        continue;
      }
    }
    const next = md.slice(i).search(/`/);
    const chunk = next < 0 ? md.slice(i) : md.slice(i, i + next);
    out += chunk
      .replace(/\\\|/g, '|')
      .replace(/\\([[\]])/g, '$1')
      .replace(/&(?!(amp|lt|gt);)/g, '&amp;')
      .replace(/\[([^\]]+)\]\(([^)\s]+)\)/g, (_m, label: string, url: string) => `<a href="${escapeHtml(url)}">${label}</a>`)
      .replace(/\*\*([^*]+)\*\*/g, '<strong>$1</strong>');
    i += chunk.length || 1;
  }
  return out.replace(/\*\*(.+?)\*\*/g, '<strong>$1</strong>');
}

/** Table cells of a `| a | b |` row (a `\|` inside a cell is not a separator). */
function cells(row: string): string[] {
  return row
    .trim()
    .replace(/^\||\|$/g, '')
    .split(/(?<!\\)\|/)
    .map((c) => c.trim());
}

export function markdownToHtml(md: string): string {
  const lines = md.split('\n');
  const html: string[] = [];
  let i = 0;
  while (i < lines.length) {
    const line = lines[i] ?? '';
    if (!line.trim()) {
      i++;
    } else if (line.startsWith('### ')) {
      html.push(`<h3>${inline(line.slice(4))}</h3>`);
      i++;
    } else if (line.startsWith('|')) {
      const rows: string[] = [];
      while (i < lines.length && (lines[i] ?? '').startsWith('|')) rows.push(lines[i++] ?? '');
      const [head, sep, ...body] = rows;
      const align = cells(sep ?? '').map((c) => (c.endsWith(':') ? ' class="num"' : ''));
      const headCells = cells(head ?? '');
      const showHead = headCells.some((c) => c);
      html.push('<table>');
      if (showHead) html.push(`<thead><tr>${headCells.map((c, k) => `<th${align[k] ?? ''}>${inline(c)}</th>`).join('')}</tr></thead>`);
      html.push(
        `<tbody>${body
          .map(
            (r) =>
              `<tr>${cells(r)
                .map((c, k) => `<td${align[k] ?? ''}>${inline(c)}</td>`)
                .join('')}</tr>`,
          )
          .join('')}</tbody></table>`,
      );
    } else if (line.startsWith('- ')) {
      const items: string[] = [];
      while (i < lines.length && (lines[i] ?? '').startsWith('- ')) items.push((lines[i++] ?? '').slice(2));
      html.push(`<ul>${items.map((x) => `<li>${inline(x)}</li>`).join('')}</ul>`);
    } else {
      const para: string[] = [];
      while (i < lines.length && (lines[i] ?? '').trim() && !/^(### |\||- )/.test(lines[i] ?? '')) para.push(lines[i++] ?? '');
      html.push(`<p>${inline(para.join(' '))}</p>`);
    }
  }
  return html.join('\n');
}

/** The page: one collapsible-looking section per summary, titled as the Extensions tab titles it. */
export function summaryPage(sections: { title: string; markdown: string }[], caption: string): string {
  const body = sections
    .map((s) => `<section><div class="title">▾ ${escapeHtml(s.title)}</div><div class="body">${markdownToHtml(s.markdown)}</div></section>`)
    .join('\n');
  return `<!doctype html>
<html><head><meta charset="utf-8"><title>Run summary</title><style>
  body { font-family: "Segoe UI", "DejaVu Sans", "Liberation Sans", sans-serif; font-size: 14px; color: #323130; background: #f8f8f8; margin: 0; padding: 20px; width: 1160px; }
  .caption { color: #605e5c; margin: 0 0 14px 4px; }
  section { background: #fff; border-radius: 4px; box-shadow: 0 1px 3px rgba(0,0,0,.13); margin-bottom: 16px; }
  .title { font-weight: 600; font-size: 15px; padding: 12px 16px; border-bottom: 1px solid #edebe9; }
  .body { padding: 4px 16px 12px; }
  h3 { font-size: 16px; margin: 10px 0 6px; }
  p { margin: 6px 0 10px; }
  table { border-collapse: collapse; margin: 6px 0 10px; }
  th, td { border: 1px solid #e1dfdd; padding: 4px 10px; text-align: left; vertical-align: top; }
  th { background: #faf9f8; font-weight: 600; }
  td.num, th.num { text-align: right; white-space: nowrap; }
  code { font-family: "Cascadia Mono", "DejaVu Sans Mono", monospace; font-size: 12.5px; background: #f3f2f1; padding: 1px 4px; border-radius: 3px; word-break: break-all; }
  a { color: #0078d4; text-decoration: none; }
  ul { margin: 4px 0 8px 20px; padding: 0; }
</style></head><body>
<div class="caption">${escapeHtml(caption)}</div>
${body}
</body></html>
`;
}
