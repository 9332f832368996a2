/**
 * A fault-injecting TCP proxy for tests, on 127.0.0.1 between an HTTP/1.1
 * client and a real server. It parses just enough of the client's side of
 * the conversation (request line, headers, Content-Length or chunked bodies)
 * to find request boundaries, so faults are decided PER REQUEST, also on
 * keep-alive connections, and for any method (GET, HEAD, PUT, PATCH, POST).
 *
 * Faults (see {@link Faults}); each counter is consumed by the requests it hits:
 * - failRequests: answer the next K requests with a status (503, or 429 with
 *   Retry-After) instead of forwarding them; the request body is swallowed,
 *   the response says `Connection: close` and the connection is closed;
 * - cutResponses: forward the next K requests, then reset the connection
 *   after N bytes of their response (mid-body);
 * - cutRequests: forward the head and the first N bytes of the body of the
 *   next K requests that have a body, then close the server side (the server
 *   receives those N bytes, then end of stream mid-body) and reset the client;
 * - truncateRequests: the server is sent a complete request of the first N
 *   body bytes of the next K requests with a body (Content-Length and
 *   Content-Range rewritten) and its answer is relayed: to the client, a
 *   server that stopped reading mid-body and answered with what it kept (an
 *   upload's Range). The rest of the body is discarded, the connection closed;
 * - stallResponses: forward the next K requests, then stop sending their
 *   response after N bytes while holding the connection open;
 * - alwaysFail: every request gets the status (a server that never recovers).
 *
 *   const proxy = await startFaultProxy({ targetHost: '127.0.0.1', targetPort: 9000 });
 *   proxy.setFaults({ failRequests: { count: 3, status: 503 } });
 *   proxy.setFaults({ failRequests: { count: { HEAD: 1, PATCH: 2 }, status: 429 } }); // per method
 *   ... client uses proxy.url ...
 *   await proxy.stop();
 */
import net from 'node:net';

export interface Faults {
  /** count: for every faulted request, or per method (`{ PATCH: 2, PUT: 1 }`). */
  failRequests?: { count: number | Record<string, number>; status?: number; retryAfterSeconds?: number; body?: string; contentType?: string };
  /** exact: end the connection cleanly after the bytes instead of resetting it, so the client receives all of them. */
  cutResponses?: { count: number; afterBytes: number; exact?: boolean };
  /** count: for every request with a body, or per method. */
  cutRequests?: { count: number | Record<string, number>; afterBytes: number };
  truncateRequests?: { count: number | Record<string, number>; afterBytes: number };
  stallResponses?: { count: number; afterBytes: number };
  alwaysFail?: boolean | { status?: number; retryAfterSeconds?: number };
  /** Only requests whose method matches are faulted (default: all). */
  methods?: string[];
}

export interface ProxyStats {
  connections: number;
  requests: number;
  /** Requests per method. */
  methods: Record<string, number>;
  injected: number;
  /** Injected failures per method. */
  injectedMethods: Record<string, number>;
  /** Responses cut (cutResponses). */
  cuts: number;
  /** Request bodies cut (cutRequests), in total and per method. */
  requestCuts: number;
  requestCutMethods: Record<string, number>;
  /** Every request head seen, in order: method, target, lower-case headers, arrival time (ms). */
  log: Array<{ method: string; target: string; headers: Record<string, string>; at: number }>;
  stalls: number;
  forwarded: number;
  /** Response bytes sent to clients. */
  bytesToClient: number;
}

export interface FaultProxy {
  port: number;
  /** http://127.0.0.1:<port> */
  url: string;
  setFaults(f: Faults): void;
  readonly stats: ProxyStats;
  resetStats(): void;
  stop(): Promise<void>;
}

const REASONS: Record<number, string> = {
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
};

interface RequestHead {
  method: string;
  target: string;
  headers: Map<string, string>;
}

function parseHead(text: string): RequestHead {
  const lines = text.split('\r\n');
  const [method = '', target = ''] = (lines[0] ?? '').split(' ');
  const headers = new Map<string, string>();
  for (const line of lines.slice(1)) {
    const i = line.indexOf(':');
    if (i > 0) headers.set(line.slice(0, i).trim().toLowerCase(), line.slice(i + 1).trim());
  }
  return { method, target, headers };
}

