/**
 * Answers against expectations (tables), the failure block the log shows
 * (request, answer, expectation, diff; bodies cut; secrets masked) and the
 * transport-agnostic runner (tries, timeouts, cancellation, the one-line error).
 */
import assert from 'node:assert/strict';
import {
  checksFailedError,
  evaluate,
  lineDiff,
  outcomesMarkdown,
  parseSpec,
  renderBody,
  renderFailure,
  runChecks,
  type Check,
  type CheckAnswer,
  type CheckRequest,
} from '../../../shared/check';

const spec = (expect: string): Check =>
  parseSpec(`- name: c\n  request: { method: POST, path: /predict, body: { x: 1 } }\n  expect:\n${expect.replace(/^/gm, '    ')}\n`, 'spec.yaml', 'checks')[0]!;
const json = (status: number, body: unknown): CheckAnswer => ({
  status,
  headers: { 'content-type': 'application/json' },
  body: Buffer.from(JSON.stringify(body)),
});
const text = (status: number, body: string): CheckAnswer => ({ status, headers: { 'content-type': 'text/plain' }, body: Buffer.from(body) });

describe('check/evaluate', () => {
  const table: Array<[string, string, CheckAnswer, string[]]> = [
    ['default status passes 204', 'status: 2xx', text(204, ''), []],
    ['status range fails', 'status: 200-201', text(500, 'boom'), ['status: expected 200-201, got 500']],
    ['status list', 'status: [200, 404]', text(404, ''), []],
    ['string equality', 'json: { $.label: setosa }', json(200, { label: 'setosa' }), []],
    ['string mismatch', 'json: { $.label: setosa }', json(200, { label: 'virginica' }), ['$.label: expected "setosa", got "virginica"']],
    ['type matters: "1" is not 1', 'json: { $.n: 1 }', json(200, { n: '1' }), ['$.n: expected 1, got "1"']],
    ['nested path and index', 'json: { "$.scores[1].p": 0.5 }', json(200, { scores: [{ p: 0.1 }, { p: 0.5 }] }), []],
    ['negative index', 'json: { "$.a[-1]": 3 }', json(200, { a: [1, 2, 3] }), []],
    ['length of an array', 'json: { $.a.length: 3 }', json(200, { a: [1, 2, 3] }), []],
    [
      'missing member names what is there',
      'json: { $.lable: x }',
      json(200, { label: 'x', score: 1 }),
      ["$.lable: not in the answer ($ has no member 'lable' (it has label, score))"],
    ],
    ['index out of range', 'json: { "$.a[5]": 1 }', json(200, { a: [1] }), ['$.a[5]: not in the answer ($.a has 1 item(s), no [5])']],
    ['through a scalar', 'json: { $.a.b: 1 }', json(200, { a: 'x' }), ['$.a.b: not in the answer ($.a is a string, not an object)']],
    ['approx within tolerance', 'json: { $.p: { approx: 0.93, tolerance: 0.01 } }', json(200, { p: 0.935 }), []],
    ['approx at the edge', 'json: { $.p: { approx: 1, tolerance: 0.5 } }', json(200, { p: 1.5 }), []],
    ['approx outside', 'json: { $.p: { approx: 0.93, tolerance: 0.01 } }', json(200, { p: 0.95 }), ['$.p: expected 0.93 +- 0.01, got 0.95 (off by 0.02)']],
    ['approx of a string', 'json: { $.p: { approx: 1 } }', json(200, { p: '1' }), ['$.p: expected a number 1 +- 1e-9, got a string "1"']],
    ['matches', 'json: { $.m: { matches: "^iris-v\\\\d+$" } }', json(200, { m: 'iris-v3' }), []],
    ['matches fails', 'json: { $.m: { matches: "^iris" } }', json(200, { m: 'mnist' }), ['$.m: "mnist" does not match /^iris/']],
    ['deep equality of objects', 'json: { $.o: { a: [1, { b: 2 }] } }', json(200, { o: { a: [1, { b: 2 }] } }), []],
    ['body regex', 'match: /"label":\\s*"set/', text(200, '{"label": "setosa"}'), []],
    ['body regex fails', 'match: [/ok/, /fine/i]', text(200, 'OK, FINE'), ['body: does not match /ok/']],
    ['not JSON', 'json: { $.a: 1 }', text(200, '<html>'), ['the answer is not JSON (content-type text/plain, 6 bytes: "<html>"), so $.a cannot be read']],
    [
      'all failures reported',
      'status: 200\njson: { $.a: 1, $.b: 2 }\nmatch: /z/',
      json(500, { a: 0, b: 2 }),
      ['status: expected 200, got 500', '$.a: expected 1, got 0', 'body: does not match /z/'],
    ],
  ];
  for (const [title, expect, answer, failures] of table) {
    it(title, () => {
      const r = evaluate(spec(expect), answer);
      assert.deepEqual(r.failures, failures);
      assert.equal(r.passed, failures.length === 0);
    });
  }
});

