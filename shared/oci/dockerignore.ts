/**
 * `.dockerignore` semantics (moby/patternmatcher): one pattern per line, `#`
 * comment lines, blank lines ignored, patterns cleaned (leading `/` and `./`
 * dropped), `*` and `?` within one path segment, `**` across segments, `!`
 * re-includes. The last pattern that matches a path (or one of its parent
 * folders) decides.
 */
import { Minimatch } from 'minimatch';
import { posix } from 'node:path';

interface Rule {
  negate: boolean;
  matcher: Minimatch;
}

export class IgnoreMatcher {
  private readonly rules: Rule[];

  constructor(patterns: string[]) {
    this.rules = [];
    for (const line of patterns) {
      let p = line.trim();
      if (!p || p.startsWith('#')) continue;
      let negate = false;
      if (p.startsWith('!')) {
        negate = true;
        p = p.slice(1).trim();
      }
      p = posix.normalize(p.replace(/\\/g, '/'));
      p = p.replace(/^\/+/, '').replace(/\/+$/, '');
      if (p === '.' || p === '') continue;
      this.rules.push({ negate, matcher: new Minimatch(p, { dot: true, nonegate: true, nocomment: true, noext: true }) });
    }
  }

  static parse(text: string): IgnoreMatcher {
    return new IgnoreMatcher(text.split(/\r?\n/));
  }

  get empty(): boolean {
    return this.rules.length === 0;
  }

  /** Whether any `!` rule exists (then an excluded folder must still be walked). */
  get hasExceptions(): boolean {
    return this.rules.some((r) => r.negate);
  }

  /** Whether `relPath` (slash-separated, relative to the context root) is excluded. */
  ignores(relPath: string): boolean {
    const parts = relPath.split('/').filter((s) => s.length > 0);
    let excluded = false;
    for (const rule of this.rules) {
      let match = rule.matcher.match(parts.join('/'));
      for (let i = parts.length - 1; !match && i > 0; i--) match = rule.matcher.match(parts.slice(0, i).join('/'));
      if (match) excluded = !rule.negate;
    }
    return excluded;
  }
}
