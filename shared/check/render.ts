/**
 * A failed check as the log shows it: the request, the answer (bodies cut to
 * a few KiB, everything passed through the caller's secret mask, credential
 * headers hidden) and the expectation, with a line diff where the expected
 * and actual values are structured.
 */
import { show, type CheckAnswer, type CheckFailure } from './evaluate';
import type { Check } from './spec';

/** Most bytes of a request or answer body the log shows. */
export const RENDER_BODY_BYTES = 4 << 10;
/** Headers whose values are never shown. */
const SECRET_HEADERS = /^(authorization|proxy-authorization|cookie|set-cookie|x-api-key|api-key|ocp-apim-subscription-key)$/i;

export interface RenderOptions {
  /** Masks registered secrets in any text shown (the adapter's mask); identity by default. */
  mask?: (text: string) => string;
  /** Most body bytes shown; default {@link RENDER_BODY_BYTES}. */
  maxBodyBytes?: number;
}

function isPrintable(buf: Buffer): boolean {
  const text = buf.toString('utf8');
  return !text.includes('\uFFFD') && !/[\x00-\x08\x0e-\x1f]/.test(text);
}

/** A body for the log: pretty JSON when it is JSON, text when printable, else its size; cut at `max` bytes. */
export function renderBody(body: Buffer | undefined, max: number): string {
  if (!body || body.length === 0) return '(empty)';
  const head = body.subarray(0, max);
  if (!isPrintable(head.subarray(0, Math.max(0, head.length - 3)))) return `(${body.length} bytes of binary data)`;
  let text = head.toString('utf8');
  if (body.length <= max) {
    try {
      text = JSON.stringify(JSON.parse(text), null, 2);
    } catch {
      /* not JSON: as it is */
    }
  }
  return body.length > max ? `${text}\n... (${body.length - max} more bytes not shown)` : text;
}

/** Line diff (LCS) of two texts: ' ' same, '-' expected only, '+' actual only. */
export function lineDiff(expected: string, actual: string): string[] {
  const a = expected.split('\n');
  const b = actual.split('\n');
  if (a.length * b.length > 250_000) return [...a.map((l) => `- ${l}`), ...b.map((l) => `+ ${l}`)];
  const dp: number[][] = Array.from({ length: a.length + 1 }, () => new Array<number>(b.length + 1).fill(0));
  for (let i = a.length - 1; i >= 0; i--)
    for (let j = b.length - 1; j >= 0; j--) dp[i]![j] = a[i] === b[j] ? dp[i + 1]![j + 1]! + 1 : Math.max(dp[i + 1]![j]!, dp[i]![j + 1]!);
  const out: string[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length && j < b.length) {
    if (a[i] === b[j]) {
      out.push(`  ${a[i++]}`);
      j++;
    } else if (dp[i + 1]![j]! >= dp[i]![j + 1]!) out.push(`- ${a[i++]}`);
    else out.push(`+ ${b[j++]}`);
  }
  while (i < a.length) out.push(`- ${a[i++]}`);
  while (j < b.length) out.push(`+ ${b[j++]}`);
  return out;
}

const indent = (text: string, by = '    '): string =>
  text
    .split('\n')
    .map((l) => by + l)
    .join('\n');

function headerLines(headers: Record<string, string | string[] | undefined>): string[] {
  return Object.entries(headers)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `${k}: ${SECRET_HEADERS.test(k) ? '***' : Array.isArray(v) ? v.join(', ') : v}`);
}

function diffFor(f: CheckFailure): string[] {
  if (!('expected' in f) || f.expected === undefined) return [];
  const structured = (v: unknown) => v !== null && typeof v === 'object';
  if (!structured(f.expected) && !structured(f.actual)) return [];
  return lineDiff(JSON.stringify(f.expected, null, 2) ?? 'undefined', JSON.stringify(f.actual, null, 2) ?? 'undefined');
}

export interface RenderedOutcome {
  check: Check;
  answer?: CheckAnswer;
  /** The transport's failure when no answer came. */
  error?: string;
  details: CheckFailure[];
}

/** The multi-line log block for a failed check. */
export function renderFailure(o: RenderedOutcome, options: RenderOptions = {}): string {
  const mask = options.mask ?? ((s: string) => s);
  const max = options.maxBodyBytes ?? RENDER_BODY_BYTES;
  const { check } = o;
  const req = check.request;
  const out: string[] = [`Check '${check.name}' (${check.source}) failed.`];
  out.push(`  Request: ${req.method} ${req.path}${req.bodyFile ? ` (body from ${req.bodyFile})` : ''}`);
  for (const h of headerLines(req.headers)) out.push(`    ${h}`);
  if (req.body) out.push(indent(renderBody(req.body, max)));
  if (o.answer) {
    out.push(`  Answer: HTTP ${o.answer.status}, ${o.answer.body.length} bytes`);
    const shown = headerLines(o.answer.headers).filter((h) => /^(content-type|content-length|location|www-authenticate)/i.test(h) || /^set-cookie/i.test(h));
    for (const h of shown) out.push(`    ${h}`);
    out.push(indent(renderBody(o.answer.body, max)));
  } else {
    out.push(`  Answer: none (${o.error ?? 'no answer'})`);
  }
  const e = check.expect;
  const expected: string[] = [`status ${e.status.text}`];
  for (const j of e.json) {
    const m = j.matcher;
    expected.push(
      m.kind === 'equals'
        ? `${j.path} == ${show(m.value, 200)}`
        : m.kind === 'approx'
          ? `${j.path} ~= ${m.value} +- ${m.tolerance}`
          : `${j.path} =~ ${String(m.regex)}`,
    );
  }
  for (const re of e.match) expected.push(`body =~ ${String(re)}`);
  out.push(`  Expected: ${expected.join('; ')}`);
  if (o.details.length > 0) {
    out.push('  Mismatches:');
    for (const f of o.details) {
      out.push(`    - ${f.message}`);
      const diff = diffFor(f);
      if (diff.length) out.push(...diff.map((l) => `        ${l}`), '        (- expected, + answer)');
    }
  }
  return mask(out.join('\n'));
}
