/**
 * Whether an answer meets a check's expectation: pure, transport-agnostic.
 * Each failure is one line naming what was expected and what came back.
 */
import { isDeepStrictEqual } from 'node:util';
import { describeType, lookup } from './jsonpath';
import { statusMatches, type Check, type JsonExpectation } from './spec';

/** What a server answered. Header names lower-case. */
export interface CheckAnswer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

/** One failed expectation; `expected`/`actual` are set where a side-by-side diff helps. */
export interface CheckFailure {
  message: string;
  /** Expected value (JSON-able) and what came back, for the diff in the log. */
  expected?: unknown;
  actual?: unknown;
}

export interface Evaluation {
  passed: boolean;
  failures: string[];
  /** The same failures with the values behind them. */
  details: CheckFailure[];
}

/** A value as it appears in a message: JSON, cut at `max` characters. */
export function show(v: unknown, max = 80): string {
  const s = v === undefined ? 'nothing' : (JSON.stringify(v) ?? String(v));
  return s.length > max ? `${s.slice(0, max - 3)}...` : s;
}

function contentType(headers: CheckAnswer['headers']): string {
  const v = headers['content-type'];
  return (Array.isArray(v) ? v[0] : v) ?? '';
}

function checkJson(exp: JsonExpectation, doc: unknown): CheckFailure | undefined {
  const got = lookup(doc, exp.segments);
  if (!got.found) return { message: `${exp.path}: not in the answer (${got.reason})` };
  const v = got.value;
  const m = exp.matcher;
  if (m.kind === 'equals') {
    if (isDeepStrictEqual(v, m.value)) return undefined;
    return { message: `${exp.path}: expected ${show(m.value)}, got ${show(v)}`, expected: m.value, actual: v };
  }
  if (m.kind === 'approx') {
    if (typeof v !== 'number')
      return { message: `${exp.path}: expected a number ${m.value} +- ${m.tolerance}, got ${describeType(v)} ${show(v)}`, expected: m.value, actual: v };
    const off = Math.abs(v - m.value);
    if (off <= m.tolerance) return undefined;
    return { message: `${exp.path}: expected ${m.value} +- ${m.tolerance}, got ${v} (off by ${Number(off.toPrecision(6))})`, expected: m.value, actual: v };
  }
  if (typeof v !== 'string') return { message: `${exp.path}: expected text matching ${String(m.regex)}, got ${describeType(v)} ${show(v)}`, actual: v };
  if (m.regex.test(v)) return undefined;
  return { message: `${exp.path}: ${show(v)} does not match ${String(m.regex)}`, actual: v };
}

/** Checks `answer` against `check.expect`; every unmet expectation is reported, not only the first. */
export function evaluate(check: Pick<Check, 'expect'>, answer: CheckAnswer): Evaluation {
  const details: CheckFailure[] = [];
  const { expect } = check;
  if (!statusMatches(expect.status, answer.status)) {
    details.push({ message: `status: expected ${expect.status.text}, got ${answer.status}` });
  }
  const text = answer.body.toString('utf8');
  if (expect.json.length > 0) {
    let doc: unknown;
    let parsed = false;
    try {
      doc = JSON.parse(text);
      parsed = true;
    } catch {
      const type = contentType(answer.headers);
      details.push({
        message: `the answer is not JSON (${type ? `content-type ${type}, ` : ''}${answer.body.length} bytes: ${show(text.slice(0, 60))}), so ${expect.json.map((j) => j.path).join(', ')} cannot be read`,
      });
    }
    if (parsed) {
      for (const exp of expect.json) {
        const f = checkJson(exp, doc);
        if (f) details.push(f);
      }
    }
  }
  for (const re of expect.match) {
    re.lastIndex = 0;
    if (!re.test(text)) details.push({ message: `body: does not match ${String(re)}` });
  }
  return { passed: details.length === 0, failures: details.map((d) => d.message), details };
}
