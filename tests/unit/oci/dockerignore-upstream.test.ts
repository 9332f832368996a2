/**
 * moby/patternmatcher `patternmatcher_test.go` and moby/patternmatcher/ignorefile
 * `ignorefile_test.go`, ported as data (Linux rows; the Windows-only variants
 * are left out). Inputs and expected results are upstream's; the test code is ours.
 *
 * Mapping: `new IgnoreMatcher(patterns)` is `patternmatcher.New`;
 * `ignores(path)` is `MatchesOrParentMatches`; `matchUsingParent(path, info)`
 * is `MatchesUsingParentResults`. Upstream's single-pattern `Matches` tables
 * (TestMatch and the small tests) use the deprecated `Matches`, which checks
 * one parent only; every row gives the same result with
 * `MatchesOrParentMatches`, which is what is ported.
 */
import assert from 'node:assert/strict';
import { UserError } from '../../../shared/errors';
import { compilePattern, goClean, IgnoreMatcher, readIgnoreFile, type MatchInfo, type MatchType } from '../../../shared/oci/dockerignore';

type MatchRow = [pattern: string, text: string, pass: boolean];
type MultiRow = [patterns: string[], text: string, pass: boolean];

/** TestMatches: `tests` (plus the non-Windows row). */
const matchesRows: MatchRow[] = [
  ['**', 'file', true],
  ['**', 'file/', true],
  ['**/', 'file', true],
  ['**/', 'file/', true],
  ['**', '/', true],
  ['**/', '/', true],
  ['**', 'dir/file', true],
  ['**/', 'dir/file', true],
  ['**', 'dir/file/', true],
  ['**/', 'dir/file/', true],
  ['**/**', 'dir/file', true],
  ['**/**', 'dir/file/', true],
  ['dir/**', 'dir/file', true],
  ['dir/**', 'dir/file/', true],
  ['dir/**', 'dir/dir2/file', true],
  ['dir/**', 'dir/dir2/file/', true],
  ['**/dir', 'dir', true],
  ['**/dir', 'dir/file', true],
  ['**/dir2/*', 'dir/dir2/file', true],
  ['**/dir2/*', 'dir/dir2/file/', true],
  ['**/dir2/**', 'dir/dir2/dir3/file', true],
  ['**/dir2/**', 'dir/dir2/dir3/file/', true],
  ['**file', 'file', true],
  ['**file', 'dir/file', true],
  ['**/file', 'dir/file', true],
  ['**file', 'dir/dir/file', true],
  ['**/file', 'dir/dir/file', true],
  ['**/file*', 'dir/dir/file', true],
  ['**/file*', 'dir/dir/file.txt', true],
  ['**/file*txt', 'dir/dir/file.txt', true],
  ['**/file*.txt', 'dir/dir/file.txt', true],
  ['**/file*.txt*', 'dir/dir/file.txt', true],
  ['**/**/*.txt', 'dir/dir/file.txt', true],
  ['**/**/*.txt2', 'dir/dir/file.txt', false],
  ['**/*.txt', 'file.txt', true],
  ['**/**/*.txt', 'file.txt', true],
  ['a**/*.txt', 'a/file.txt', true],
  ['a**/*.txt', 'a/dir/file.txt', true],
  ['a**/*.txt', 'a/dir/dir/file.txt', true],
  ['a/*.txt', 'a/dir/file.txt', false],
  ['a/*.txt', 'a/file.txt', true],
  ['a/*.txt**', 'a/file.txt', true],
  ['a[b-d]e', 'ae', false],
  ['a[b-d]e', 'ace', true],
  ['a[b-d]e', 'aae', false],
  ['a[^b-d]e', 'aze', true],
  ['.*', '.foo', true],
  ['.*', 'foo', false],
  ['abc.def', 'abcdef', false],
  ['abc.def', 'abc.def', true],
  ['abc.def', 'abcZdef', false],
  ['abc?def', 'abcZdef', true],
  ['abc?def', 'abcdef', false],
  ['a\\\\', 'a\\', true],
  ['**/foo/bar', 'foo/bar', true],
  ['**/foo/bar', 'dir/foo/bar', true],
  ['**/foo/bar', 'dir/dir2/foo/bar', true],
  ['abc/**', 'abc', false],
  ['abc/**', 'abc/def', true],
  ['abc/**', 'abc/def/ghi', true],
  ['**/.foo', '.foo', true],
  ['**/.foo', 'bar.foo', false],
  ['a(b)c/def', 'a(b)c/def', true],
  ['a(b)c/def', 'a(b)c/xyz', false],
  ['a.|)$(}+{bc', 'a.|)$(}+{bc', true],
  ['dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl', 'dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl', true],
  ['dist/*.whl', 'dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl', true],
  // runtime.GOOS != "windows"
  ['a\\*b', 'a*b', true],
];

