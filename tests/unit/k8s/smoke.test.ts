/**
 * smokeTest through the service proxy, against a scripted API server: the
 * URL it asks for, success on 2xx, retries while endpoints lag, giving up
 * early on 401/403, a failure message carrying the status and a snippet of
 * the body, and an unreachable or silent server (timeouts) explained.
 */
import assert from 'node:assert/strict';
import { UserError } from '../../../shared/errors';
import { smokeTest } from '../../../shared/k8s/smoke';
import { ScriptedApiServer, status, type Answer } from './scripted-apiserver';

const PROXY = '/api/v1/namespaces/ml/services/web:http/proxy/healthz';

describe('smokeTest', () => {
  let server: ScriptedApiServer;
  beforeEach(async () => {
    server = await ScriptedApiServer.start();
  });
  afterEach(() => server.stop());

  const answers = (...list: Answer[]): void => {
    let i = 0;
    server.routes = [{ path: /\/proxy\//, answer: () => list[Math.min(i++, list.length - 1)] as Answer }];
  };
  const opts = { namespace: 'ml', service: 'web', port: 'http', path: 'healthz', attempts: 3, delayMs: 1 };

  it('GETs the service proxy path (leading slash added) and returns the 2xx status and body', async () => {
    answers({ status: 200, body: '{"status":"ok"}', contentType: 'application/json' });
    const r = await smokeTest(server.client(), opts);
    assert.deepEqual(r, { status: 200, body: '{"status":"ok"}' });
    assert.equal(server.seen.length, 1);
    assert.equal(server.seen[0]?.path, PROXY);
  });

  it('encodes the namespace, service and port, and keeps a path that already starts with /', async () => {
    answers({ status: 204 });
    await smokeTest(server.client(), { ...opts, namespace: 'my ns', port: 8080, path: '/v1/models/m' });
    assert.equal(server.seen[0]?.path, '/api/v1/namespaces/my%20ns/services/web:8080/proxy/v1/models/m');
  });

  it('retries a non-2xx answer (endpoints lagging) and succeeds when the service answers', async () => {
    answers(status(503, 'ServiceUnavailable', 'no endpoints available for service "web"'), { status: 200, body: 'ready' });
    const r = await smokeTest(server.client(), opts);
    assert.equal(r.status, 200);
    assert.equal(server.seen.length, 2);
  });

  it('fails after every attempt with the last status and a one-line snippet of the body', async () => {
    answers({ status: 500, body: 'model\n   not   loaded' });
    await assert.rejects(smokeTest(server.client(), opts), (e: unknown) => {
      assert.ok(e instanceof UserError);
      assert.equal(e.code, 'SmokeTestFailed');
      assert.match(
        e.message,
        /^Smoke test failed: GET \/healthz on service web \(namespace ml\) through the API server proxy returned HTTP 500 \(model not loaded\)/,
      );
      assert.match(e.message, /smokeTestPath/);
      return true;
    });
    assert.equal(server.seen.length, 3, 'attempts are honoured');
  });

  it('does not put a huge body into the message', async () => {
    answers({ status: 502, body: 'x'.repeat(100_000) });
    await assert.rejects(smokeTest(server.client(), { ...opts, attempts: 1 }), (e: unknown) => {
      assert.ok(e instanceof UserError);
      assert.ok(e.message.length < 600, `message is ${e.message.length} characters`);
      return true;
    });
  });

  it('stops at once on 401 or 403 (retrying cannot help)', async () => {
    for (const code of [401, 403]) {
      server.seen.length = 0;
      answers(status(code, code === 401 ? 'Unauthorized' : 'Forbidden', 'services "web" is forbidden'));
      await assert.rejects(smokeTest(server.client(), opts), (e: unknown) => e instanceof UserError && e.message.includes(`HTTP ${code}`));
      assert.equal(server.seen.length, 1, `one request on ${code}`);
    }
  });

  it('retries a dropped connection and succeeds', async () => {
    answers('reset', { status: 200, body: 'ok' });
    const r = await smokeTest(server.client(), opts);
    assert.equal(r.body, 'ok');
    assert.equal(server.seen.length, 2);
  });

  it('a server that never answers: each attempt times out, then the failure is explained as an unreachable cluster', async () => {
    answers('hang');
    const started = Date.now();
    await assert.rejects(smokeTest(server.client({ requestTimeoutMs: 200 }), { ...opts, attempts: 2 }), (e: unknown) => {
      assert.ok(e instanceof UserError);
      assert.equal(e.code, 'ClusterUnreachable');
      assert.match(e.message, /while running the smoke test GET \/healthz on service web/);
      return true;
    });
    assert.equal(server.seen.length, 2);
    assert.ok(Date.now() - started < 10_000);
  });

  it('a closed port: explained as an unreachable cluster after the attempts', async () => {
    const client = server.client();
    await server.stop();
    server = await ScriptedApiServer.start(); // for afterEach
    await assert.rejects(
      smokeTest(client, { ...opts, attempts: 2 }),
      (e: unknown) => e instanceof UserError && e.code === 'ClusterUnreachable' && /ECONNREFUSED/.test(e.message),
    );
  });
});
