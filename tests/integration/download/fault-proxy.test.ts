/**
 * The fault proxy itself: per-request decisions on keep-alive connections,
 * request bodies (Content-Length and chunked) for PATCH/PUT uploads, and the
 * fault kinds, against a real echo server.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { startFaultProxy, type FaultProxy } from '../../helpers/fault-proxy';

interface Reply {
  status: number;
  body: string;
  headers: http.IncomingHttpHeaders;
}

function send(url: string, method: string, agent: http.Agent, body?: Buffer, chunked = false): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string | number> = {};
    if (body && !chunked) headers['content-length'] = body.length;
    const req = http.request(url, { method, agent, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString(), headers: res.headers }));
      res.on('error', reject);
    });
    req.on('error', reject);
    if (body && chunked) Readable.from([body.subarray(0, 1000), body.subarray(1000, 70_000), body.subarray(70_000)]).pipe(req);
    else req.end(body);
  });
}

describe('fault proxy', () => {
  let server: http.Server;
  let proxy: FaultProxy;
  let agent: http.Agent;
  let seen: { method: string; sha: string }[];

  before(async () => {
    seen = [];
    // Echo server: answers with the method and the sha256 of the body it received; large GET bodies on request.
    server = http.createServer((req, res) => {
      const h = createHash('sha256');
      req.on('data', (c: Buffer) => h.update(c));
      req.on('end', () => {
        const sha = h.digest('hex');
        seen.push({ method: req.method ?? '', sha });
        if (req.url === '/big') {
          res.writeHead(200, { 'content-length': 1024 * 1024 });
          res.end(Buffer.alloc(1024 * 1024, 7));
          return;
        }
        res.writeHead(202, { 'content-type': 'text/plain' });
        res.end(`${req.method} ${sha}`);
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    proxy = await startFaultProxy({ targetHost: '127.0.0.1', targetPort: (server.address() as AddressInfo).port });
  });
  after(async () => {
    await proxy.stop();
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  });
  beforeEach(() => {
    agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    proxy.setFaults({});
    proxy.resetStats();
    seen = [];
  });
  afterEach(() => agent.destroy());

  it('forwards requests with bodies unchanged, several on one keep-alive connection', async () => {
    const body = randomBytes(200_000);
    const sha = createHash('sha256').update(body).digest('hex');
    assert.deepEqual(await send(`${proxy.url}/u`, 'PATCH', agent, body).then((r) => [r.status, r.body]), [202, `PATCH ${sha}`]);
    assert.deepEqual(await send(`${proxy.url}/u`, 'PATCH', agent, body, true).then((r) => [r.status, r.body]), [202, `PATCH ${sha}`]);
    assert.equal((await send(`${proxy.url}/u`, 'GET', agent)).status, 202);
    assert.equal(proxy.stats.connections, 1);
    assert.equal(proxy.stats.requests, 3);
  });

  it('answers the next K requests with 503 without forwarding them, then forwards again', async () => {
    proxy.setFaults({ failRequests: { count: 2, status: 503 } });
    const body = randomBytes(100_000);
    assert.equal((await send(`${proxy.url}/u`, 'PATCH', agent, body)).status, 503);
    assert.equal((await send(`${proxy.url}/u`, 'PATCH', agent, body, true)).status, 503);
    const ok = await send(`${proxy.url}/u`, 'PATCH', agent, body);
    assert.equal(ok.status, 202);
    assert.equal(seen.length, 1, 'the faulted requests never reached the server');
    assert.equal(proxy.stats.injected, 2);
  });

  it('sends 429 with Retry-After, and can fault only some methods', async () => {
    proxy.setFaults({ failRequests: { count: 1, status: 429, retryAfterSeconds: 3 }, methods: ['PUT'] });
    assert.equal((await send(`${proxy.url}/u`, 'GET', agent)).status, 202);
    const r = await send(`${proxy.url}/u`, 'PUT', agent, Buffer.from('x'));
    assert.equal(r.status, 429);
    assert.equal(r.headers['retry-after'], '3');
  });

  it('faults a request that follows others on the same keep-alive connection', async () => {
    assert.equal((await send(`${proxy.url}/u`, 'GET', agent)).status, 202);
    proxy.setFaults({ failRequests: { count: 1 } });
    assert.equal((await send(`${proxy.url}/u`, 'GET', agent)).status, 503);
  });

  it('cuts a response mid-body', async () => {
    proxy.setFaults({ cutResponses: { count: 1, afterBytes: 100_000 } });
    await assert.rejects(send(`${proxy.url}/big`, 'GET', agent), /aborted|ECONNRESET|socket hang up/);
    assert.equal(proxy.stats.cuts, 1);
    const r = await send(`${proxy.url}/big`, 'GET', agent);
    assert.equal(r.body.length, 1024 * 1024);
  });

  it('always fails in alwaysFail mode', async () => {
    proxy.setFaults({ alwaysFail: true });
    for (let i = 0; i < 3; i++) assert.equal((await send(`${proxy.url}/u`, 'POST', agent, Buffer.from('x'))).status, 503);
    assert.equal(seen.length, 0);
    assert.equal(proxy.stats.injected, 3);
  });
});