/** TestMatches: `multiPatternTests`. */
const multiRows: MultiRow[] = [
  [['**', '!util/docker/web'], 'util/docker/web/foo', false],
  [['**', '!util/docker/web', 'util/docker/web/foo'], 'util/docker/web/foo', true],
  [['**', '!dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl'], 'dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl', false],
  [['**', '!dist/*.whl'], 'dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl', false],
];

/** The small single-case tests at the top of patternmatcher_test.go (Matches(file, patterns)). */
const smallRows: MultiRow[] = [
  [['*'], 'fileutils.go', true], // TestWildcardMatches
  [['*.go'], 'fileutils.go', true], // TestPatternMatches
  [['!fileutils.go', '*.go'], 'fileutils.go', true], // TestExclusionPatternMatchesPatternBefore
  [['docs', '!docs/README.md'], 'docs/README.md', false], // TestPatternMatchesFolderExclusions
  [['docs/', '!docs/README.md'], 'docs/README.md', false], // TestPatternMatchesFolderWithSlashExclusions
  [['docs/*', '!docs/README.md'], 'docs/README.md', false], // TestPatternMatchesFolderWildcardExclusions
  [['*.go', '!fileutils.go'], 'fileutils.go', false], // TestExclusionPatternMatchesPatternAfter
  [['*.go'], '.', false], // TestExclusionPatternMatchesWholeDirectory
  [[], '/any/path/there', false], // TestMatchesWithNoPatterns
];

/** matchTests ("stolen from go's filepath Match tests"), through Matches(s, [pattern]); `error` = ErrBadPattern. */
type GlobRow = [pattern: string, s: string, match: boolean, error?: 'bad'];
const globRows: GlobRow[] = [
  ['abc', 'abc', true],
  ['*', 'abc', true],
  ['*c', 'abc', true],
  ['a*', 'a', true],
  ['a*', 'abc', true],
  ['a*', 'ab/c', true],
  ['a*/b', 'abc/b', true],
  ['a*/b', 'a/c/b', false],
  ['a*b*c*d*e*/f', 'axbxcxdxe/f', true],
  ['a*b*c*d*e*/f', 'axbxcxdxexxx/f', true],
  ['a*b*c*d*e*/f', 'axbxcxdxe/xxx/f', false],
  ['a*b*c*d*e*/f', 'axbxcxdxexxx/fff', false],
  ['a*b?c*x', 'abxbbxdbxebxczzx', true],
  ['a*b?c*x', 'abxbbxdbxebxczzy', false],
  ['ab[c]', 'abc', true],
  ['ab[b-d]', 'abc', true],
  ['ab[e-g]', 'abc', false],
  ['ab[^c]', 'abc', false],
  ['ab[^b-d]', 'abc', false],
  ['ab[^e-g]', 'abc', true],
  ['a\\*b', 'a*b', true],
  ['a\\*b', 'ab', false],
  ['a?b', 'a☺b', true],
  ['a[^a]b', 'a☺b', true],
  ['a???b', 'a☺b', false],
  ['a[^a][^a][^a]b', 'a☺b', false],
  ['[a-ζ]*', 'α', true],
  ['*[a-ζ]', 'A', false],
  ['a?b', 'a/b', false],
  ['a*b', 'a/b', false],
  ['[\\]a]', ']', true],
  ['[\\-]', '-', true],
  ['[x\\-]', 'x', true],
  ['[x\\-]', '-', true],
  ['[x\\-]', 'z', false],
  ['[\\-x]', 'x', true],
  ['[\\-x]', '-', true],
  ['[\\-x]', 'a', false],
  ['[]a]', ']', false, 'bad'],
  ['[-]', '-', false, 'bad'],
  ['[x-]', 'x', false, 'bad'],
  ['[x-]', '-', false, 'bad'],
  ['[x-]', 'z', false, 'bad'],
  ['[-x]', 'x', false, 'bad'],
  ['[-x]', '-', false, 'bad'],
  ['[-x]', 'a', false, 'bad'],
  ['\\', 'a', false, 'bad'],
  ['[a-b-c]', 'a', false, 'bad'],
  ['[', 'a', false, 'bad'],
  ['[^', 'a', false, 'bad'],
  ['[^bc', 'a', false, 'bad'],
  ['a[', 'a', false, 'bad'],
  ['a[', 'ab', false, 'bad'],
  ['*x', 'xxx', true],
];

