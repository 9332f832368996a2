/**
 * A small Kubernetes REST client on top of @kubernetes/client-node's
 * KubeConfig: the library supplies TLS (CA, client certificates), proxies and
 * authentication (tokens, token files, exec plugins, and our Entra ID
 * authenticator); requests and bodies are plain JSON sent verbatim, so
 * server-side apply never loses fields to a typed-model round trip.
 * Kinds are resolved through the API server's discovery documents.
 *
 * Why not client-node's KubernetesObjectApi and Watch: KubernetesObjectApi
 * passes bodies through its typed models and drops fields they do not know
 * (a CRD's, a newer API version's), which server-side apply must never do;
 * and the rollout is followed by polling (statusPollIntervalMs) rather than a
 * Watch, so every request is bounded by the network timeouts and body caps
 * and a dropped watch stream cannot stall the task.
 */
import https from 'node:https';
import http from 'node:http';
import type { KubeConfig } from '@kubernetes/client-node';
import { errorMessage } from '../errors';
import { DEFAULT_NETWORK_LIMITS, guardRequest, timeoutDetail, type NetworkLimits } from '../net/timeouts';
import { isRecord } from './types';

interface KubeRequest {
  method?: string;
  /** Path starting with '/', e.g. /apis/apps/v1/namespaces/x/deployments/y. */
  path: string;
  query?: Record<string, string | number | boolean | undefined>;
  /** Sent as JSON unless already a string or a Buffer. */
  body?: unknown;
  contentType?: string;
  accept?: string;
  /** More request headers (e.g. a proxied request's own). */
  headers?: Record<string, string>;
  /** Aborts this request (besides the client's signal). */
  signal?: AbortSignal;
  /** Idle timeout of this request (default: the client's). */
  timeoutMs?: number;
  /**
   * Most bytes of the body read (default {@link MAX_BODY_BYTES}). Beyond it
   * the request fails with {@link KubeBodyTooLargeError}, or with `truncate`
   * the first bytes are kept and the rest is not read.
   */
  maxBodyBytes?: number;
  truncate?: boolean;
}

/** Default cap of an API response body: a list of a few thousand objects fits. */
const MAX_BODY_BYTES = 32 << 20;

/** An API response larger than the cap of its request. */
export class KubeBodyTooLargeError extends Error {
  constructor(
    readonly server: string,
    readonly method: string,
    readonly path: string,
    readonly limit: number,
  ) {
    super(`${method} ${path} on ${server} answered with more than ${limit} bytes`);
    this.name = 'KubeBodyTooLargeError';
  }
}

/** A non-2xx answer of the API server (body is a metav1.Status when the server sent one). */
export class KubeApiError extends Error {
  constructor(
    readonly statusCode: number,
    readonly method: string,
    readonly path: string,
    readonly reason: string | undefined,
    readonly apiMessage: string,
  ) {
    super(`${method} ${path} returned HTTP ${statusCode}${reason ? ` ${reason}` : ''}: ${apiMessage}`);
    this.name = 'KubeApiError';
  }
}

/** The API server could not be reached at all (DNS, refused, TLS, timeout). */
export class KubeConnectionError extends Error {
  constructor(
    readonly server: string,
    readonly code: string | undefined,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'KubeConnectionError';
  }
}

export interface ApiResource {
  /** Plural resource name used in URLs, e.g. deployments. */
  name: string;
  kind: string;
  namespaced: boolean;
  /** Group/version the resource lives in, e.g. apps/v1 or v1. */
  groupVersion: string;
}

export class UnknownKindError extends Error {
  constructor(
    readonly apiVersion: string,
    readonly kind: string,
  ) {
    super(`the cluster does not know kind ${kind} in ${apiVersion}`);
    this.name = 'UnknownKindError';
  }
}

