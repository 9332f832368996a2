/**
 * A tiny real HTTP object server with Range and If-Match support, and a
 * ModelStore over it (plain node:http, keep-alive). It lets the download
 * engine and the fault proxy be tested over real sockets without depending
 * on a particular storage emulator.
 *
 *   const server = await startRangeServer({ 'm.bin': '/tmp/m.bin' });
 *   const store = new RangeHttpStore(server.url);
 *   const obj = await store.head('m.bin');
 */
import { createReadStream, statSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Readable } from 'node:stream';
import type { ModelStore, RangeOptions, StoredObject } from '../../shared/storage/store';

export interface RangeServer {
  port: number;
  url: string;
  /** Range GETs served. */
  gets: number;
  stop(): Promise<void>;
}

function etagOf(file: string): string {
  const s = statSync(file);
  return `${s.size.toString(16)}-${Math.floor(s.mtimeMs).toString(16)}`;
}

/** Serve `files` (key -> local path) on 127.0.0.1. */
export async function startRangeServer(files: Record<string, string>): Promise<RangeServer> {
  const state = { gets: 0 };
  const server = http.createServer((req, res) => {
    const key = decodeURIComponent((req.url ?? '/').slice(1).split('?')[0] ?? '');
    const file = files[key];
    if (!file) {
      res.writeHead(404).end('not found');
      return;
    }
    const size = statSync(file).size;
    const etag = etagOf(file);
    const ifMatch = req.headers['if-match'];
    if (ifMatch && ifMatch.replace(/"/g, '') !== etag) {
      res.writeHead(412).end('precondition failed');
      return;
    }
    if (req.method === 'HEAD') {
      res.writeHead(200, { 'content-length': size, etag: `"${etag}"` }).end();
      return;
    }
    state.gets++;
    const m = /^bytes=(\d+)-(\d+)$/.exec(req.headers.range ?? '');
    if (!m) {
      res.writeHead(200, { 'content-length': size, etag: `"${etag}"` });
      createReadStream(file).pipe(res);
      return;
    }
    const start = Number(m[1]);
    const end = Math.min(Number(m[2]), size - 1);
    if (start >= size || start > end) {
      res.writeHead(416, { 'content-range': `bytes */${size}` }).end();
      return;
    }
    res.writeHead(206, { 'content-length': end - start + 1, 'content-range': `bytes ${start}-${end}/${size}`, etag: `"${etag}"` });
    createReadStream(file, { start, end, highWaterMark: 256 * 1024 }).pipe(res);
  });
  server.keepAliveTimeout = 30_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const port = (server.address() as AddressInfo).port;
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    get gets() {
      return state.gets;
    },
    async stop() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** A ModelStore reading objects from a {@link startRangeServer} (directly or through a proxy). */
export class RangeHttpStore implements ModelStore {
  readonly kind = 's3' as const;
  private readonly agent = new http.Agent({ keepAlive: true, maxSockets: 64 });

  constructor(private readonly baseUrl: string) {}

  uriOf(key: string): string {
    return `${this.baseUrl}/${key}`;
  }

  async *list(): AsyncIterable<StoredObject> {
    // Not needed by the download tests.
  }

  async head(key: string): Promise<StoredObject | undefined> {
    const res = await this.request('HEAD', key, {});
    res.resume();
    if (res.statusCode === 404) return undefined;
    if (res.statusCode !== 200) throw Object.assign(new Error(`HEAD ${key}: HTTP ${res.statusCode}`), { statusCode: res.statusCode });
    return { key, size: Number(res.headers['content-length']), lastModified: new Date(), etag: String(res.headers.etag ?? '').replace(/"/g, '') };
  }

  async readRange(key: string, start: number, end: number, options: RangeOptions = {}): Promise<Readable> {
    const headers: Record<string, string> = { range: `bytes=${start}-${end - 1}` };
    if (options.ifMatch) headers['if-match'] = `"${options.ifMatch}"`;
    const res = await this.request('GET', key, headers, options.signal);
    if (res.statusCode !== 206 && res.statusCode !== 200) {
      res.resume();
      const err = Object.assign(new Error(`GET ${key}: HTTP ${res.statusCode}`), { statusCode: res.statusCode });
      const ra = Number(res.headers['retry-after']);
      if (Number.isFinite(ra)) Object.assign(err, { retryAfterMs: ra * 1000 });
      throw err;
    }
    return res;
  }

  destroy(): void {
    this.agent.destroy();
  }

  private request(method: string, key: string, headers: Record<string, string>, signal?: AbortSignal): Promise<http.IncomingMessage> {
    return new Promise((resolve, reject) => {
      const req = http.request(`${this.baseUrl}/${encodeURIComponent(key)}`, { method, headers, agent: this.agent, signal }, resolve);
      req.on('error', reject);
      req.end();
    });
  }
}
