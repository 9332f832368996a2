/**
 * `.dockerignore` semantics, as Docker has them on Linux:
 *
 * - reading the file follows moby/patternmatcher/ignorefile `ReadAll`: a UTF-8
 *   BOM is dropped; a line whose first character is `#` is a comment (only
 *   then: ` # x` is the pattern `# x`); the rest is trimmed, `!` marks an
 *   exception, the pattern is cleaned like Go's `filepath.Clean` and one
 *   leading `/` is dropped;
 * - matching follows moby/patternmatcher: each pattern is checked with Go's
 *   `filepath.Match` syntax, then compiled to a regular expression (`*` and `?`
 *   stay inside one path segment, `**` matches across segments wherever it
 *   appears, so `**.env` matches `config/.env`; `\` escapes the next
 *   character; `.+()|{}$` are literal); a path is excluded when the last
 *   pattern that matches it, or one of its parent folders, is not an
 *   exception (`MatchesOrParentMatches` / `MatchesUsingParentResults`);
 * - walking a context follows BuildKit's (`docker build`) file walker
 *   (tonistiigi/fsutil `filterFS.Walk`): an excluded folder is still walked
 *   when an exception could re-include something inside it.
 *
 * A malformed pattern is an error naming its line (moby fails the build at the
 * first match; here it fails before any file is read).
 */
import { errorMessage, InputError, UserError } from '../errors';

// ------------------------------------------------------------- Go helpers

