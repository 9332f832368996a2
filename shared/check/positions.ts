/**
 * Where each value of a YAML (or JSON: flow YAML) document sits: a map from a
 * JSON-pointer-like path (`/checks/0/expect/status`) to its 1-based line, built
 * from js-yaml's event stream, so a spec error can name `file:line`.
 */
import { EVENT_ID, getScalarValue, parseEvents, type Event } from 'js-yaml';

type Frame = { kind: 'map'; path: string; key: string | undefined; expectKey: boolean } | { kind: 'seq'; path: string; index: number };

function lineAt(starts: number[], offset: number): number {
  let lo = 0;
  let hi = starts.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (starts[mid]! <= offset) lo = mid;
    else hi = mid - 1;
  }
  return lo + 1;
}

const escapeSegment = (s: string): string => s.replace(/~/g, '~0').replace(/\//g, '~1');

/** Lines of the first document's nodes by path ('' is the root). Empty when the text does not parse (the loader reports that). */
export function yamlLines(text: string): Map<string, number> {
  const out = new Map<string, number>();
  let events: Event[];
  try {
    events = parseEvents(text, {});
  } catch {
    return out;
  }
  const starts = [0];
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) === 10) starts.push(i + 1);
  const stack: Frame[] = [];
  let docs = 0;
  // The path a new node at this point of the stream gets, and records it (keys record the line of the key).
  const place = (offset: number): string | undefined => {
    const top = stack[stack.length - 1];
    if (!top) return '';
    if (top.kind === 'seq') {
      const path = `${top.path}/${top.index++}`;
      if (!out.has(path)) out.set(path, lineAt(starts, offset));
      return path;
    }
    if (top.expectKey) return undefined;
    top.expectKey = true;
    return top.key === undefined ? undefined : `${top.path}/${escapeSegment(top.key)}`;
  };
  for (const ev of events) {
    if (ev.type === EVENT_ID.DOCUMENT) {
      if (++docs > 1) break;
      continue;
    }
    if (ev.type === EVENT_ID.POP) {
      stack.pop();
      continue;
    }
    const top = stack[stack.length - 1];
    if (ev.type === EVENT_ID.SCALAR && top?.kind === 'map' && top.expectKey) {
      top.key = getScalarValue(text, ev);
      top.expectKey = false;
      const path = `${top.path}/${escapeSegment(top.key)}`;
      if (!out.has(path)) out.set(path, lineAt(starts, ev.valueStart));
      continue;
    }
    if ((ev.type === EVENT_ID.MAPPING || ev.type === EVENT_ID.SEQUENCE) && top?.kind === 'map' && top.expectKey) {
      // A complex key: track it so the stream stays balanced, record nothing under it.
      top.expectKey = false;
      top.key = undefined;
      stack.push(ev.type === EVENT_ID.MAPPING ? { kind: 'map', path: '\0', key: undefined, expectKey: true } : { kind: 'seq', path: '\0', index: 0 });
      continue;
    }
    const offset = ev.type === EVENT_ID.SCALAR ? ev.valueStart : ev.type === EVENT_ID.ALIAS ? ev.anchorStart : ev.start;
    const path = place(offset);
    if (path !== undefined && !out.has(path) && offset >= 0) out.set(path, lineAt(starts, offset));
    if (ev.type === EVENT_ID.MAPPING) stack.push({ kind: 'map', path: path ?? '\0', key: undefined, expectKey: true });
    else if (ev.type === EVENT_ID.SEQUENCE) stack.push({ kind: 'seq', path: path ?? '\0', index: 0 });
  }
  return out;
}

/** The line of `path` or of its nearest ancestor that has one. */
export function lineOf(lines: Map<string, number>, path: string): number {
  let p = path;
  for (;;) {
    const line = lines.get(p);
    if (line !== undefined) return line;
    if (p === '') return 1;
    p = p.slice(0, p.lastIndexOf('/'));
  }
}
