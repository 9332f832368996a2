/**
 * Small, safe Markdown for the run summaries: table cells and code spans that
 * no value can break out of (a `|`, a backtick, a line break or HTML in a
 * model URI or an error message stays text).
 */
import { formatRate } from '../format';

/** Text for a table cell or a line: one line, `|` escaped, HTML characters as entities. */
export function text(value: string): string {
  return value
    .replace(/\s*[\r\n]+\s*/g, ' ')
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/\|/g, '\\|');
}

/** A code span holding the value verbatim (one line; a fence longer than any backtick run inside). */
export function code(value: string): string {
  const v = value.replace(/\s*[\r\n]+\s*/g, ' ').replace(/\|/g, '\\|');
  const longest = Math.max(0, ...(v.match(/`+/g) ?? []).map((m) => m.length));
  const fence = '`'.repeat(longest + 1);
  const pad = v.startsWith('`') || v.endsWith('`') ? ' ' : '';
  return `${fence}${pad}${v}${pad}${fence}`;
}

/** A link, or the plain text when there is no (http/https) URL. */
export function link(label: string, url: string | undefined): string {
  if (!url || !/^https?:\/\//i.test(url)) return text(label);
  return `[${text(label).replace(/[[\]]/g, '\\$&')}](${url.replace(/[()\s]/g, (c) => encodeURIComponent(c))})`;
}

/** A GitHub-flavoured table; `right` names the columns aligned right (numbers). */
export function table(head: string[], rows: string[][], right: number[] = []): string {
  const sep = head.map((_, i) => (right.includes(i) ? '---:' : '---'));
  const line = (cells: string[]) => `| ${cells.join(' | ')} |`;
  return [line(head), line(sep), ...rows.map(line)].join('\n');
}

/** A two-column "what | value" table, rows without a value left out. */
export function facts(rows: [string, string | undefined][]): string {
  return table(
    ['', ''],
    rows.filter((r): r is [string, string] => r[1] !== undefined && r[1] !== '').map(([k, v]) => [`**${k}**`, v]),
  );
}

/** `sha256:` and the first 12 hex digits, for tables (the full digest is in the title or a fact row). */
export function shortDigest(digest: string): string {
  const m = /^(sha256:)?([0-9a-f]{12})[0-9a-f]*$/i.exec(digest);
  return m ? `sha256:${m[2]}…` : digest;
}

export function seconds(s: number): string {
  if (!Number.isFinite(s) || s < 0) return '?';
  return s < 60 ? `${s.toFixed(1)} s` : `${Math.floor(s / 60)} min ${Math.round(s % 60)} s`;
}

/** A transfer rate: MB/s as the logs and peer tools print it, kB/s below 0.1 MB/s (small files). */
export function rate(bytes: number, s: number): string {
  const perSecond = bytes / Math.max(s, 1e-3);
  return perSecond >= 1e5 ? formatRate(perSecond) : `${(perSecond / 1e3).toFixed(1)} kB/s`;
}
