/**
 * The WAN model the benchmarks put between a tool and a server
 * (bench/lib/shaping-proxy.mjs): it must pass bytes through unchanged, count
 * them, cap each connection (never faster than the cap: a lower bound on time
 * holds on any machine, however loaded; an upper bound would not), and add
 * its latency to a round trip.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';

interface Proxy {
  host: string;
  stats(): { connections: number; bytesUp: number; bytesDown: number };
  close(): Promise<void>;
}
type Start = (o: { targetPort: number; rateMBps?: number; latencyMs?: number }) => Promise<Proxy>;

describe('bench shaping proxy (WAN model)', function () {
  this.timeout(30_000);
  const body = Buffer.alloc(3_000_000);
  for (let i = 0; i < body.length; i++) body[i] = (i * 7919) % 251;
  let server: http.Server;
  let start: Start;
  before(async () => {
    start = ((await import(join(__dirname, '..', '..', '..', 'bench', 'lib', 'shaping-proxy.mjs'))) as { startShapingProxy: Start }).startShapingProxy;
    server = http.createServer((req, res) => {
      if (req.url === '/echo') req.pipe(res);
      else res.end(body);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  });
  after(() => new Promise<void>((r) => server.close(() => r())));
  const port = () => (server.address() as AddressInfo).port;
  const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

  it('passes the bytes through unchanged both ways and counts them', async () => {
    const proxy = await start({ targetPort: port() });
    try {
      const down = Buffer.from(await (await fetch(`http://${proxy.host}/`)).arrayBuffer());
      assert.equal(sha(down), sha(body));
      const up = Buffer.from(await (await fetch(`http://${proxy.host}/echo`, { method: 'POST', body: body.subarray(0, 100_000) })).arrayBuffer());
      assert.equal(sha(up), sha(body.subarray(0, 100_000)));
      const s = proxy.stats();
      assert.ok(s.bytesDown > body.length + 100_000 && s.bytesDown < body.length + 101_000, `bytesDown ${s.bytesDown}`);
      assert.ok(s.bytesUp > 100_000 && s.bytesUp < 101_000, `bytesUp ${s.bytesUp}`);
    } finally {
      await proxy.close();
    }
  });

  it('never moves a connection faster than its cap, alone or beside others', async () => {
    const proxy = await start({ targetPort: port(), rateMBps: 6 });
    try {
      let t = performance.now();
      await (await fetch(`http://${proxy.host}/`)).arrayBuffer();
      const one = (performance.now() - t) / 1000;
      // 3 MB at 6 MB/s: at least 0.5 s less the 50 ms burst allowance.
      assert.ok(one >= 0.44, `one connection took ${one.toFixed(2)} s, faster than the cap allows`);
      t = performance.now();
      // Separate agents: separate connections.
      await Promise.all(
        [1, 2, 3].map(async () => {
          const res = await new Promise<http.IncomingMessage>((r) => http.get(`http://${proxy.host}/`, { agent: new http.Agent() }, r));
          for await (const _ of res) void _;
        }),
      );
      const three = (performance.now() - t) / 1000;
      assert.ok(three >= 0.44, `three connections took ${three.toFixed(2)} s`);
      assert.ok(proxy.stats().connections >= 4);
    } finally {
      await proxy.close();
    }
  });

  it('adds its latency to each round trip', async () => {
    const proxy = await start({ targetPort: port(), latencyMs: 100 });
    try {
      const t = performance.now();
      await (await fetch(`http://${proxy.host}/echo`, { method: 'POST', body: 'x' })).arrayBuffer();
      // One-way 100 ms each way plus a round trip of connection set-up.
      assert.ok(performance.now() - t >= 390, `round trip took ${(performance.now() - t).toFixed(0)} ms`);
    } finally {
      await proxy.close();
    }
  });
});
