/**
 * The prediction check's transport, against a scripted API server: the service
 * proxy URL (namespace, service, port, path and query), the request's method,
 * body and content type passed on, retries while the proxy answers 503, and
 * the outcome with its one-line error.
 */
import assert from 'node:assert/strict';
import { checksFromInputs } from '../../../shared/check';
import type { Logger } from '../../../shared/log';
import { predictionCheck, servicePort } from '../../../shared/k8s/prediction';
import { ScriptedApiServer, status, type Answer } from './scripted-apiserver';

describe('predictionCheck through the service proxy', () => {
  let server: ScriptedApiServer;
  beforeEach(async () => {
    server = await ScriptedApiServer.start();
  });
  afterEach(() => server.stop());

  const answers = (...list: Answer[]): void => {
    let i = 0;
    const answer = () => list[Math.min(i++, list.length - 1)] as Answer;
    server.routes = ['GET', 'POST'].map((method) => ({ method, path: /\/proxy\//, answer }));
  };
  const lines: string[] = [];
  const logger: Logger = { info: (m) => lines.push(m), warn: (m) => lines.push(m), debug: () => {} };
  const checks = (request: string, expect: string) =>
    checksFromInputs({ requestInput: 'smokeTestRequest', request, expectInput: 'smokeTestExpect', expect, baseDir: '/' });

  it('POSTs the body with its content type to /api/v1/namespaces/{ns}/services/{svc}:{port}/proxy{path}?query', async () => {
    answers({ status: 200, body: { label: 'tabby' } });
    const r = await predictionCheck(server.client(), {
      namespace: 'my ns',
      service: 'resnet-canary',
      port: 'http',
      checks: checks('POST /v1/predict?explain=1 {"x": [1, 2]}', '$.label == "tabby"'),
      logger,
      what: 'the canary',
      delayMs: 1,
    });
    assert.equal(r.error, undefined);
    assert.equal(r.outcomes[0]?.passed, true);
    const seen = server.seen[0];
    assert.equal(seen?.method, 'POST');
    assert.equal(seen?.path, '/api/v1/namespaces/my%20ns/services/resnet-canary:http/proxy/v1/predict');
    assert.deepEqual(seen?.query, { explain: '1' });
    assert.equal(seen?.contentType, 'application/json');
    assert.equal(seen?.body, '{"x": [1, 2]}');
  });

  it('tries again while the proxy has no endpoints (503), then evaluates the answer: a wrong prediction is one line', async () => {
    answers(status(503, 'ServiceUnavailable', 'no endpoints available for service "resnet-canary"'), { status: 200, body: { label: 'leopard' } });
    const r = await predictionCheck(server.client(), {
      namespace: 'ml',
      service: 'resnet-canary',
      port: 80,
      checks: checks('GET /v1/predict', '$.label == "tabby"'),
      logger,
      what: 'the canary Deployment/resnet-canary',
      delayMs: 1,
    });
    assert.equal(server.seen.length, 2);
    assert.ok(r.error);
    assert.match(
      r.error.message,
      /^1 of 1 check\(s\) failed on the canary Deployment\/resnet-canary: 'GET \/v1\/predict' \(\$\.label: expected "tabby", got "leopard"\)/,
    );
    assert.ok(!r.error.message.includes('\n'));
    assert.ok(lines.some((l) => l.includes('Expected: status 2xx; $.label == "tabby"')));
  });

  it('servicePort: the first port by name, else by number, else 80', () => {
    assert.equal(servicePort({ spec: { ports: [{ name: 'http', port: 80 }] } }), 'http');
    assert.equal(servicePort({ spec: { ports: [{ port: 8080 }] } }), 8080);
    assert.equal(servicePort({ spec: {} }), 80);
  });
});
