/**
 * Minimal HTTP client for the distribution API on node:http/https: keep-alive
 * agents, streamed request and response bodies, redirects followed for GET and
 * HEAD without carrying Authorization to another origin, idle timeouts.
 */
import http from 'node:http';
import https from 'node:https';
import type { Readable } from 'node:stream';
import { RetryableError } from '../../errors';
import { DEFAULT_NETWORK_LIMITS, guardRequest, type NetworkLimits } from '../../net/timeouts';
import { isLoopbackHost } from '../../net/loopback';
import { proxyAgent, proxyFor, type ProxyOptions } from '../../net/proxy';

/**
 * A body the sender pulls into its own buffers: `read` fills `buf` from the
 * start and returns how many bytes it put there (0 at the end). The sender
 * reuses a few buffers for the whole body, so a large upload makes no garbage
 * per piece (1 MiB Buffers per piece cost more CPU in V8's garbage collector
 * than the rest of the upload path together).
 */
export interface PullSource {
  read(buf: Buffer): Promise<number>;
  close(): Promise<void>;
}

/** A request body: bytes, a factory that opens a fresh stream, or a factory of a pull source (both can be replayed). */
export type RequestBody = Buffer | string | (() => Readable) | { pull: () => PullSource };

/** Size and number of the buffers a pulled body is sent from. */
const PULL_BUFFER = 1 << 20;
const PULL_BUFFERS = 4;

/** Sends a pulled body: each buffer is refilled only once the socket is done with its previous content. */
async function sendPulled(request: http.ClientRequest, source: PullSource): Promise<void> {
  const buffers = Array.from({ length: PULL_BUFFERS }, () => Buffer.allocUnsafeSlow(PULL_BUFFER));
  const written: Array<Promise<void>> = buffers.map(() => Promise.resolve());
  try {
    for (let i = 0; ; i = (i + 1) % PULL_BUFFERS) {
      await written[i];
      if (request.destroyed) return;
      const n = await source.read(buffers[i] as Buffer);
      if (n === 0) break;
      written[i] = new Promise<void>((resolve, reject) => {
        request.write((buffers[i] as Buffer).subarray(0, n), (err) => (err ? reject(err) : resolve()));
      });
      written[i]?.catch(() => undefined);
    }
    await Promise.all(written);
    request.end();
  } finally {
    await source.close();
  }
}

interface HttpRequest {
  method: string;
  url: URL;
  headers?: Record<string, string>;
  body?: RequestBody;
  /** Follow redirects (GET/HEAD only; default true). */
  followRedirects?: boolean;
  signal?: AbortSignal;
  /** Socket idle timeout (default: the configured limits, see {@link configureTimeouts}). */
  idleTimeoutMs?: number;
  /**
   * The server may think for minutes before it answers (completing a big blob
   * upload: it verifies or moves the whole blob): wait at least {@link SLOW_ANSWER_IDLE_MS}.
   */
  slowAnswer?: boolean;
}

/** Least idle timeout of a request marked `slowAnswer`. */
const SLOW_ANSWER_IDLE_MS = 5 * 60_000;

export interface HttpResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: http.IncomingMessage;
  /** The URL that answered (after redirects). */
  url: URL;
}

const httpAgent = new http.Agent({ keepAlive: true, maxSockets: 32 });
const httpsAgent = new https.Agent({ keepAlive: true, maxSockets: 32 });

let proxyOptions: ProxyOptions = {};
let limits: NetworkLimits = DEFAULT_NETWORK_LIMITS;
let deadline: AbortSignal | undefined;

/**
 * Connect and idle timeouts of every registry request (the task's
 * networkTimeout), and the signal of the task's network deadline, which every
 * request also obeys.
 */
export function configureTimeouts(value: NetworkLimits, signal?: AbortSignal): void {
  limits = value;
  deadline = signal;
}
const proxyAgents = new Map<string, http.Agent>();

/**
 * Proxy settings for registry requests (the agent's proxy URL, bypass list;
 * else HTTPS_PROXY/HTTP_PROXY/NO_PROXY). Loopback hosts are always reached directly.
 */
export function configureProxy(options: ProxyOptions): void {
  proxyOptions = options;
  proxyAgents.clear();
}

function agentFor(url: URL): http.Agent {
  const isHttps = url.protocol === 'https:';
  const proxy = isLoopbackHost(url.hostname) ? undefined : proxyFor(url.toString(), proxyOptions);
  if (!proxy) return isHttps ? httpsAgent : httpAgent;
  const key = `${url.protocol}${proxy}`;
  let agent = proxyAgents.get(key);
  if (!agent) {
    agent = proxyAgent(proxy, isHttps, { keepAlive: true });
    proxyAgents.set(key, agent);
  }
  return agent;
}