/** compileTests (the "slash" variant; the Windows regexps are left out). */
const compileRows: Array<[pattern: string, matchType: MatchType, regexp: string]> = [
  ['*', 'regexp', '^[^/]*$'],
  ['file*', 'regexp', '^file[^/]*$'],
  ['*file', 'regexp', '^[^/]*file$'],
  ['a*/b', 'regexp', '^a[^/]*/b$'],
  ['**', 'suffix', ''],
  ['**/**', 'regexp', '^(.*/)?.*$'],
  ['dir/**', 'prefix', ''],
  ['**/dir', 'suffix', ''],
  ['**/dir2/*', 'regexp', '^(.*/)?dir2/[^/]*$'],
  ['**/dir2/**', 'regexp', '^(.*/)?dir2/.*$'],
  ['**file', 'suffix', ''],
  ['**/file*txt', 'regexp', '^(.*/)?file[^/]*txt$'],
  ['**/**/*.txt', 'regexp', '^(.*/)?(.*/)?[^/]*\\.txt$'],
  ['a[b-d]e', 'regexp', '^a[b-d]e$'],
  ['.*', 'regexp', '^\\.[^/]*$'],
  ['abc.def', 'exact', ''],
  ['abc?def', 'regexp', '^abc[^/]def$'],
  ['**/foo/bar', 'suffix', ''],
  ['a(b)c/def', 'exact', ''],
  ['a.|)$(}+{bc', 'exact', ''],
  ['dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl', 'exact', ''],
];

/** ignorefile_test.go TestReadAll. */
const IGNOREFILE_CONTENT = `test1
/test2
/a/file/here

lastfile
# this is a comment
! /inverted/abs/path
!
! `;
const IGNOREFILE_EXPECTED = ['test1', 'test2', 'a/file/here', 'lastfile', '!inverted/abs/path', '!', '!'];

/** Upstream's Matches(file, patterns) helper: New, Clean the file, "." never matches. */
function matches(file: string, patterns: string[]): boolean {
  const pm = new IgnoreMatcher(patterns);
  const cleaned = goClean(file);
  if (cleaned === '.') return false;
  return pm.ignores(cleaned);
}

/** Upstream's "MatchesUsingParentResults" check: feed each parent folder's results to its child. */
function matchWithParents(pm: IgnoreMatcher, text: string): boolean {
  const parentPath = goClean(text.split('/').slice(0, -1).join('/') || (text.startsWith('/') ? '/' : ''));
  let info: MatchInfo | undefined;
  if (parentPath !== '.') {
    const dirs = parentPath.split('/');
    for (let i = 0; i < dirs.length; i++) info = pm.matchUsingParent(dirs.slice(0, i + 1).join('/'), info).info;
  }
  return pm.matchUsingParent(text, info).excluded;
}