/** The request head with its body announced as its first `n` bytes (Content-Length, Content-Range `start-end`). */
function truncatedHead(head: Buffer, n: number): Buffer {
  const lines = head.toString('latin1').split('\r\n');
  const out = lines.map((line) => {
    const i = line.indexOf(':');
    const name = i > 0 ? line.slice(0, i).trim().toLowerCase() : '';
    if (name === 'content-length') return `Content-Length: ${n}`;
    const m = name === 'content-range' ? /^(bytes[ =])?(\d+)-\d+/.exec(line.slice(i + 1).trim()) : null;
    if (m) return `Content-Range: ${m[1] ?? ''}${m[2]}-${Number(m[2]) + n - 1}`;
    return line;
  });
  return Buffer.from(out.join('\r\n'), 'latin1');
}

/** Consumes one fault of a counter (a total, or per method); false when none is left. */
function take(fault: { count: number | Record<string, number> }, method: string): boolean {
  if (typeof fault.count === 'number') {
    if (fault.count <= 0) return false;
    fault.count--;
    return true;
  }
  const left = fault.count[method] ?? 0;
  if (left <= 0) return false;
  fault.count[method] = left - 1;
  return true;
}

export async function startFaultProxy(options: { targetHost: string; targetPort: number }): Promise<FaultProxy> {
  let faults: Faults = {};
  const fresh = (): ProxyStats => ({
    connections: 0,
    requests: 0,
    methods: {},
    injected: 0,
    injectedMethods: {},
    cuts: 0,
    requestCuts: 0,
    requestCutMethods: {},
    log: [],
    stalls: 0,
    forwarded: 0,
    bytesToClient: 0,
  });
  let stats = fresh();
  const sockets = new Set<net.Socket>();

  type Decision =
    | { kind: 'fail'; status: number; retryAfterSeconds?: number; body: string; contentType: string }
    | { kind: 'cut' | 'stall' | 'cutRequest' | 'truncateRequest'; afterBytes: number; exact?: boolean }
    | { kind: 'pass' };

  const decide = (head: RequestHead): Decision => {
    if (faults.methods && !faults.methods.includes(head.method)) return { kind: 'pass' };
    const always = faults.alwaysFail;
    if (always) {
      const o = always === true ? {} : always;
      return { kind: 'fail', status: o.status ?? 503, retryAfterSeconds: o.retryAfterSeconds, body: 'injected fault\n', contentType: 'text/plain' };
    }
    const f = faults.failRequests;
    if (f && take(f, head.method)) {
      return {
        kind: 'fail',
        status: f.status ?? 503,
        retryAfterSeconds: f.retryAfterSeconds,
        body: f.body ?? 'injected fault\n',
        contentType: f.contentType ?? 'text/plain',
      };
    }
    const hasBody = Number(head.headers.get('content-length') ?? '0') > 0 || (head.headers.get('transfer-encoding') ?? '').toLowerCase().includes('chunked');
    const q = faults.cutRequests;
    if (q && hasBody && take(q, head.method)) {
      return { kind: 'cutRequest', afterBytes: q.afterBytes };
    }
    const t = faults.truncateRequests;
    if (t && hasBody && take(t, head.method)) {
      return { kind: 'truncateRequest', afterBytes: t.afterBytes };
    }
    const c = faults.cutResponses;
    if (c && c.count > 0) {
      c.count--;
      return { kind: 'cut', afterBytes: c.afterBytes, exact: c.exact };
    }
    const s = faults.stallResponses;
    if (s && s.count > 0) {
      s.count--;
      return { kind: 'stall', afterBytes: s.afterBytes };
    }
    return { kind: 'pass' };
  };

  const server = net.createServer((client) => {
    stats.connections++;
    sockets.add(client);
    const upstream = net.connect(options.targetPort, options.targetHost);
    sockets.add(upstream);
    client.setNoDelay(true);
    upstream.setNoDelay(true);
    const closeBoth = (): void => {
      client.destroy();
      upstream.destroy();
    };
    // A request cut: the server gets the body so far and then end of stream; the
    // client is reset only once the server has closed (it has handled the broken
    // request), so what the server kept is settled when the client comes back.
    let requestCut = false;
    let truncating = false;
    client.on('close', () => {
      sockets.delete(client);
      if (!requestCut) upstream.destroy();
    });
    upstream.on('close', () => {
      sockets.delete(upstream);
      if (requestCut && !truncating) client.resetAndDestroy();
      else if (!client.destroyed) client.end();
    });
    client.on('error', closeBoth);
    upstream.on('error', closeBoth);

    // ---- server -> client: forward, applying the current request's cut/stall.
    let responseBudget: { kind: 'cut' | 'stall'; left: number; exact?: boolean } | undefined;
    let stalled = false;
    upstream.on('data', (d: Buffer) => {
      if (stalled) return;
      if (requestCut) {
        // The server answered the truncated request (a head, no body): relay it and close.
        if (truncating) {
          stats.bytesToClient += d.length;
          client.end(d);
          upstream.destroy();
        }
        return;
      }
      const chunk = d;
      if (responseBudget) {
        if (chunk.length >= responseBudget.left) {
          const head = chunk.subarray(0, responseBudget.left);
          stats.bytesToClient += head.length;
          if (responseBudget.kind === 'cut') {
            stats.cuts++;
            stalled = true;
            upstream.destroy();
            if (responseBudget.exact) {
              // The bytes, then a clean close mid-body: the client gets exactly `afterBytes` bytes
              // (a reset discards those still in flight) and sees a premature close.
              client.end(head);
              setTimeout(() => {
                if (!client.destroyed) client.resetAndDestroy();
              }, 2000).unref();
            } else {
              // A reset, not a clean close: the client sees ECONNRESET or a premature close mid-body.
              client.write(head);
              client.resetAndDestroy();
            }
          } else {
            if (head.length > 0) client.write(head);
            stats.stalls++;
            stalled = true;
            upstream.pause();
          }
          responseBudget = undefined;
          return;
        }
        responseBudget.left -= chunk.length;
      }
      stats.bytesToClient += chunk.length;
      if (!client.write(chunk)) {
        upstream.pause();
        client.once('drain', () => {
          if (!stalled) upstream.resume();
        });
      }
    });

    // ---- client -> server: find request boundaries and decide per request.
    let buf: Buffer = Buffer.alloc(0);
    let state: 'head' | 'length' | 'chunk-size' | 'chunk-data' | 'chunk-crlf' | 'trailer' | 'raw' = 'head';
    let remaining = 0;
    let swallowing: Extract<Decision, { kind: 'fail' }> | undefined;
    let headMethod = '';
    let requestBudget: number | undefined;

    const cutRequest = (last: Buffer): void => {
      requestCut = true;
      stats.requestCuts++;
      stats.requestCutMethods[headMethod] = (stats.requestCutMethods[headMethod] ?? 0) + 1;
      state = 'raw';
      if (truncating) upstream.write(last);
      else upstream.end(last);
      setTimeout(() => upstream.destroy(), 5000).unref();
    };

    const emit = (bytes: Buffer): void => {
      if (swallowing || requestCut || bytes.length === 0) return;
      if (requestBudget !== undefined) {
        if (bytes.length >= requestBudget) {
          cutRequest(bytes.subarray(0, requestBudget));
          return;
        }
        requestBudget -= bytes.length;
      }
      if (!upstream.write(bytes)) {
        client.pause();
        upstream.once('drain', () => client.resume());
      }
    };

    const respondFault = (d: Extract<Decision, { kind: 'fail' }>): void => {
      const body = headMethod === 'HEAD' ? '' : d.body;
      const lines = [
        `HTTP/1.1 ${d.status} ${REASONS[d.status] ?? 'Error'}`,
        `Content-Type: ${d.contentType}`,
        `Content-Length: ${Buffer.byteLength(d.body)}`,
        'Connection: close',
      ];
      if (d.retryAfterSeconds !== undefined) lines.push(`Retry-After: ${d.retryAfterSeconds}`);
      client.end(`${lines.join('\r\n')}\r\n\r\n${body}`);
      upstream.destroy();
      state = 'raw';
    };

    const requestDone = (): void => {
      requestBudget = undefined;
      if (swallowing) {
        const d = swallowing;
        swallowing = undefined;
        respondFault(d);
        return;
      }
      state = 'head';
    };

    const pump = (): void => {
      for (;;) {
        if (state === 'raw') {
          if (!swallowing) emit(buf);
          buf = Buffer.alloc(0);
          return;
        }
        if (state === 'head') {
          const end = buf.indexOf('\r\n\r\n');
          if (end < 0) {
            if (buf.length > 256 * 1024) state = 'raw'; // not HTTP as we know it: just forward
            return;
          }
          const headBytes = buf.subarray(0, end + 4);
          buf = buf.subarray(end + 4);
          const head = parseHead(headBytes.toString('latin1'));
          headMethod = head.method;
          stats.requests++;
          stats.methods[head.method] = (stats.methods[head.method] ?? 0) + 1;
          stats.log.push({ method: head.method, target: head.target, headers: Object.fromEntries(head.headers), at: Date.now() });
          const decision = decide(head);
          if (decision.kind === 'fail') {
            stats.injected++;
            stats.injectedMethods[head.method] = (stats.injectedMethods[head.method] ?? 0) + 1;
            swallowing = decision;
            if ((head.headers.get('expect') ?? '').toLowerCase() === '100-continue') {
              // The client waits before sending its body: answer now.
              swallowing = undefined;
              respondFault(decision);
              return;
            }
          } else {
            stats.forwarded++;
            responseBudget =
              decision.kind === 'cut' || decision.kind === 'stall' ? { kind: decision.kind, left: decision.afterBytes, exact: decision.exact } : undefined;
            requestBudget = undefined;
            if (decision.kind === 'truncateRequest') {
              truncating = true;
              emit(truncatedHead(headBytes, decision.afterBytes));
            } else emit(headBytes);
            if (decision.kind === 'cutRequest' || decision.kind === 'truncateRequest') requestBudget = decision.afterBytes;
          }
          const te = (head.headers.get('transfer-encoding') ?? '').toLowerCase();
          if (te.includes('chunked')) state = 'chunk-size';
          else {
            remaining = Number(head.headers.get('content-length') ?? '0') || 0;
            if (remaining > 0) state = 'length';
            else requestDone();
          }
          continue;
        }
        if (state === 'length') {
          if (buf.length === 0) return;
          const n = Math.min(remaining, buf.length);
          emit(buf.subarray(0, n));
          buf = buf.subarray(n);
          remaining -= n;
          if (remaining === 0) requestDone();
          continue;
        }
        if (state === 'chunk-size' || state === 'trailer') {
          const eol = buf.indexOf('\r\n');
          if (eol < 0) return;
          const line = buf.subarray(0, eol + 2);
          buf = buf.subarray(eol + 2);
          emit(line);
          if (state === 'trailer') {
            if (eol === 0) requestDone();
            continue;
          }
          const size = parseInt(line.toString('latin1').split(';')[0]?.trim() ?? '', 16);
          if (!Number.isFinite(size)) {
            state = 'raw';
            continue;
          }
          if (size === 0) state = 'trailer';
          else {
            remaining = size;
            state = 'chunk-data';
          }
          continue;
        }
        if (state === 'chunk-data') {
          if (buf.length === 0) return;
          const n = Math.min(remaining, buf.length);
          emit(buf.subarray(0, n));
          buf = buf.subarray(n);
          remaining -= n;
          if (remaining === 0) state = 'chunk-crlf';
          continue;
        }
        if (state === 'chunk-crlf') {
          if (buf.length < 2) return;
          emit(buf.subarray(0, 2));
          buf = buf.subarray(2);
          state = 'chunk-size';
          continue;
        }
      }
    };

    client.on('data', (d: Buffer) => {
      buf = buf.length === 0 ? d : Buffer.concat([buf, d]);
      pump();
    });
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as net.AddressInfo).port;
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    setFaults(f: Faults) {
      faults = structuredClone(f);
    },
    get stats() {
      return stats;
    },
    resetStats() {
      stats = fresh();
    },
    async stop() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