export interface KubeClientOptions {
  /** Per-request idle timeout (default: limits.idleTimeoutMs). */
  requestTimeoutMs?: number;
  /** Connect and idle timeouts (default {@link DEFAULT_NETWORK_LIMITS}). */
  limits?: Pick<NetworkLimits, 'connectTimeoutMs' | 'idleTimeoutMs'>;
  /** Aborts every request (the task's network deadline). */
  signal?: AbortSignal;
}

export class KubeClient {
  private readonly discovery = new Map<string, Promise<ApiResource[] | undefined>>();
  private readonly timeoutMs: number;
  private readonly connectTimeoutMs: number;
  private readonly signal?: AbortSignal;

  constructor(
    readonly kubeConfig: KubeConfig,
    options: KubeClientOptions = {},
  ) {
    const limits = options.limits ?? DEFAULT_NETWORK_LIMITS;
    this.timeoutMs = options.requestTimeoutMs ?? limits.idleTimeoutMs;
    this.connectTimeoutMs = limits.connectTimeoutMs;
    this.signal = options.signal;
  }

  /** Base URL of the current cluster. */
  get server(): string {
    const cluster = this.kubeConfig.getCurrentCluster();
    if (!cluster) throw new Error('the kubeconfig has no current cluster');
    return cluster.server.replace(/\/+$/, '');
  }

  /** The namespace of the current context (a Kubernetes service connection's, a kubeconfig context's), if it names one. */
  get contextNamespace(): string | undefined {
    const name = this.kubeConfig.getCurrentContext();
    return this.kubeConfig.getContextObject(name)?.namespace || undefined;
  }

  /** Raw request; returns status and body text. Throws KubeConnectionError when nothing answered. */
  async send(req: KubeRequest): Promise<{ status: number; text: string; headers: http.IncomingHttpHeaders }> {
    const base = new URL(this.server);
    const url = new URL(base.pathname.replace(/\/+$/, '') + req.path, base);
    for (const [k, v] of Object.entries(req.query ?? {})) if (v !== undefined) url.searchParams.set(k, String(v));
    const method = req.method ?? 'GET';
    const body = req.body === undefined ? undefined : typeof req.body === 'string' || Buffer.isBuffer(req.body) ? req.body : JSON.stringify(req.body);
    const opts: https.RequestOptions = {
      method,
      headers: {
        ...(req.headers ?? {}),
        Accept: req.accept ?? 'application/json',
        ...(body !== undefined ? { 'Content-Type': req.contentType ?? 'application/json', 'Content-Length': String(Buffer.byteLength(body)) } : {}),
      },
    };
    try {
      await this.kubeConfig.applyToHTTPSOptions(opts);
    } catch (err) {
      throw new KubeConnectionError(this.server, 'AUTH', `could not obtain credentials for ${this.server}: ${errorMessage(err)}`, { cause: err });
    }
    const transport = url.protocol === 'http:' ? http : https;
    const timeoutMs = req.timeoutMs ?? this.timeoutMs;
    const limit = req.maxBodyBytes ?? MAX_BODY_BYTES;
    const signals = [this.signal, req.signal].filter((x): x is AbortSignal => x !== undefined);
    if (signals.length) opts.signal = signals.length === 1 ? signals[0] : AbortSignal.any(signals);
    return await new Promise((resolve, reject) => {
      const r = transport.request(url, opts, (res) => {
        const chunks: Buffer[] = [];
        let total = 0;
        let done = false;
        const finish = (): void => {
          if (done) return;
          done = true;
          resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8'), headers: res.headers });
        };
        res.on('data', (c: Buffer) => {
          if (done) return;
          const room = limit - total;
          if (c.length > room) {
            if (req.truncate) {
              chunks.push(c.subarray(0, room));
              total = limit;
              finish();
            } else {
              done = true;
              reject(new KubeBodyTooLargeError(this.server, method, req.path, limit));
            }
            r.destroy();
            return;
          }
          chunks.push(c);
          total += c.length;
        });
        res.on('error', (e) => {
          if (done) return;
          done = true;
          reject(
            new KubeConnectionError(this.server, (e as NodeJS.ErrnoException).code, `connection to ${this.server} broke: ${timeoutDetail(e) ?? e.message}`, {
              cause: e,
            }),
          );
        });
        res.on('end', finish);
      });
      guardRequest(r, { connectTimeoutMs: this.connectTimeoutMs, idleTimeoutMs: timeoutMs }, url.host);
      r.on('error', (e: NodeJS.ErrnoException) =>
        reject(
          new KubeConnectionError(this.server, e.code, `cannot reach the Kubernetes API server ${this.server}: ${timeoutDetail(e) ?? e.message}`, { cause: e }),
        ),
      );
      if (body !== undefined) r.write(body);
      r.end();
    });
  }