describe('.dockerignore: moby/patternmatcher tables', () => {
  describe('TestMatches (MatchesUsingParentResults, with and without parent context)', () => {
    const rows: MultiRow[] = [...matchesRows.map(([p, t, pass]): MultiRow => [[p], t, pass]), ...multiRows];
    for (const [patterns, text, pass] of rows) {
      it(`${JSON.stringify(patterns)} vs ${JSON.stringify(text)} -> ${pass}`, () => {
        const pm = new IgnoreMatcher(patterns);
        assert.equal(matchWithParents(pm, text), pass, 'with parent results');
        assert.equal(pm.matchUsingParent(text).excluded, pass, 'no context');
      });
    }
  });

  describe('TestCompile (slash)', () => {
    for (const [pattern, matchType, regexp] of compileRows) {
      it(`${pattern} -> ${matchType}${regexp ? ` ${regexp}` : ''}`, () => {
        const compiled = compilePattern(goClean(pattern));
        assert.equal(compiled.matchType, matchType);
        if (matchType === 'regexp') assert.equal(compiled.goRegexp, regexp);
      });
    }
  });

  describe('ignorefile_test.go TestReadAll', () => {
    it('reads nothing from an empty file', () => assert.deepEqual(readIgnoreFile(''), []));
    it('trims, drops comments and blank lines, cleans, strips leading /, keeps ! (line by line)', () => {
      assert.deepEqual(
        readIgnoreFile(IGNOREFILE_CONTENT).map((l) => l.pattern),
        IGNOREFILE_EXPECTED,
      );
    });
  });

  describe('TestMatches (MatchesOrParentMatches)', () => {
    for (const [pattern, text, pass] of matchesRows) {
      it(`${JSON.stringify(pattern)} vs ${JSON.stringify(text)} -> ${pass}`, () => {
        assert.equal(new IgnoreMatcher([pattern]).ignores(text), pass);
      });
    }
    for (const [patterns, text, pass] of multiRows) {
      it(`${JSON.stringify(patterns)} vs ${JSON.stringify(text)} -> ${pass}`, () => {
        assert.equal(new IgnoreMatcher(patterns).ignores(text), pass);
      });
    }
  });

  describe('small cases, TestMatch (filepath.Match rows)', () => {
    for (const [patterns, text, pass] of smallRows) {
      it(`Matches(${JSON.stringify(text)}, ${JSON.stringify(patterns)}) -> ${pass}`, () => assert.equal(matches(text, patterns), pass));
    }
    for (const [pattern, s, match, error] of globRows) {
      it(`Match(${JSON.stringify(pattern)}, ${JSON.stringify(s)}) -> ${error ? 'ErrBadPattern' : match}`, () => {
        if (error) {
          assert.throws(
            () => matches(s, [pattern]),
            (err: unknown) => err instanceof UserError && /syntax error in pattern/.test(err.message),
          );
        } else {
          assert.equal(matches(s, [pattern]), match);
        }
      });
    }
  });

  it('counts the ported rows', () => {
    // TestMatches tests + multiPatternTests, the small single-case tests, matchTests, compileTests,
    // TestCleanPatterns* (5) and the three error tests; ignorefile: ReadAll(nil) and the 7-line content.
    const patternmatcher = matchesRows.length + multiRows.length + smallRows.length + globRows.length + compileRows.length + 5 + 3;
    const ignorefile = 1 + IGNOREFILE_EXPECTED.length;
    console.log(`      ported rows: patternmatcher_test.go ${patternmatcher}, ignorefile_test.go ${ignorefile}`);
    assert.ok(patternmatcher > 0 && ignorefile > 0);
  });

  describe('errors and cleaning', () => {
    it('a single "!" is an error (TestSingleExclamationError, TestCleanPatternsErrorSingleException)', () => {
      assert.throws(
        () => new IgnoreMatcher(['!']),
        (err: unknown) => err instanceof UserError && /illegal exclusion pattern/.test(err.message),
      );
    });
    it('"[" is a malformed pattern (TestMatchesWithMalformedPatterns)', () => {
      assert.throws(() => matches('/any/path/there', ['[']), UserError);
    });
    it('a pattern whose regexp does not compile is an error (TestMatchesOrParentMatchesMalformedPatternDoesNotPanicOnRepeatedCall)', () => {
      // Upstream: New accepts "[Local-Only]/" and every match fails with ErrBadPattern; here the constructor refuses it.
      assert.throws(() => new IgnoreMatcher(['[Local-Only]/']), UserError);
    });
    it('empty patterns are dropped, whitespace trimmed, exceptions noticed (TestCleanPatterns*)', () => {
      assert.equal(new IgnoreMatcher(['docs', 'config']).patterns.length, 2);
      assert.equal(new IgnoreMatcher(['docs', 'config', '']).patterns.length, 2);
      assert.equal(new IgnoreMatcher(['docs', '!docs/README.md']).hasExceptions, true);
      assert.equal(new IgnoreMatcher(['docs', '  !docs/README.md']).hasExceptions, true);
      assert.equal(new IgnoreMatcher(['docs', '!docs/README.md  ']).hasExceptions, true);
    });
  });
});

/**
 * Not upstream rows: moby hands the escaped pattern to Go's regexp package,
 * so Go regexp syntax reachable through `\` and `[...]` applies. These check
 * the translation to JavaScript against Go's documented syntax.
 */
describe('.dockerignore: Go regexp syntax reachable from a pattern', () => {
  const rows: Array<[pattern: string, text: string, pass: boolean]> = [
    ['[[:digit:]]*.log', '1abc.log', true],
    ['[[:digit:]]*.log', 'abc.log', false],
    ['[[:^digit:]]', 'a', true],
    ['a\\d', 'a1', true], // Go: \d is a digit class
    ['a\\d', 'ad', false],
    // \Q...\E quotes literally in Go, but moby has already turned * and ? into [^/]* and [^/]:
    ['a\\Q*?\\E', 'a[^/]*[^/]', true],
    ['a\\Q*?\\E', 'axy', false],
    ['x\\x41', 'xA', true],
    ['x\\101', 'xA', true], // octal
    ['a^b', 'a^b', true], // no wildcard: exact match
    ['*^b', 'a^b', false], // with a wildcard, ^ is Go's start-of-text anchor
    ['é?', 'éa', true],
    ['?', '😀', true], // one code point, like Go's runes
  ];
  for (const [pattern, text, pass] of rows) {
    it(`${JSON.stringify(pattern)} vs ${JSON.stringify(text)} -> ${pass}`, () => assert.equal(new IgnoreMatcher([pattern]).ignores(text), pass));
  }
  for (const bad of ['a\\e', 'a\\1', '[b-a]x', '[[:nope:]]']) {
    it(`${JSON.stringify(bad)} is malformed`, () => assert.throws(() => new IgnoreMatcher([bad]), UserError));
  }
});
