/**
 * The JSONPath subset a check reads values with: `$`, `.name`, `['name']` /
 * `["name"]`, `[n]` (a negative n counts from the end) and `.length` of an
 * array or string when no member of that name exists. One value per path:
 * no wildcards, filters or recursive descent.
 */

export type PathSegment = { kind: 'key'; key: string } | { kind: 'index'; index: number };

/** Parsed path; throws Error(reason) on a malformed one (the caller adds file and line). */
export function parseJsonPath(text: string): PathSegment[] {
  const s = text.trim();
  if (!s.startsWith('$')) throw new Error(`a JSON path starts with '$' (got '${text}')`);
  const out: PathSegment[] = [];
  let i = 1;
  while (i < s.length) {
    const c = s[i];
    if (c === '.') {
      const m = /^[A-Za-z_$][\w$-]*/.exec(s.slice(i + 1));
      if (!m) throw new Error(`expected a member name after '.' at character ${i + 2} of '${text}' (use ['name'] for other names)`);
      out.push({ kind: 'key', key: m[0] });
      i += 1 + m[0].length;
    } else if (c === '[') {
      const rest = s.slice(i + 1);
      const num = /^\s*(-?\d+)\s*\]/.exec(rest);
      const quoted = /^\s*(?:'((?:[^'\\]|\\.)*)'|"((?:[^"\\]|\\.)*)")\s*\]/.exec(rest);
      if (num) {
        out.push({ kind: 'index', index: Number(num[1]) });
        i += 1 + num[0].length;
      } else if (quoted) {
        const raw = quoted[1] ?? quoted[2] ?? '';
        out.push({ kind: 'key', key: raw.replace(/\\(.)/g, '$1') });
        i += 1 + quoted[0].length;
      } else {
        throw new Error(`expected [number] or ['name'] at character ${i + 1} of '${text}' (wildcards and filters are not supported)`);
      }
    } else {
      throw new Error(`unexpected '${c}' at character ${i + 1} of '${text}'`);
    }
  }
  return out;
}

export type Lookup = { found: true; value: unknown } | { found: false; reason: string };

/** The value at `path` in `doc`, or why there is none (e.g. "$.a is a string, not an object"). */
export function lookup(doc: unknown, path: PathSegment[]): Lookup {
  let cur: unknown = doc;
  let at = '$';
  for (const seg of path) {
    if (seg.kind === 'index') {
      if (!Array.isArray(cur)) return { found: false, reason: `${at} is ${describeType(cur)}, not an array` };
      const idx = seg.index < 0 ? cur.length + seg.index : seg.index;
      if (idx < 0 || idx >= cur.length) return { found: false, reason: `${at} has ${cur.length} item(s), no [${seg.index}]` };
      cur = cur[idx];
      at += `[${seg.index}]`;
      continue;
    }
    const name = /^[A-Za-z_$][\w$-]*$/.test(seg.key) ? `.${seg.key}` : `[${JSON.stringify(seg.key)}]`;
    if (cur !== null && typeof cur === 'object' && !Array.isArray(cur) && Object.prototype.hasOwnProperty.call(cur, seg.key)) {
      cur = (cur as Record<string, unknown>)[seg.key];
    } else if (seg.key === 'length' && (Array.isArray(cur) || typeof cur === 'string')) {
      cur = cur.length;
    } else if (cur !== null && typeof cur === 'object' && !Array.isArray(cur)) {
      const keys = Object.keys(cur);
      return {
        found: false,
        reason: `${at} has no member '${seg.key}'${keys.length ? ` (it has ${keys.slice(0, 8).join(', ')}${keys.length > 8 ? ', ...' : ''})` : ' (it is empty)'}`,
      };
    } else {
      return { found: false, reason: `${at} is ${describeType(cur)}, not an object` };
    }
    at += name;
  }
  return { found: true, value: cur };
}

export function describeType(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'object') return 'an object';
  if (typeof v === 'string') return 'a string';
  if (typeof v === 'number') return 'a number';
  if (typeof v === 'boolean') return 'a boolean';
  return typeof v;
}