describe('check/render', () => {
  it('lineDiff marks expected-only and answer-only lines', () => {
    assert.deepEqual(lineDiff('a\nb\nc', 'a\nx\nc'), ['  a', '- b', '+ x', '  c']);
    assert.deepEqual(lineDiff('', 'a'), ['- ', '+ a']);
  });

  const bodies: Array<[string, Buffer | undefined, number, string]> = [
    ['empty', undefined, 100, '(empty)'],
    ['JSON is pretty-printed', Buffer.from('{"a":1}'), 100, '{\n  "a": 1\n}'],
    ['text as is', Buffer.from('plain'), 100, 'plain'],
    ['cut', Buffer.from('x'.repeat(50)), 10, `${'x'.repeat(10)}\n... (40 more bytes not shown)`],
    ['binary', Buffer.from([0, 1, 2, 0xff, 0xfe, 3, 4, 5]), 100, '(8 bytes of binary data)'],
  ];
  for (const [title, body, max, expected] of bodies) it(`renderBody: ${title}`, () => assert.equal(renderBody(body, max), expected));

  it('renderFailure: request, answer, expectation and a diff of structured values; secrets masked, credential headers hidden, body cut', () => {
    const check = spec('status: 200\njson:\n  $.o: { label: setosa, p: 1 }');
    check.request.headers.authorization = 'Bearer abc';
    check.request.headers['x-key'] = 's3cr3t';
    const big = { o: { label: 'virginica', p: 1 }, pad: 'y'.repeat(5000), token: 's3cr3t' };
    const answer = json(200, big);
    const r = evaluate(check, answer);
    const out = renderFailure({ check, answer, details: r.details }, { mask: (s) => s.replaceAll('s3cr3t', '***'), maxBodyBytes: 200 });
    assert.ok(!out.includes('s3cr3t') && !out.includes('Bearer abc'), out);
    assert.match(out, /^Check 'c' \(spec\.yaml:1\) failed\.$/m);
    assert.match(out, /^ {2}Request: POST \/predict$/m);
    assert.match(out, /^ {4}authorization: \*\*\*$/m);
    assert.match(out, /^ {4}\{\n {6}"x": 1\n {4}\}$/m);
    assert.match(out, /^ {2}Answer: HTTP 200, \d+ bytes$/m);
    assert.match(out, /more bytes not shown/);
    assert.match(out, /^ {2}Expected: status 200; \$\.o == \{"label":"setosa","p":1\}$/m);
    assert.match(out, /^ {4}- \$\.o: expected \{"label":"setosa","p":1\}, got \{"label":"virginica","p":1\}$/m);
    assert.match(out, /^ {8}- {3}"label": "setosa",\n {8}\+ {3}"label": "virginica",$/m);
  });

  it('renderFailure without an answer says why', () => {
    const check = spec('status: 200');
    const out = renderFailure({ check, error: 'connect ECONNREFUSED 127.0.0.1:1', details: [{ message: 'no answer' }] });
    assert.match(out, /^ {2}Answer: none \(connect ECONNREFUSED 127\.0\.0\.1:1\)$/m);
  });
});

describe('check/run', () => {
  const checks = parseSpec(
    '- name: health\n  request: { path: /healthz }\n- name: predict\n  request: { method: POST, path: /predict, body: "x" }\n  expect: { json: { $.label: a } }\n',
    'spec.yaml',
    'checks',
  );

  it('sends each check and evaluates its answer, in order', async () => {
    const seen: string[] = [];
    const outcomes = await runChecks(checks, async (req: CheckRequest) => {
      seen.push(`${req.method} ${req.path} ${req.body?.toString() ?? ''}`);
      return req.path === '/healthz' ? text(200, 'ok') : json(200, { label: 'b' });
    });
    assert.deepEqual(seen, ['GET /healthz ', 'POST /predict x']);
    assert.deepEqual(
      outcomes.map((o) => [o.check.name, o.passed, o.failures]),
      [
        ['health', true, []],
        ['predict', false, ['$.label: expected "a", got "b"']],
      ],
    );
    const err = checksFailedError(outcomes, 'the image');
    assert.equal(err?.code, 'CheckFailed');
    assert.match(err!.message, /^1 of 2 check\(s\) failed on the image: 'predict' \(\$\.label: expected "a", got "b"\): see the request/);
    assert.equal(checksFailedError(outcomes.slice(0, 1), 'x'), undefined);
    const md = outcomesMarkdown(outcomes);
    assert.match(md, /\| ✅ pass \| health \| `GET \/healthz` \| HTTP 200 \| {2}\|/);
    assert.match(md, /\| ❌ fail \| predict \| `POST \/predict` \| HTTP 200 \| \$\.label: expected "a", got "b" \|/);
  });

  it('tries again after a transport failure and a 503 while attempts remain', async () => {
    const answers: Array<CheckAnswer | Error> = [new Error('connect ECONNREFUSED'), text(503, 'warming up'), text(200, 'ok')];
    const outcomes = await runChecks(
      checks.slice(0, 1),
      async () => {
        const a = answers.shift()!;
        if (a instanceof Error) throw a;
        return a;
      },
      { attempts: 3, delayMs: 1 },
    );
    assert.deepEqual([outcomes[0]!.passed, outcomes[0]!.attempts], [true, 3]);
  });

  it('no answer after the last attempt is a failure naming the transport error; a timeout says so', async () => {
    const [refused] = await runChecks(checks.slice(0, 1), async () => Promise.reject(new Error('connect ECONNREFUSED 127.0.0.1:9')), {
      attempts: 2,
      delayMs: 1,
    });
    assert.deepEqual([refused!.passed, refused!.error, refused!.attempts], [false, 'connect ECONNREFUSED 127.0.0.1:9', 2]);
    const [slow] = await runChecks(
      checks.slice(0, 1),
      (_req, signal) => new Promise<CheckAnswer>((_resolve, reject) => signal.addEventListener('abort', () => reject(new Error('aborted')))),
      { timeoutMs: 50 },
    );
    assert.equal(slow!.failures[0], 'no answer to GET /healthz: no answer within 50 ms');
  });

  it('cancellation stops the run with the abort reason', async () => {
    const ac = new AbortController();
    const reason = new Error('cancelled');
    let sent = 0;
    await assert.rejects(
      runChecks(
        checks,
        async (_req, signal) => {
          sent++;
          ac.abort(reason);
          assert.ok(signal.aborted);
          throw new Error('aborted');
        },
        { signal: ac.signal },
      ),
      (e) => e === reason,
    );
    assert.equal(sent, 1);
  });
});
