// A WAN model in user space (this kernel has no netem): a TCP proxy on
// 127.0.0.1 that forwards to one target and shapes every connection on its
// own, the way a cloud object store or a registry far away looks to one
// client connection:
//   - a rate cap per connection and direction (bytes/s, a token bucket with
//     a small burst), so N parallel connections get N times the rate, as a
//     store that limits each connection does;
//   - a one-way latency added to every chunk in both directions (so a
//     request/response round trip costs 2x latency more), and to connection
//     set-up (the first bytes of a connection wait a full round trip, as a
//     TCP handshake would).
// It counts the bytes each way and the connections, so a benchmark can also
// say how many bytes a tool moved (the same proxy with no shaping is a byte
// counter).
//
// It is a model: no packet loss, no congestion control, no slow start, no TLS
// hand-shake cost. It shows what parallel ranged transfers buy against a
// per-connection limit and what each request round trip costs; it does not
// say what a given cloud region will deliver.
//
// Usage as a module: const p = await startShapingProxy({ targetPort, rateMBps: 25, latencyMs: 20 });
//                    ... connect to 127.0.0.1:p.port ...; p.stats(); await p.close();
// Usage as a command: node bench/lib/shaping-proxy.mjs --target 127.0.0.1:10000 [--port 0] [--rate-mbps 25] [--latency-ms 20]
import net from 'node:net';
import { fileURLToPath } from 'node:url';

const HIGH_WATER = 4 * 1024 * 1024;

/**
 * One direction of one connection: chunks leave no earlier than their arrival
 * plus the latency, and no faster than the rate (each chunk's send time is the
 * later of its due time and the previous chunk's end at the capped rate).
 */
class ShapedPipe {
  constructor(from, to, { bytesPerSec, latencyMs, count, extraFirstDelayMs }) {
    this.from = from;
    this.to = to;
    this.bytesPerSec = bytesPerSec;
    this.latencyMs = latencyMs;
    this.count = count;
    this.queue = [];
    this.queued = 0;
    this.nextFree = 0;
    this.timer = undefined;
    this.ended = false;
    this.firstDelay = extraFirstDelayMs;
    from.on('data', (chunk) => this.push(chunk));
    from.on('end', () => {
      this.ended = true;
      this.pump();
    });
  }

  push(chunk) {
    const now = performance.now();
    const due = now + this.latencyMs + this.firstDelay;
    this.firstDelay = 0;
    this.queue.push({ chunk, due });
    this.queued += chunk.length;
    if (this.queued > HIGH_WATER) this.from.pause();
    this.pump();
  }

  pump() {
    if (this.timer) return;
    const now = performance.now();
    while (this.queue.length > 0) {
      const head = this.queue[0];
      const start = Math.max(head.due, this.nextFree);
      if (start > now + 1) {
        this.timer = setTimeout(() => {
          this.timer = undefined;
          this.pump();
        }, start - now);
        return;
      }
      this.queue.shift();
      this.queued -= head.chunk.length;
      const cost = this.bytesPerSec > 0 ? (head.chunk.length / this.bytesPerSec) * 1000 : 0;
      // A burst allowance of ~50 ms at the rate: an idle connection does not bank more.
      this.nextFree = Math.max(this.nextFree, now - 50) + cost;
      this.count(head.chunk.length);
      if (!this.to.destroyed) this.to.write(head.chunk);
      if (this.queued <= HIGH_WATER / 2 && this.from.isPaused()) this.from.resume();
    }
    if (this.ended && this.queue.length === 0 && !this.to.destroyed) this.to.end();
  }
}

/**
 * @param {{ targetHost?: string, targetPort: number, port?: number, rateMBps?: number, latencyMs?: number }} options
 *   rateMBps: per-connection cap in each direction, in MB/s (10^6 bytes); 0 or absent: no cap.
 *   latencyMs: one-way added latency; 0 or absent: none.
 */
export async function startShapingProxy(options) {
  const targetHost = options.targetHost ?? '127.0.0.1';
  const bytesPerSec = (options.rateMBps ?? 0) * 1e6;
  const latencyMs = options.latencyMs ?? 0;
  const stats = { connections: 0, bytesUp: 0, bytesDown: 0 };
  const sockets = new Set();
  const server = net.createServer((client) => {
    stats.connections++;
    const upstream = net.connect(options.targetPort, targetHost);
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.setNoDelay(true);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => {
        client.destroy();
        upstream.destroy();
      });
    }
    // A reset tears both down; an orderly end travels through the pipe after its queued bytes.
    client.on('close', (hadError) => hadError && upstream.destroy());
    upstream.on('close', (hadError) => hadError && client.destroy());
    // The first request waits one extra round trip: the connection set-up.
    new ShapedPipe(client, upstream, { bytesPerSec, latencyMs, count: (n) => (stats.bytesUp += n), extraFirstDelayMs: 2 * latencyMs });
    new ShapedPipe(upstream, client, { bytesPerSec, latencyMs, count: (n) => (stats.bytesDown += n), extraFirstDelayMs: 0 });
  });
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', resolve);
  });
  const port = server.address().port;
  return {
    port,
    host: `127.0.0.1:${port}`,
    /** Bytes and connections since start (or since the last reset). */
    stats: () => ({ ...stats }),
    reset: () => {
      stats.connections = 0;
      stats.bytesUp = 0;
      stats.bytesDown = 0;
    },
    describe: () =>
      bytesPerSec > 0 || latencyMs > 0
        ? `WAN model: ${bytesPerSec > 0 ? `${options.rateMBps} MB/s per connection per direction` : 'no rate cap'}, ${latencyMs} ms one-way latency (${2 * latencyMs} ms RTT)`
        : 'no shaping (byte counter only)',
    close: () =>
      new Promise((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const args = process.argv.slice(2);
  const option = (n, d) => {
    const i = args.indexOf(n);
    return i >= 0 && args[i + 1] !== undefined ? args[i + 1] : d;
  };
  const target = option('--target', '');
  const m = /^([^:]+):(\d+)$/.exec(target);
  if (!m) {
    console.error('usage: node bench/lib/shaping-proxy.mjs --target HOST:PORT [--port N] [--rate-mbps MBps] [--latency-ms ms]');
    process.exit(2);
  }
  const proxy = await startShapingProxy({
    targetHost: m[1],
    targetPort: Number(m[2]),
    port: Number(option('--port', '0')),
    rateMBps: Number(option('--rate-mbps', '0')),
    latencyMs: Number(option('--latency-ms', '0')),
  });
  console.log(`shaping proxy on ${proxy.host} -> ${target}: ${proxy.describe()}`);
  process.on('SIGINT', () => {
    const s = proxy.stats();
    console.log(`\n${s.connections} connections, ${s.bytesUp} bytes up, ${s.bytesDown} bytes down`);
    void proxy.close().then(() => process.exit(0));
  });
}
