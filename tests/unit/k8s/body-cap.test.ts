/**
 * Kubernetes API bodies are read with a size cap: a server that answers with
 * an endless body (a JSON response, pod logs, the smoke test's page) cannot
 * make the task read forever or hold it all in memory.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { KubeBodyTooLargeError, KubeClient } from '../../../shared/k8s/client';
import { diagnoseWorkload, LOG_BYTES } from '../../../shared/k8s/diagnose';
import { explainKubeError } from '../../../shared/k8s/explain';
import { kubeConfigFromServiceAccount } from '../../../shared/k8s/kubeconfig';
import { smokeTest } from '../../../shared/k8s/smoke';

describe('k8s client: body size caps', function () {
  this.timeout(20_000);
  let server: http.Server;
  let client: KubeClient;
  const paths: string[] = [];

  /** Writes chunks until the client goes away (an endless body). */
  function endless(res: http.ServerResponse, contentType: string, first = ''): void {
    res.writeHead(200, { 'Content-Type': contentType });
    const chunk = Buffer.alloc(64 * 1024, 'x');
    if (first) res.write(first);
    const pump = (): void => {
      while (!res.destroyed && res.write(chunk));
      if (!res.destroyed) res.once('drain', pump);
    };
    res.on('close', () => undefined);
    pump();
  }

  before(async () => {
    server = http.createServer((req, res) => {
      paths.push(req.url ?? '');
      const url = new URL(req.url ?? '/', 'http://x');
      if (url.pathname === '/api/v1/namespaces/ns/pods') {
        res.writeHead(200, { 'Content-Type': 'application/json' });
        res.end(
          JSON.stringify({
            items: [
              {
                metadata: { name: 'p1' },
                status: { containerStatuses: [{ name: 'c', ready: false, restartCount: 0, state: { terminated: { reason: 'Error', exitCode: 1 } } }] },
              },
            ],
          }),
        );
        return;
      }
      if (url.pathname === '/api/v1/namespaces/ns/events') {
        res.writeHead(200, { 'Content-Type': 'application/json' });
        res.end('{"items":[]}');
        return;
      }
      if (url.pathname.endsWith('/log')) return endless(res, 'text/plain', 'first line\n');
      if (url.pathname.includes('/proxy/')) return endless(res, 'text/html', '<html>ok');
      return endless(res, 'application/json', '{"items":[');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as AddressInfo).port;
    client = new KubeClient(kubeConfigFromServiceAccount({ server: `http://127.0.0.1:${port}`, token: 't', skipTLSVerify: true }, 'test'));
  });
  after(() => {
    server.closeAllConnections();
    server.close();
  });

  it('an endless JSON response fails with a clear error once it passes the cap', async () => {
    await assert.rejects(client.request({ path: '/apis/apps/v1/namespaces/ns/deployments', maxBodyBytes: 1 << 20 }), (e: unknown) => {
      assert.ok(e instanceof KubeBodyTooLargeError, String(e));
      const explained = explainKubeError(e, 'reading Deployment/web');
      assert.match(explained.message, /answered with more than 1048576 bytes while reading Deployment\/web/);
      return true;
    });
  });

  it('the default cap applies to every request', async () => {
    await assert.rejects(client.request({ path: '/apis/apps/v1/namespaces/ns/deployments/web' }), KubeBodyTooLargeError);
  });

  it('the smoke test reads only the start of an endless page', async () => {
    const r = await smokeTest(client, { namespace: 'ns', service: 'web', port: 80, path: '/healthz', attempts: 1 });
    assert.equal(r.status, 200);
    assert.ok(r.body.startsWith('<html>ok'));
    assert.ok(r.body.length <= 300);
  });

  it('pod logs are asked for with limitBytes and capped on our side', async () => {
    const text = await client.getText('/api/v1/namespaces/ns/pods/p1/log', { container: 'c' }, 100_000);
    assert.equal(text.length, 100_000);
    const d = await diagnoseWorkload(client, {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'web', namespace: 'ns' },
      spec: { selector: { matchLabels: { app: 'web' } } },
    });
    assert.equal(d.logs.length, 1);
    const bytes = d.logs[0]?.lines.join('\n').length ?? 0;
    assert.ok(bytes <= LOG_BYTES, `${bytes} bytes of log kept`);
    assert.ok(
      paths.some((p) => p.includes('/log?') && p.includes(`limitBytes=${LOG_BYTES}`)),
      paths.join('\n'),
    );
  });
});
