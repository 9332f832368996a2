/**
 * The check spec format as tables: spec files (YAML and JSON), the inline
 * request/expectation inputs, and every malformed spec as one line naming
 * the file (or input) and line.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InputError } from '../../../shared/errors';
import {
  checksFromInputs,
  isSpecFileReference,
  loadSpecFile,
  parseInlineExpect,
  parseInlineRequest,
  parseJsonPath,
  parseMatcher,
  parseRegex,
  parseSpec,
  parseStatus,
  statusMatches,
} from '../../../shared/check';

const oneLine = (input: string, message: RegExp) => (e: unknown) => {
  assert.ok(e instanceof InputError, `expected an InputError, got ${String(e)}`);
  assert.equal(e.input, input);
  assert.doesNotMatch(e.message, /[\r\n]/, 'one line');
  assert.match(e.message, message);
  return true;
};

describe('check/spec', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'check-spec-'));
    mkdirSync(join(dir, 'samples'));
    writeFileSync(join(dir, 'samples', 'input.json'), '{"features":[5.1,3.5,1.4,0.2]}');
    writeFileSync(join(dir, 'samples', 'input.csv'), '5.1,3.5,1.4,0.2\n');
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  describe('parseStatus / statusMatches', () => {
    const table: Array<[unknown, number[], number[]]> = [
      [200, [200], [201, 199]],
      ['2xx', [200, 250, 299], [300, 199]],
      ['200-204', [200, 204], [205]],
      [
        [200, '3xx'],
        [200, 302],
        [201, 404],
      ],
      ['2xx, 404', [204, 404], [500]],
      ['201|202', [201, 202], [200]],
    ];
    for (const [spec, ok, bad] of table) {
      it(`${JSON.stringify(spec)}: ${ok.join(',')} pass, ${bad.join(',')} fail`, () => {
        const s = parseStatus(spec);
        for (const code of ok) assert.ok(statusMatches(s, code), `${code}`);
        for (const code of bad) assert.ok(!statusMatches(s, code), `${code}`);
      });
    }
    for (const bad of ['abc', 600, '6xx', '299-200', '', [], '20', true, '2xx-3xx']) {
      it(`rejects ${JSON.stringify(bad)}`, () => assert.throws(() => parseStatus(bad), /status/));
    }
  });

  describe('parseJsonPath', () => {
    const table: Array<[string, unknown]> = [
      ['$', []],
      ['$.label', [{ kind: 'key', key: 'label' }]],
      [
        '$.scores[0]',
        [
          { kind: 'key', key: 'scores' },
          { kind: 'index', index: 0 },
        ],
      ],
      ['$[-1]', [{ kind: 'index', index: -1 }]],
      ["$['a b']", [{ kind: 'key', key: 'a b' }]],
      [
        '$["x.y"].z',
        [
          { kind: 'key', key: 'x.y' },
          { kind: 'key', key: 'z' },
        ],
      ],
      ['$.model-sha256', [{ kind: 'key', key: 'model-sha256' }]],
    ];
    for (const [path, expected] of table) it(path, () => assert.deepEqual(parseJsonPath(path), expected));
    for (const bad of ['label', '$.', '$[*]', '$..a', '$.a[?(@.x)]', '$[1', '$ .a']) {
      it(`rejects ${bad}`, () => assert.throws(() => parseJsonPath(bad), Error));
    }
  });

  describe('parseMatcher', () => {
    const table: Array<[unknown, unknown]> = [
      ['setosa', { kind: 'equals', value: 'setosa' }],
      [3, { kind: 'equals', value: 3 }],
      [null, { kind: 'equals', value: null }],
      [{ a: 1 }, { kind: 'equals', value: { a: 1 } }],
      [{}, { kind: 'equals', value: {} }],
      [
        { approx: 0.93, tolerance: 0.01 },
        { kind: 'approx', value: 0.93, tolerance: 0.01 },
      ],
      [{ approx: 1 }, { kind: 'approx', value: 1, tolerance: 1e-9 }],
      [{ equals: { approx: 1 } }, { kind: 'equals', value: { approx: 1 } }],
    ];
    for (const [raw, expected] of table) it(JSON.stringify(raw), () => assert.deepEqual(parseMatcher(raw), expected));
    it('matches: a regex', () => assert.deepEqual(parseMatcher({ matches: '^iris-' }), { kind: 'matches', regex: /^iris-/ }));
    for (const bad of [{ approx: 'x' }, { approx: 1, tolerance: -1 }, { approx: 1, matches: 'a' }, { matches: 3 }, { tolerance: 1 }]) {
      it(`rejects ${JSON.stringify(bad)}`, () => assert.throws(() => parseMatcher(bad), Error));
    }
  });

  describe('parseRegex', () => {
    const table: Array<[string, RegExp]> = [
      ['/set.sa/i', /set.sa/i],
      ['setosa', /setosa/],
      ['/a\\/b/', /a\/b/],
      ['/x/ms', /x/ms],
    ];
    for (const [text, expected] of table) it(text, () => assert.deepEqual(parseRegex(text), expected));
    for (const bad of ['/(/', '//', '/a/g', '']) it(`rejects ${JSON.stringify(bad)}`, () => assert.throws(() => parseRegex(bad), Error));
  });

  describe('parseSpec: valid files', () => {
    it('YAML with checks:, defaults, bodyFile relative to the spec file and a content type from its extension', () => {
      const file = join(dir, 'samples', 'checks.yaml');
      const checks = parseSpec(
        [
          '# model checks',
          'checks:',
          '  - name: health',
          '    request: { path: /healthz }',
          '  - name: prediction',
          '    request:',
          '      method: post',
          '      path: /predict?explain=1',
          '      bodyFile: input.json',
          '    expect:',
          '      status: 200',
          '      json:',
          '        $.label: setosa',
          '        $.scores[0]: { approx: 0.93, tolerance: 0.01 }',
          '      match: ["/label/", "setosa"]',
        ].join('\n'),
        file,
        'checks',
      );
      assert.equal(checks.length, 2);
      const [health, prediction] = checks as [(typeof checks)[0], (typeof checks)[0]];
      assert.deepEqual(health.request, { method: 'GET', path: '/healthz', headers: {}, body: undefined, bodyFile: undefined });
      assert.equal(health.expect.status.text, '2xx');
      assert.equal(health.source, `${file}:3`);
      assert.equal(prediction.source, `${file}:5`);
      assert.equal(prediction.request.method, 'POST');
      assert.equal(prediction.request.bodyFile, join(dir, 'samples', 'input.json'));
      assert.equal(prediction.request.body?.toString(), '{"features":[5.1,3.5,1.4,0.2]}');
      assert.equal(prediction.request.headers['content-type'], 'application/json');
      assert.deepEqual(
        prediction.expect.json.map((j) => [j.path, j.matcher]),
        [
          ['$.label', { kind: 'equals', value: 'setosa' }],
          ['$.scores[0]', { kind: 'approx', value: 0.93, tolerance: 0.01 }],
        ],
      );
      assert.deepEqual(prediction.expect.match, [/label/, /setosa/]);
    });

    it('JSON list at the top, inline object body sent as JSON, text body as text, own content type kept', () => {
      const file = join(dir, 'spec.json');
      const checks = parseSpec(
        JSON.stringify([
          { name: 'obj', request: { method: 'POST', path: '/p', body: { x: [1, 2] } } },
          { name: 'txt', request: { method: 'POST', path: '/p', body: 'hello' } },
          { name: 'own', request: { method: 'PUT', path: '/p', body: 'a,b', headers: { 'Content-Type': 'text/csv' } }, expect: { status: [200, 201] } },
        ]),
        file,
        'checks',
      );
      assert.equal(checks[0]!.request.body?.toString(), '{"x":[1,2]}');
      assert.equal(checks[0]!.request.headers['content-type'], 'application/json');
      assert.equal(checks[1]!.request.headers['content-type'], 'text/plain; charset=utf-8');
      assert.deepEqual(checks[2]!.request.headers, { 'Content-Type': 'text/csv' });
      assert.equal(checks[2]!.expect.status.text, '200, 201');
    });

    it('loadSpecFile reads the file and resolves bodyFile beside it; a BOM is ignored', () => {
      const file = join(dir, 'samples', 'bom.yml');
      writeFileSync(file, '\uFEFF- request: { method: POST, path: /predict, bodyFile: input.csv }\n');
      const [c] = loadSpecFile(file, 'checks');
      assert.equal(c!.name, 'POST /predict');
      assert.equal(c!.request.headers['content-type'], 'text/csv');
      assert.equal(c!.request.body?.toString(), '5.1,3.5,1.4,0.2\n');
    });
  });

  describe('parseSpec: malformed specs are one line naming file and line', () => {
    const table: Array<[string, string, RegExp]> = [
      ['YAML syntax', 'checks:\n  - name: a\n   request: [', /line \d+: not valid YAML or JSON/],
      ['no checks', 'checks: []\n', /line 1: it holds no checks/],
      ['scalar document', 'hello\n', /line 1: it holds no checks/],
      ['unknown top key', 'checks:\n  - request: {path: /}\nversion: 2\n', /line 3: unknown key 'version' at the top/],
      ['check not a mapping', 'checks:\n  - request: {path: /}\n  - just text\n', /line 3: check 2 is not a mapping/],
      ['missing request', 'checks:\n  - name: a\n    expect: {status: 200}\n', /line 2: check 1 has no request/],
      ['typo in a check key', 'checks:\n  - name: a\n    request: {path: /}\n    expects: {status: 200}\n', /line 4: unknown key 'expects' in a check/],
      ['path without slash', 'checks:\n  - name: a\n    request:\n      path: predict\n', /line 4: request path "predict" must start with '\/'/],
      ['bad method', 'checks:\n  - request:\n      method: "GET X"\n      path: /\n', /line 3: method "GET X" is not an HTTP method/],
      ['bad status', 'checks:\n  - request: {path: /}\n    expect:\n      status: 7xx\n', /line 4: status '7xx'/],
      [
        'bad JSON path',
        'checks:\n  - request: {path: /}\n    expect:\n      json:\n        $.a: 1\n        label: x\n',
        /line 6: a JSON path starts with '\$'/,
      ],
      [
        'bad tolerance',
        'checks:\n  - request: {path: /}\n    expect:\n      json:\n        $.a: {approx: 1, tolerance: -2}\n',
        /line 5: tolerance: needs a number >= 0/,
      ],
      ['bad regex', 'checks:\n  - request: {path: /}\n    expect:\n      match:\n        - /ok/\n        - /(/\n', /line 6: invalid regular expression/],
      ['missing body file', 'checks:\n  - request:\n      path: /\n      bodyFile: nope.json\n', /line 4: body file .*nope\.json cannot be read \(ENOENT\)/],
      ['body and bodyFile', 'checks:\n  - request:\n      path: /\n      body: x\n      bodyFile: input.json\n', /line 5: give body or bodyFile, not both/],
      ['duplicate names', '- name: a\n  request: {path: /}\n- name: a\n  request: {path: /x}\n', /line 3: two checks are named 'a'/],
      ['bad header', 'checks:\n  - request:\n      path: /\n      headers:\n        "bad name": x\n', /line 5: header 'bad name'/],
      ['JSON spec', '[\n  {"request": {"path": "/"}},\n  {"request": {"path": "/", "method": 3}}\n]', /line 3: method 3 is not an HTTP method/],
    ];
    for (const [title, text, message] of table) {
      it(title, () => {
        const file = join(dir, 'samples', 'bad.yaml');
        assert.throws(
          () => parseSpec(text, file, 'checks'),
          oneLine('checks', new RegExp(`^Check spec ${file.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')} ${message.source}`)),
        );
      });
    }
    it('a missing spec file', () =>
      assert.throws(() => loadSpecFile(join(dir, 'none.yaml'), 'checks'), oneLine('checks', /none\.yaml cannot be read \(ENOENT\)/)));
  });

  describe('inline request', () => {
    const table: Array<[string, { method: string; path: string; body?: string; headers: Record<string, string> }]> = [
      ['GET /healthz', { method: 'GET', path: '/healthz', body: undefined, headers: {} }],
      [
        'post /predict @samples/input.json',
        { method: 'POST', path: '/predict', body: '{"features":[5.1,3.5,1.4,0.2]}', headers: { 'content-type': 'application/json' } },
      ],
      ['POST /predict {"x": 1}', { method: 'POST', path: '/predict', body: '{"x": 1}', headers: { 'content-type': 'application/json' } }],
      ['POST /echo hello world', { method: 'POST', path: '/echo', body: 'hello world', headers: { 'content-type': 'text/plain; charset=utf-8' } }],
      [
        '# comment\nPOST /p @samples/input.csv\nX-Trace: 1\nContent-Type: text/plain',
        { method: 'POST', path: '/p', body: '5.1,3.5,1.4,0.2\n', headers: { 'X-Trace': '1', 'Content-Type': 'text/plain' } },
      ],
    ];
    for (const [text, expected] of table) {
      it(JSON.stringify(text), () => {
        const r = parseInlineRequest(text, 'smokeTestRequest', dir);
        assert.deepEqual({ method: r.method, path: r.path, body: r.body?.toString(), headers: r.headers }, expected);
      });
    }
    const bad: Array<[string, RegExp]> = [
      ['', /line 1: is empty/],
      ['/predict', /line 1: '\/predict' is not 'METHOD \/path/],
      ['GET predict', /line 1: the path 'predict' must start with '\/'/],
      ['POST /p @', /line 1: '@' needs a file name/],
      ['POST /p @missing.json', /line 1: body file .*missing\.json cannot be read \(ENOENT\)/],
      ['GET /\n\nnot a header', /line 3: 'not a header' is not a header line/],
    ];
    for (const [text, message] of bad) {
      it(`rejects ${JSON.stringify(text)}`, () =>
        assert.throws(
          () => parseInlineRequest(text, 'smokeTestRequest', dir),
          oneLine('smokeTestRequest', new RegExp(`^Input 'smokeTestRequest' ${message.source}`)),
        ));
    }
    for (const [text, isFile] of [
      ['samples/checks.yaml', true],
      ['checks.JSON', true],
      ['GET /checks.yaml', false],
      ['/abs/checks.yaml', true],
      ['a.yaml\nb.yaml', false],
    ] as const) {
      it(`isSpecFileReference(${JSON.stringify(text)}) = ${isFile}`, () => assert.equal(isSpecFileReference(text), isFile));
    }
  });

  describe('inline expectations', () => {
    it('every form, one per line', () => {
      const e = parseInlineExpect(
        'status 200-201\n$.label == "setosa"\n$.n == 3\n$.score ~= 0.93 +- 0.01\n$.p ~= 1 ± 0.5\n$.model =~ /^iris-/i\n/ok/\n# comment',
        'smokeTestExpect',
      );
      assert.equal(e.status.text, '200-201');
      assert.deepEqual(
        e.json.map((j) => [j.path, j.matcher]),
        [
          ['$.label', { kind: 'equals', value: 'setosa' }],
          ['$.n', { kind: 'equals', value: 3 }],
          ['$.score', { kind: 'approx', value: 0.93, tolerance: 0.01 }],
          ['$.p', { kind: 'approx', value: 1, tolerance: 0.5 }],
          ['$.model', { kind: 'matches', regex: /^iris-/i }],
        ],
      );
      assert.deepEqual(e.match, [/ok/]);
    });
    it('nothing: status 2xx', () => assert.deepEqual(parseInlineExpect('', 'e'), { status: { text: '2xx', ranges: [[200, 299]] }, json: [], match: [] }));
    const bad: Array<[string, RegExp]> = [
      ['status 200\nstatus 201', /line 2: status is given twice/],
      ['status abc', /line 1: status 'abc'/],
      ['$.label == setosa', /line 1: the expected value setosa is not JSON \(quote text: "setosa"\)/],
      ['\n$.a ~= x +- 1', /line 2: 'x \+- 1' needs two numbers/],
      ['label == "x"', /line 1: 'label == "x"' is not an expectation/],
      ['$.a =~ /(/', /line 1: invalid regular expression/],
      ['$[*] == 1', /line 1: expected \[number\]/],
    ];
    for (const [text, message] of bad) {
      it(`rejects ${JSON.stringify(text)}`, () =>
        assert.throws(() => parseInlineExpect(text, 'smokeTestExpect'), oneLine('smokeTestExpect', new RegExp(`^Input 'smokeTestExpect' ${message.source}`))));
    }
  });

  describe('checksFromInputs', () => {
    it('an inline request and its expectations make one check named by the request', () => {
      const [c, ...rest] = checksFromInputs({
        requestInput: 'req',
        request: 'POST /predict @samples/input.json',
        expectInput: 'exp',
        expect: '$.label == "setosa"',
        baseDir: dir,
      });
      assert.equal(rest.length, 0);
      assert.equal(c!.name, 'POST /predict');
      assert.equal(c!.source, "input 'req'");
      assert.equal(c!.expect.json[0]!.path, '$.label');
    });
    it('a spec file path loads the spec relative to baseDir', () => {
      writeFileSync(join(dir, 'samples', 'gate.yaml'), '- name: gate\n  request: { path: /version }\n');
      const checks = checksFromInputs({ requestInput: 'req', request: 'samples/gate.yaml', expectInput: 'exp', baseDir: dir });
      assert.deepEqual(
        checks.map((c) => [c.name, c.source]),
        [['gate', `${join(dir, 'samples', 'gate.yaml')}:1`]],
      );
    });
    it('a spec file with inline expectations too is refused, naming the expectation input', () => {
      assert.throws(
        () => checksFromInputs({ requestInput: 'req', request: 'samples/gate.yaml', expectInput: 'exp', expect: 'status 200', baseDir: dir }),
        oneLine('exp', /cannot be combined with the spec file given in 'req'/),
      );
    });
  });
});