  /** JSON request; non-2xx becomes KubeApiError. */
  async request<T = unknown>(req: KubeRequest): Promise<T> {
    const res = await this.send(req);
    const method = req.method ?? 'GET';
    if (res.status < 200 || res.status >= 300) {
      let reason: string | undefined;
      let message = res.text.trim().slice(0, 500) || `HTTP ${res.status}`;
      try {
        const s: unknown = JSON.parse(res.text);
        if (isRecord(s)) {
          if (typeof s.reason === 'string') reason = s.reason;
          if (typeof s.message === 'string') message = s.message;
        }
      } catch {
        // not a Status object
      }
      throw new KubeApiError(res.status, method, req.path, reason, message);
    }
    if (!res.text) return undefined as T;
    try {
      return JSON.parse(res.text) as T;
    } catch {
      return res.text as T;
    }
  }

  /** Plain-text GET (pod logs), the first `maxBytes` bytes of it (default 1 MiB). */
  async getText(path: string, query?: KubeRequest['query'], maxBytes = 1 << 20): Promise<string> {
    const res = await this.send({ path, query, accept: '*/*', maxBodyBytes: maxBytes, truncate: true });
    if (res.status < 200 || res.status >= 300) throw new KubeApiError(res.status, 'GET', path, undefined, res.text.slice(0, 300));
    return res.text;
  }

  private resourcesOf(groupVersion: string): Promise<ApiResource[] | undefined> {
    let p = this.discovery.get(groupVersion);
    if (!p) {
      const path = groupVersion.includes('/') ? `/apis/${groupVersion}` : `/api/${groupVersion}`;
      p = this.request<{ resources?: { name: string; kind: string; namespaced: boolean }[] }>({ path }).then(
        (list) =>
          (list?.resources ?? []).filter((r) => !r.name.includes('/')).map((r) => ({ name: r.name, kind: r.kind, namespaced: r.namespaced, groupVersion })),
        (err: unknown) => {
          if (err instanceof KubeApiError && err.statusCode === 404) return undefined;
          this.discovery.delete(groupVersion);
          throw err;
        },
      );
      this.discovery.set(groupVersion, p);
    }
    return p;
  }

  /** Resource for apiVersion + kind via discovery; UnknownKindError when the cluster lacks it. */
  async resolve(apiVersion: string, kind: string): Promise<ApiResource> {
    const resources = await this.resourcesOf(apiVersion);
    const r = resources?.find((x) => x.kind === kind);
    if (!r) throw new UnknownKindError(apiVersion, kind);
    return r;
  }

  /** URL path of a named object (or of the collection when name is undefined). */
  static pathOf(res: ApiResource, namespace: string | undefined, name?: string): string {
    const base = res.groupVersion.includes('/') ? `/apis/${res.groupVersion}` : `/api/${res.groupVersion}`;
    const ns = res.namespaced ? `/namespaces/${encodeURIComponent(namespace ?? 'default')}` : '';
    return `${base}${ns}/${res.name}${name !== undefined ? `/${encodeURIComponent(name)}` : ''}`;
  }
}