/** Go `strings.TrimSpace` (Unicode White_Space; unlike String.trim it keeps U+FEFF and drops U+0085). */
function goTrimSpace(s: string): string {
  const space =
    /^[\t\n\v\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+|[\t\n\v\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+$/g;
  return s.replace(space, '');
}

/** Go `path.Clean` / `filepath.Clean` on Linux. */
export function goClean(p: string): string {
  if (p === '') return '.';
  const rooted = p.startsWith('/');
  const out: string[] = [];
  for (const part of p.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') {
      if (out.length > 0 && out[out.length - 1] !== '..') out.pop();
      else if (!rooted) out.push('..');
    } else {
      out.push(part);
    }
  }
  const joined = (rooted ? '/' : '') + out.join('/');
  return joined === '' ? '.' : joined;
}

/** Go `filepath.Dir` (Linux). */
function goDir(p: string): string {
  const i = p.lastIndexOf('/');
  return goClean(i < 0 ? '' : p.slice(0, i + 1));
}

/** One chunk of Go `filepath.Match`'s `scanChunk`: leading stars, then up to the next `*` outside a class. */
function scanChunk(pattern: string): { star: boolean; chunk: string; rest: string } {
  let p = pattern;
  let star = false;
  while (p.startsWith('*')) {
    p = p.slice(1);
    star = true;
  }
  let inRange = false;
  let i = 0;
  scan: for (; i < p.length; i++) {
    switch (p[i]) {
      case '\\':
        if (i + 1 < p.length) i++;
        break;
      case '[':
        inRange = true;
        break;
      case ']':
        inRange = false;
        break;
      case '*':
        if (!inRange) break scan;
        break;
    }
  }
  return { star, chunk: p.slice(0, i), rest: p.slice(i) };
}

/** Go `filepath.Match`'s `getEsc`: one class character; undefined when malformed. */
function getEsc(chunk: string): string | undefined {
  if (chunk === '' || chunk[0] === '-' || chunk[0] === ']') return undefined;
  let c = chunk;
  if (c[0] === '\\') {
    c = c.slice(1);
    if (c === '') return undefined;
  }
  const cp = c.codePointAt(0) as number;
  const next = c.slice(cp > 0xffff ? 2 : 1);
  return next === '' ? undefined : next;
}

/** Whether a chunk is well formed for Go `filepath.Match` (`matchChunk`'s errors depend on the chunk only). */
function chunkWellFormed(chunk: string): boolean {
  let c = chunk;
  while (c.length > 0) {
    if (c[0] === '[') {
      c = c.slice(1);
      if (c.startsWith('^')) c = c.slice(1);
      let ranges = 0;
      for (;;) {
        if (c.startsWith(']') && ranges > 0) {
          c = c.slice(1);
          break;
        }
        const afterLo = getEsc(c);
        if (afterLo === undefined) return false;
        c = afterLo;
        if (c[0] === '-') {
          const afterHi = getEsc(c.slice(1));
          if (afterHi === undefined) return false;
          c = afterHi;
        }
        ranges++;
      }
    } else if (c[0] === '\\') {
      c = c.slice(1);
      if (c === '') return false;
      c = c.slice((c.codePointAt(0) as number) > 0xffff ? 2 : 1);
    } else {
      c = c.slice(1);
    }
  }
  return true;
}

/** Whether Go's `filepath.Match(pattern, ".")` would return ErrBadPattern (moby's syntax check in `New`). */
function globSyntaxError(pattern: string): boolean {
  let p = pattern;
  while (p.length > 0) {
    const { star, chunk, rest } = scanChunk(p);
    if (star && chunk === '') return false;
    if (!chunkWellFormed(chunk)) return true;
    p = rest;
  }
  return false;
}

// ------------------------------------------------------------- compile (moby Pattern.compile)

export type MatchType = 'exact' | 'prefix' | 'suffix' | 'regexp';

const SHOULD_ESCAPE = new Set('.+()|{}$');

/**
 * moby's `Pattern.compile` with `/` as separator: the match type and, for
 * `regexp`, the Go regular expression it builds (kept as Go writes it, so the
 * upstream compile table can check it).
 */
export function compilePattern(cleaned: string): { matchType: MatchType; goRegexp?: string } {
  let re = '^';
  let type: MatchType = 'exact';
  const chars = Array.from(cleaned);
  let k = 0;
  const peek = (): string | undefined => chars[k];
  for (let i = 0; k < chars.length; i++) {
    const ch = chars[k++];
    if (ch === '*') {
      if (peek() === '*') {
        k++;
        if (peek() === '/') k++;
        if (peek() === undefined) {
          if (type === 'exact') type = 'prefix';
          else {
            re += '.*';
            type = 'regexp';
          }
        } else {
          re += '(.*/)?';
          type = 'regexp';
        }
        if (i === 0) type = 'suffix';
      } else {
        re += '[^/]*';
        type = 'regexp';
      }
    } else if (ch === '?') {
      re += '[^/]';
      type = 'regexp';
    } else if (SHOULD_ESCAPE.has(ch)) {
      re += `\\${ch}`;
    } else if (ch === '\\') {
      if (peek() !== undefined) {
        re += `\\${chars[k++]}`;
        type = 'regexp';
      } else {
        re += '\\';
      }
    } else if (ch === '[' || ch === ']') {
      re += ch;
      type = 'regexp';
    } else {
      re += ch;
    }
  }
  if (type === 'regexp') return { matchType: type, goRegexp: `${re}$` };
  return { matchType: type };
}

// ------------------------------------------------------------- Go regexp -> JavaScript RegExp

class GoRegexpError extends Error {}

type Range = [number, number];
const MAX_RUNE = 0x10ffff;

const PERL_CLASSES: Record<string, Range[]> = {
  d: [[0x30, 0x39]],
  s: [
    [0x09, 0x0a],
    [0x0c, 0x0d],
    [0x20, 0x20],
  ],
  w: [
    [0x30, 0x39],
    [0x41, 0x5a],
    [0x5f, 0x5f],
    [0x61, 0x7a],
  ],
};
const POSIX_CLASSES: Record<string, Range[]> = {
  alnum: [
    [0x30, 0x39],
    [0x41, 0x5a],
    [0x61, 0x7a],
  ],
  alpha: [
    [0x41, 0x5a],
    [0x61, 0x7a],
  ],
  ascii: [[0x00, 0x7f]],
  blank: [
    [0x09, 0x09],
    [0x20, 0x20],
  ],
  cntrl: [
    [0x00, 0x1f],
    [0x7f, 0x7f],
  ],
  digit: [[0x30, 0x39]],
  graph: [[0x21, 0x7e]],
  lower: [[0x61, 0x7a]],
  print: [[0x20, 0x7e]],
  punct: [
    [0x21, 0x2f],
    [0x3a, 0x40],
    [0x5b, 0x60],
    [0x7b, 0x7e],
  ],
  space: [
    [0x09, 0x0d],
    [0x20, 0x20],
  ],
  upper: [[0x41, 0x5a]],
  word: [
    [0x30, 0x39],
    [0x41, 0x5a],
    [0x5f, 0x5f],
    [0x61, 0x7a],
  ],
  xdigit: [
    [0x30, 0x39],
    [0x41, 0x46],
    [0x61, 0x66],
  ],
};
const CONTROL_ESCAPES: Record<string, number> = { a: 7, f: 12, n: 10, r: 13, t: 9, v: 11 };

function negate(ranges: Range[]): Range[] {
  const sorted = [...ranges].sort((a, b) => a[0] - b[0]);
  const out: Range[] = [];
  let next = 0;
  for (const [lo, hi] of sorted) {
    if (lo > next) out.push([next, lo - 1]);
    next = Math.max(next, hi + 1);
  }
  if (next <= MAX_RUNE) out.push([next, MAX_RUNE]);
  return out;
}

const lit = (cp: number): string => `\\u{${cp.toString(16)}}`;
const rangesToClass = (ranges: Range[]): string => `[${ranges.map(([lo, hi]) => (lo === hi ? lit(lo) : `${lit(lo)}-${lit(hi)}`)).join('')}]`;

/** Go's `\p{Name}` / `\pN` -> JavaScript (general categories as is, `Any`, other names as scripts). */
function unicodeClass(name: string, negated: boolean): string {
  let n = name;
  let neg = negated;
  if (n.startsWith('^')) {
    neg = !neg;
    n = n.slice(1);
  }
  if (!/^[A-Za-z_]+$/.test(n)) throw new GoRegexpError(`invalid character class range \\p{${name}}`);
  const js = n === 'Any' || /^[A-Z][a-z]?$/.test(n) ? n : `Script=${n}`;
  const out = `\\${neg ? 'P' : 'p'}{${js}}`;
  try {
    new RegExp(out, 'u');
  } catch {
    throw new GoRegexpError(`unknown character class \\p{${name}}`);
  }
  return out;
}

/**
 * Translates the Go regular expression moby builds into an equivalent
 * JavaScript one (`u` flag, so `?` and `[^/]` take one code point like Go).
 * Handles everything a pattern can put there: literals, classes (ranges,
 * `[:name:]`, `\d`-style and `\p` classes), and Go's escapes (punctuation,
 * octal, `\x`, `\a\f\n\r\t\v`, `\A \z \b \B`, `\Q...\E`). Go's errors
 * (invalid escape, bad range, missing `]`) become GoRegexpError.
 */
function goRegexpToJs(go: string): RegExp {
  const s = Array.from(go);
  let i = 0;
  let out = '';

  /** Go `parseEscape` at s[i] === '\\' (class or literal context): one code point. */
  const escapeChar = (): number => {
    i++;
    const c = s[i++];
    if (c === undefined) throw new GoRegexpError('trailing backslash at end of expression');
    const cp = c.codePointAt(0) as number;
    if (cp < 0x80 && !/[0-9A-Za-z]/.test(c)) return cp;
    if (c >= '1' && c <= '7' && !(s[i] !== undefined && s[i] >= '0' && s[i] <= '7')) throw new GoRegexpError(`invalid escape sequence \\${c}`);
    if (c >= '0' && c <= '7') {
      let r = cp - 0x30;
      for (let n = 1; n < 3 && s[i] !== undefined && s[i] >= '0' && s[i] <= '7'; n++) r = r * 8 + (s[i++].codePointAt(0) as number) - 0x30;
      return r;
    }
    if (c === 'x') {
      if (s[i] === '{') {
        const end = s.indexOf('}', i);
        const hex = end < 0 ? '' : s.slice(i + 1, end).join('');
        if (!/^[0-9A-Fa-f]+$/.test(hex) || parseInt(hex, 16) > MAX_RUNE) throw new GoRegexpError('invalid escape sequence \\x{');
        i = end + 1;
        return parseInt(hex, 16);
      }
      const hex = (s[i] ?? '') + (s[i + 1] ?? '');
      if (!/^[0-9A-Fa-f]{2}$/.test(hex)) throw new GoRegexpError('invalid escape sequence \\x');
      i += 2;
      return parseInt(hex, 16);
    }
    if (c in CONTROL_ESCAPES) return CONTROL_ESCAPES[c];
    throw new GoRegexpError(`invalid escape sequence \\${c}`);
  };

  /** `\d \D \s \S \w \W` at s[i] === '\\', or undefined. */
  const perlClass = (): Range[] | undefined => {
    const c = s[i + 1];
    if (c === undefined) return undefined;
    const ranges = PERL_CLASSES[c.toLowerCase()];
    if (!ranges || !/[dswDSW]/.test(c)) return undefined;
    i += 2;
    return c === c.toUpperCase() ? negate(ranges) : ranges;
  };

  /** `\pL`, `\p{Name}` (or `\P`) at s[i] === '\\', or undefined. */
  const pClass = (): string | undefined => {
    const c = s[i + 1];
    if (c !== 'p' && c !== 'P') return undefined;
    i += 2;
    let name: string;
    if (s[i] === '{') {
      const end = s.indexOf('}', i);
      if (end < 0) throw new GoRegexpError('invalid character class range');
      name = s.slice(i + 1, end).join('');
      i = end + 1;
    } else {
      if (s[i] === undefined) throw new GoRegexpError('invalid character class range');
      name = s[i++];
    }
    return unicodeClass(name, c === 'P');
  };

  const parseClass = (): void => {
    i++; // [
    let negated = false;
    if (s[i] === '^') {
      negated = true;
      i++;
    }
    const ranges: Range[] = [];
    const tokens: string[] = [];
    let first = true;
    while (s[i] !== ']' || first) {
      if (s[i] === undefined) throw new GoRegexpError('missing closing ]');
      first = false;
      if (s[i] === '[' && s[i + 1] === ':') {
        const rest = s.slice(i + 2).join('');
        const end = rest.indexOf(':]');
        if (end >= 0) {
          let name = rest.slice(0, end);
          const neg = name.startsWith('^');
          if (neg) name = name.slice(1);
          const group = POSIX_CLASSES[name];
          if (!group) throw new GoRegexpError(`invalid character class range [:${rest.slice(0, end)}:]`);
          ranges.push(...(neg ? negate(group) : group));
          i += 2 + Array.from(rest.slice(0, end)).length + 2;
          continue;
        }
      }
      if (s[i] === '\\') {
        const p = pClass();
        if (p !== undefined) {
          tokens.push(p);
          continue;
        }
        const perl = perlClass();
        if (perl) {
          ranges.push(...perl);
          continue;
        }
      }
      const classChar = (): number => (s[i] === '\\' ? escapeChar() : (s[i++].codePointAt(0) as number));
      const lo = classChar();
      let hi = lo;
      if (s[i] === '-' && s[i + 1] !== undefined && s[i + 1] !== ']') {
        i++;
        if (s[i] === undefined) throw new GoRegexpError('missing closing ]');
        hi = classChar();
        if (hi < lo) throw new GoRegexpError('invalid character class range');
      }
      ranges.push([lo, hi]);
    }
    i++; // ]
    const body = rangesToClass(ranges).slice(1, -1) + tokens.join('');
    out += body === '' ? (negated ? '[\\s\\S]' : '[]') : `[${negated ? '^' : ''}${body}]`;
  };

  while (i < s.length) {
    const c = s[i];
    if (c === '^' || c === '$' || c === '?' || c === '*' || c === ')') {
      out += c;
      i++;
    } else if (c === '(') {
      out += '(?:';
      i++;
    } else if (c === '.') {
      out += '[^\\n]';
      i++;
    } else if (c === '[') {
      parseClass();
    } else if (c === '\\') {
      const next = s[i + 1];
      if (next === 'A') {
        out += '^';
        i += 2;
      } else if (next === 'z') {
        out += '$';
        i += 2;
      } else if (next === 'b' || next === 'B') {
        out += `\\${next}`;
        i += 2;
      } else if (next === 'C') {
        throw new GoRegexpError('invalid escape sequence \\C');
      } else if (next === 'Q') {
        const rest = s.slice(i + 2).join('');
        const end = rest.indexOf('\\E');
        const quoted = end < 0 ? rest : rest.slice(0, end);
        for (const q of quoted) out += lit(q.codePointAt(0) as number);
        i += 2 + Array.from(quoted).length + (end < 0 ? 0 : 2);
      } else {
        const p = pClass();
        if (p !== undefined) {
          out += p;
          continue;
        }
        const perl = perlClass();
        if (perl) {
          out += rangesToClass(perl);
          continue;
        }
        out += lit(escapeChar());
      }
    } else {
      out += lit(c.codePointAt(0) as number);
      i++;
    }
  }
  try {
    return new RegExp(out, 'u');
  } catch (err) {
    throw new GoRegexpError(errorMessage(err));
  }
}

// ------------------------------------------------------------- patterns and matcher

interface IgnorePattern {
  /** The cleaned pattern without its `!` (moby `Pattern.String()`). */
  readonly text: string;
  readonly exclusion: boolean;
  /** 1-based line in the ignore file, when read from one. */
  readonly line?: number;
  readonly matchType: MatchType;
  match(path: string): boolean;
}

function makePattern(text: string, exclusion: boolean, line: number | undefined, fail: (why: string) => never): IgnorePattern {
  const { matchType, goRegexp } = compilePattern(text);
  let regexp: RegExp | undefined;
  if (goRegexp !== undefined) {
    try {
      regexp = goRegexpToJs(goRegexp);
    } catch (err) {
      if (err instanceof GoRegexpError) fail(`syntax error in pattern: ${err.message}`);
      throw err;
    }
  }
  const match = (path: string): boolean => {
    switch (matchType) {
      case 'exact':
        return path === text;
      case 'prefix':
        return path.startsWith(text.slice(0, -2));
      case 'suffix': {
        const suffix = text.slice(2);
        if (path.endsWith(suffix)) return true;
        return suffix.startsWith('/') && path === suffix.slice(1);
      }
      default:
        return (regexp as RegExp).test(path);
    }
  };
  return { text, exclusion, line, matchType, match };
}

/** Per-pattern results for a folder, handed to its children (moby `MatchInfo`). */
export interface MatchInfo {
  readonly parentMatched: readonly boolean[];
}

interface IgnoreOrigin {
  /** The ignore file, for messages. */
  file?: string;
  /** Task input the file belongs to, for messages. */
  input?: string;
}

interface IgnoreLine {
  pattern: string;
  line: number;
}

/** moby/patternmatcher/ignorefile `ReadAll`, keeping each pattern's line number. */
export function readIgnoreFile(text: string): IgnoreLine[] {
  const out: IgnoreLine[] = [];
  const lines = text.split('\n');
  if (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
  lines.forEach((raw, index) => {
    let pattern = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    if (index === 0 && pattern.startsWith('\ufeff')) pattern = pattern.slice(1);
    if (pattern.startsWith('#')) return;
    pattern = goTrimSpace(pattern);
    if (pattern === '') return;
    const invert = pattern[0] === '!';
    if (invert) pattern = goTrimSpace(pattern.slice(1));
    if (pattern.length > 0) {
      pattern = goClean(pattern);
      if (pattern.length > 1 && pattern[0] === '/') pattern = pattern.slice(1);
    }
    if (invert) pattern = `!${pattern}`;
    out.push({ pattern, line: index + 1 });
  });
  return out;
}

const PATTERN_CHARS = /[*[\]?^\\]/;

/** fsutil `patternWithoutTrailingGlob`. */
function withoutTrailingGlob(text: string): string {
  let t = text;
  if (t.endsWith('/**')) t = t.slice(0, -3);
  if (t.endsWith('/*')) t = t.slice(0, -2);
  return t;
}

export class IgnoreMatcher {
  readonly patterns: readonly IgnorePattern[];
  private readonly exclusions: boolean;
  private readonly onlyPrefixExceptions: boolean;

  /**
   * moby `patternmatcher.New`. Throws a one-line UserError naming the line
   * (when `lines` gives it) for a lone `!` or a malformed pattern.
   */
  constructor(patterns: readonly string[], origin: IgnoreOrigin & { lines?: readonly number[] } = {}) {
    const list: IgnorePattern[] = [];
    patterns.forEach((raw, index) => {
      const line = origin.lines?.[index];
      const where = `${origin.file ? `Exclusion file '${origin.file}'` : 'Exclusion pattern'}${line !== undefined ? ` line ${line}` : ''}`;
      const problem = (message: string): UserError => (origin.input ? new InputError(origin.input, message) : new UserError(message, { code: 'InvalidInput' }));
      const fail = (why: string): never => {
        throw problem(`${where}: pattern '${raw.trim()}' is malformed (${why}): fix it, or escape a literal [ ] * ? or \\ with a backslash.`);
      };
      let p = goTrimSpace(raw);
      if (p === '') return;
      p = goClean(p);
      let exclusion = false;
      if (p[0] === '!') {
        if (p.length === 1) {
          throw problem(`${where}: illegal exclusion pattern: '!' alone; write the path to re-include after it, e.g. '!keep.txt'.`);
        }
        exclusion = true;
        p = p.slice(1);
      }
      if (globSyntaxError(p)) fail('syntax error in pattern');
      list.push(makePattern(p, exclusion, line, fail));
    });
    this.patterns = list;
    this.exclusions = list.some((p) => p.exclusion);
    this.onlyPrefixExceptions = !list.some((p) => p.exclusion && PATTERN_CHARS.test(withoutTrailingGlob(p.text)));
  }

  /** Reads an ignore file's text (ignorefile `ReadAll`) and compiles it; errors name the line. */
  static parse(text: string, origin: IgnoreOrigin = {}): IgnoreMatcher {
    const lines = readIgnoreFile(text);
    return new IgnoreMatcher(
      lines.map((l) => l.pattern),
      { ...origin, lines: lines.map((l) => l.line) },
    );
  }

  get empty(): boolean {
    return this.patterns.length === 0;
  }

  /** Whether any `!` rule exists (moby `Exclusions()`). */
  get hasExceptions(): boolean {
    return this.exclusions;
  }

  /**
   * moby `MatchesOrParentMatches`: whether `relPath` (slash-separated,
   * relative to the context root) is excluded, looking at the path and each
   * of its parent folders.
   */
  ignores(relPath: string): boolean {
    let matched = false;
    const parent = goDir(relPath);
    const parentDirs = parent.split('/');
    for (const pattern of this.patterns) {
      if (pattern.exclusion !== matched) continue;
      let match = pattern.match(relPath);
      if (!match && parent !== '.') {
        for (let i = 0; i < parentDirs.length && !match; i++) match = pattern.match(parentDirs.slice(0, i + 1).join('/'));
      }
      if (match) matched = !pattern.exclusion;
    }
    return matched;
  }

  /**
   * moby `MatchesUsingParentResults`: like {@link ignores}, but a pattern
   * that matched the parent folder (as recorded in `parent`) counts as
   * matched without being evaluated again; with no `parent`, parents are
   * checked as in {@link ignores}.
   */
  matchUsingParent(relPath: string, parent?: MatchInfo): { excluded: boolean; info: MatchInfo } {
    const parentMatched = parent?.parentMatched ?? [];
    const info: boolean[] = new Array<boolean>(this.patterns.length).fill(false);
    let matched = false;
    this.patterns.forEach((pattern, i) => {
      let match = parentMatched.length !== 0 ? parentMatched[i] : false;
      if (!match) {
        if (pattern.exclusion !== matched) return;
        match = pattern.match(relPath);
        if (!match && parentMatched.length === 0) {
          const parentPath = goDir(relPath);
          if (parentPath !== '.') {
            const dirs = parentPath.split('/');
            for (let j = 0; j < dirs.length && !match; j++) match = pattern.match(dirs.slice(0, j + 1).join('/'));
          }
        }
      }
      info[i] = match;
      if (match) matched = !pattern.exclusion;
    });
    return { excluded: matched, info: { parentMatched: info } };
  }

  /**
   * For an excluded folder: whether its content can be skipped without
   * walking it (fsutil's rule). It must be walked when an exception could
   * re-include something inside: any exception with a wildcard (after a
   * trailing `/*` or `/**`), or one whose path starts with the folder's.
   */
  canSkipExcludedDir(relPath: string): boolean {
    if (!this.onlyPrefixExceptions) return false;
    if (!this.exclusions) return true;
    const dirSlash = `${relPath}/`;
    return !this.patterns.some((p) => p.exclusion && `${withoutTrailingGlob(p.text)}/`.startsWith(dirSlash));
  }
}
