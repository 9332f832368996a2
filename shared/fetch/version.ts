/**
 * Version names of model folders and files: dotted numbers (`3`, `1.9`,
 * `2024.05.01`) and semver (`1.2.0-rc.1+build.5`), with an optional `v`
 * prefix. Numeric parts compare as numbers (`1.10.0` > `1.9.3` > `1.9`),
 * missing parts count as 0, a pre-release is lower than its release, and build
 * metadata is ignored. Anything else (`latest`, `1.x`, `abc`) is not a version.
 */

export interface Version {
  /** The text the version was parsed from (without surrounding separators). */
  raw: string;
  /** Numeric parts: `1.10.0` -> [1, 10, 0]. */
  numbers: number[];
  /** Pre-release identifiers: `rc.1` -> ['rc', 1]; empty for a release. */
  prerelease: Array<string | number>;
}

const VERSION_RE = /^[vV]?(\d+(?:\.\d+)*)(?:-([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?(?:\+[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?$/;

function toIdentifiers(text: string | undefined): Array<string | number> {
  if (!text) return [];
  return text.split('.').map((p) => (/^\d+$/.test(p) ? Number(p) : p));
}

/** Parse a whole name as a version; undefined when it is not one. */
export function parseVersion(text: string): Version | undefined {
  const raw = text.trim();
  const m = VERSION_RE.exec(raw);
  if (!m) return undefined;
  const numbers = (m[1] as string).split('.').map(Number);
  if (numbers.some((n) => !Number.isSafeInteger(n))) return undefined;
  return { raw, numbers, prerelease: toIdentifiers(m[2]) };
}

function compareIdentifiers(a: string | number, b: string | number): number {
  if (typeof a === 'number' && typeof b === 'number') return a - b;
  if (typeof a === 'number') return -1; // numeric identifiers are lower than alphanumeric ones (semver 11.4.3)
  if (typeof b === 'number') return 1;
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Negative when a < b, positive when a > b, 0 when equal in precedence (`1.9` == `1.9.0`, build ignored). */
export function compareVersions(a: Version, b: Version): number {
  const n = Math.max(a.numbers.length, b.numbers.length);
  for (let i = 0; i < n; i++) {
    const d = (a.numbers[i] ?? 0) - (b.numbers[i] ?? 0);
    if (d !== 0) return Math.sign(d);
  }
  if (a.prerelease.length === 0 && b.prerelease.length === 0) return 0;
  if (a.prerelease.length === 0) return 1; // a release is higher than its pre-releases
  if (b.prerelease.length === 0) return -1;
  const m = Math.max(a.prerelease.length, b.prerelease.length);
  for (let i = 0; i < m; i++) {
    const x = a.prerelease[i];
    const y = b.prerelease[i];
    if (x === undefined) return -1;
    if (y === undefined) return 1;
    const d = compareIdentifiers(x, y);
    if (d !== 0) return Math.sign(d);
  }
  return 0;
}

// A version token inside a file name: preceded by the start or a separator,
// dotted numbers, an optional pre-release that looks like one (rc1, beta.2...),
// then the end or a non-alphanumeric character (e.g. the extension's dot).
const TOKEN_RE = /(?:^|[-_.\s@+])([vV]?\d+(?:\.\d+)*(?:-(?:alpha|beta|rc|pre|preview|dev|snapshot)(?:[.-]?\d+)*)?)(?=$|[^0-9A-Za-z])/gi;

/**
 * The version carried by a file name such as `model-1.2.0.onnx`,
 * `resnet50_v3.pt` or `model-2.0.0-rc.1.onnx`; undefined when there is none.
 * A whole name that is a version wins; otherwise the last dotted token
 * (`1.2.0`), else the last plain number token. Digits glued to letters
 * (`resnet50`) are not versions.
 */
export function versionInName(name: string): Version | undefined {
  const whole = parseVersion(name);
  if (whole) return whole;
  const tokens: string[] = [];
  for (const m of name.matchAll(TOKEN_RE)) tokens.push(m[1] as string);
  const dotted = tokens.filter((t) => t.includes('.'));
  const pick = dotted.length > 0 ? dotted[dotted.length - 1] : tokens[tokens.length - 1];
  return pick === undefined ? undefined : parseVersion(pick);
}