function once(req: HttpRequest): Promise<HttpResponse> {
  const isHttps = req.url.protocol === 'https:';
  const mod = isHttps ? https : http;
  const headers: Record<string, string> = { 'User-Agent': 'model-to-aks-tasks', ...(req.headers ?? {}) };
  const body = req.body;
  if (typeof body === 'string' || Buffer.isBuffer(body)) headers['Content-Length'] = String(Buffer.byteLength(body));
  else if (body === undefined && req.method !== 'GET' && req.method !== 'HEAD' && headers['Content-Length'] === undefined) headers['Content-Length'] = '0';
  return new Promise<HttpResponse>((resolve, reject) => {
    let settled = false;
    const signal = req.signal && deadline ? AbortSignal.any([req.signal, deadline]) : (req.signal ?? deadline);
    const request = mod.request(req.url, { method: req.method, headers, agent: agentFor(req.url), signal });
    guardRequest(request, { connectTimeoutMs: limits.connectTimeoutMs, idleTimeoutMs: idleFor(req) }, req.url.host);
    request.on('response', (res) => {
      settled = true;
      resolve({ status: res.statusCode ?? 0, headers: res.headers, body: res, url: req.url });
    });
    request.on('error', (err) => {
      if (!settled) {
        settled = true;
        reject(err);
      }
    });
    if (body !== undefined && typeof body === 'object' && !Buffer.isBuffer(body)) {
      sendPulled(request, body.pull()).catch((err: unknown) => request.destroy(err as Error));
    } else if (typeof body === 'function') {
      const source = body();
      source.on('error', (err) => request.destroy(err));
      request.on('close', () => {
        if (!source.readableEnded) source.destroy();
      });
      source.pipe(request);
    } else {
      request.end(body);
    }
  });
}

function idleFor(req: HttpRequest): number {
  const idle = req.idleTimeoutMs ?? limits.idleTimeoutMs;
  return req.slowAnswer ? Math.max(idle, SLOW_ANSWER_IDLE_MS) : idle;
}

function sameOrigin(a: URL, b: URL): boolean {
  return a.protocol === b.protocol && a.host === b.host;
}

/** Sends a request; follows up to 5 redirects for GET/HEAD (Authorization only kept on the same origin). */
export async function send(req: HttpRequest): Promise<HttpResponse> {
  let current = req;
  for (let hop = 0; ; hop++) {
    const res = await once(current);
    const follow = (req.followRedirects ?? true) && (req.method === 'GET' || req.method === 'HEAD');
    if (!follow || ![301, 302, 303, 307, 308].includes(res.status) || !res.headers.location) return res;
    res.body.resume();
    if (hop >= 5) throw new RetryableError(`Too many redirects from ${req.url.host}`, { code: 'ETOOMANYREDIRECTS', transient: false });
    const next = new URL(res.headers.location, current.url);
    if (current.url.protocol === 'https:' && next.protocol === 'http:' && !isLoopbackHost(next.hostname)) {
      throw new Error(`Refusing a redirect from https to plain http (${next.host})`);
    }
    const headers = { ...(current.headers ?? {}) };
    if (!sameOrigin(next, current.url)) {
      for (const k of Object.keys(headers)) if (k.toLowerCase() === 'authorization') delete headers[k];
    }
    current = { ...current, url: next, headers };
  }
}

/** Reads a response body as text, up to `limit` bytes (manifests and error bodies are small). */
export async function readText(res: HttpResponse, limit = 8 << 20): Promise<string> {
  return (await readBytes(res, limit)).toString('utf8');
}

export async function readBytes(res: HttpResponse, limit = 8 << 20): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of res.body) {
    const buf = chunk as Buffer;
    total += buf.length;
    if (total > limit) {
      res.body.destroy();
      throw new Error(`Response from ${res.url.host} is larger than ${limit} bytes`);
    }
    chunks.push(buf);
  }
  return Buffer.concat(chunks);
}

/** Discards a response body (lets the keep-alive socket be reused). */
export async function drain(res: HttpResponse): Promise<void> {
  try {
    for await (const chunk of res.body) void chunk;
  } catch {
    /* ignore */
  }
}

export function header(res: HttpResponse, name: string): string | undefined {
  const v = res.headers[name.toLowerCase()];
  return Array.isArray(v) ? v[0] : v;
}
