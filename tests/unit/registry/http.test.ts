import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { configureProxy, readText, send } from '../../../shared/oci/registry/http';

async function listen(handler: http.RequestListener, host = '127.0.0.1'): Promise<{ server: http.Server; url: string }> {
  const server = http.createServer(handler);
  await new Promise<void>((r) => server.listen(0, host, r));
  const port = (server.address() as AddressInfo).port;
  return { server, url: `http://${host === '::1' ? '[::1]' : host}:${port}` };
}

describe('registry http client', () => {
  it('follows a blob redirect to another origin without sending Authorization there', async () => {
    const seen: Array<string | undefined> = [];
    const storage = await listen((req, res) => {
      seen.push(req.headers.authorization);
      res.end('blob-bytes');
    });
    const registry = await listen((req, res) => {
      seen.push(req.headers.authorization);
      if (req.url === '/v2/a/blobs/x') {
        res.writeHead(307, { Location: `${storage.url}/container/blob?sig=abc` });
        return res.end();
      }
      if (req.url === '/v2/a/blobs/same') {
        res.writeHead(302, { Location: '/v2/a/blobs/final' });
        return res.end();
      }
      res.end('same-origin');
    });
    try {
      const res = await send({ method: 'GET', url: new URL(`${registry.url}/v2/a/blobs/x`), headers: { Authorization: 'Bearer secret' } });
      assert.equal(await readText(res), 'blob-bytes');
      assert.deepEqual(seen, ['Bearer secret', undefined]);
      seen.length = 0;
      const same = await send({ method: 'GET', url: new URL(`${registry.url}/v2/a/blobs/same`), headers: { Authorization: 'Bearer secret' } });
      assert.equal(await readText(same), 'same-origin');
      assert.deepEqual(seen, ['Bearer secret', 'Bearer secret']);
    } finally {
      storage.server.closeAllConnections();
      registry.server.closeAllConnections();
      storage.server.close();
      registry.server.close();
    }
  });

  it('does not follow redirects for uploads (PUT/PATCH)', async () => {
    const s = await listen((_req, res) => {
      res.writeHead(307, { Location: '/elsewhere' });
      res.end();
    });
    try {
      const res = await send({ method: 'PUT', url: new URL(`${s.url}/v2/a/blobs/uploads/1`), body: Buffer.from('x') });
      assert.equal(res.status, 307);
      res.body.resume();
    } finally {
      s.server.closeAllConnections();
      s.server.close();
    }
  });

  it('caps the size of bodies read into memory', async () => {
    const s = await listen((_req, res) => res.end(Buffer.alloc(2048)));
    try {
      const res = await send({ method: 'GET', url: new URL(`${s.url}/big`) });
      await assert.rejects(readText(res, 1024), /larger than 1024 bytes/);
    } finally {
      s.server.closeAllConnections();
      s.server.close();
    }
  });

  it('goes through the configured proxy for remote hosts, directly for loopback', async () => {
    const proxied: string[] = [];
    const target = await listen((req, res) => res.end(`target saw ${req.url}`));
    // A forward proxy that sends every request to the local target, whatever host it names.
    const proxy = await listen((req, res) => {
      proxied.push(req.url ?? '');
      const t = new URL(target.url);
      const fwd = http.request({ host: t.hostname, port: t.port, path: new URL(req.url ?? '/').pathname, method: req.method, headers: req.headers }, (r) => {
        res.writeHead(r.statusCode ?? 502, r.headers);
        r.pipe(res);
      });
      req.pipe(fwd);
    });
    try {
      configureProxy({ proxyUrl: proxy.url });
      const res = await send({ method: 'GET', url: new URL('http://registry.example.test/v2/') });
      assert.equal(await readText(res), 'target saw /v2/');
      assert.deepEqual(proxied, ['http://registry.example.test/v2/']);
      const direct = await send({ method: 'GET', url: new URL(`${target.url}/v2/direct`) });
      assert.equal(await readText(direct), 'target saw /v2/direct');
      assert.equal(proxied.length, 1, 'loopback not proxied');
    } finally {
      configureProxy({});
      for (const s of [target, proxy]) {
        s.server.closeAllConnections();
        s.server.close();
      }
    }
  });
});
