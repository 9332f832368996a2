/**
 * A client for one registry (distribution-spec v1.1): the request loop with
 * authentication (challenge -> token -> retry once on 401), retries on
 * transient failures, and the few endpoints pull and push need.
 */
import { sha256Digest } from '../../digest';
import { errorMessage, RetryableError, UserError } from '../../errors';
import type { Logger } from '../../log';
import { silentLogger } from '../../log';
import { timeoutDetail } from '../../net/timeouts';
import { isTransientError, withRetry } from '../../retry';
import { isLoopbackAuthority } from '../../net/loopback';
import { MANIFEST_ACCEPT } from '../types';
import { parseChallenges, RegistryAuth, repositoryScope, type RegistryCredentials } from './auth';
import { registryError, type ErrorContext } from './errors';
import { drain, header, readBytes, readText, send, type HttpResponse, type RequestBody } from './http';

export interface RegistryClientOptions {
  /** host[:port] as in a reference (registry-1.docker.io, contoso.azurecr.io, 127.0.0.1:5000). */
  registry: string;
  credentials?: RegistryCredentials;
  /** Allow plain http for a non-loopback registry. */
  insecure?: boolean;
  logger?: Logger;
  signal?: AbortSignal;
  /** Retries on transient failures (default 5) and their base delay (default 500 ms). */
  retries?: number;
  retryBaseMs?: number;
  /** Task input named in credential errors. */
  credentialsInput?: string;
  idleTimeoutMs?: number;
}

export interface RequestOptions {
  method: string;
  /** Path under the registry (`/v2/...`) or an absolute URL (upload locations). */
  path: string | URL;
  scopes: string[];
  headers?: Record<string, string>;
  body?: RequestBody;
  /** Statuses that count as success; others become registry errors (registryError()). */
  expect: number[];
  /** Statuses returned to the caller without error (e.g. 404 on HEAD). */
  allow?: number[];
  context: ErrorContext;
  /** Retry transient failures here (default true). Callers with their own resume logic turn it off. */
  retry?: boolean;
  /** The registry may think for minutes before answering (see HttpRequest.slowAnswer). */
  slowAnswer?: boolean;
}

interface ManifestResponse {
  bytes: Buffer;
  mediaType: string;
  digest: string;
}

export class RegistryClient {
  readonly registry: string;
  readonly baseUrl: URL;
  readonly auth: RegistryAuth;
  private readonly logger: Logger;
  private pinged?: Promise<void>;

  constructor(private readonly options: RegistryClientOptions) {
    this.registry = options.registry;
    const plain = options.insecure || isLoopbackAuthority(options.registry);
    const host = options.registry === 'docker.io' ? 'registry-1.docker.io' : options.registry;
    this.baseUrl = new URL(`${plain ? 'http' : 'https'}://${host}`);
    this.logger = options.logger ?? silentLogger;
    this.auth = new RegistryAuth({
      registry: options.registry,
      registryUrl: this.baseUrl,
      credentials: options.credentials,
      logger: this.logger,
      input: options.credentialsInput,
      signal: options.signal,
      retries: options.retries === undefined ? undefined : Math.min(options.retries, 4),
      retryBaseMs: options.retryBaseMs,
    });
  }

  resolve(path: string | URL): URL {
    return typeof path === 'string' ? new URL(path, this.baseUrl) : path;
  }

  /** True when `url` is on the registry's own origin (the only one that gets its credentials). */
  isOwnOrigin(url: URL): boolean {
    return url.protocol === this.baseUrl.protocol && url.host === this.baseUrl.host;
  }

  /**
   * A URL the registry handed out (upload Location): kept as given, but never
   * a step down from https to plain http.
   */
  checkLocation(url: URL): URL {
    if (url.protocol !== 'https:' && url.protocol !== 'http:') {
      throw new UserError(
        `Registry ${this.registry} sent an upload location that is not an http(s) URL (${url.protocol}): refused; it does not follow the distribution API.`,
        { code: 'InsecureLocation' },
      );
    }
    if (this.baseUrl.protocol === 'https:' && url.protocol !== 'https:') {
      throw new UserError(
        `Registry ${this.registry} sent an upload location on plain http (${url.origin}) for an https registry: refused, the image would travel unencrypted; check the registry's storage settings or a proxy rewriting its answers.`,
        { code: 'InsecureLocation' },
      );
    }
    return url;
  }

  /** GET /v2/: checks this is a registry and learns how it wants to be authenticated. Runs once. */
  ping(): Promise<void> {
    if (!this.pinged) {
      this.pinged = this.doPing();
      this.pinged.catch(() => {
        this.pinged = undefined;
      });
    }
    return this.pinged;
  }

  private async doPing(): Promise<void> {
    const url = new URL('/v2/', this.baseUrl);
    let res: HttpResponse;
    try {
      res = await withRetry(
        async () => {
          const r = await send({ method: 'GET', url, signal: this.options.signal, idleTimeoutMs: this.options.idleTimeoutMs });
          if (r.status >= 500 || r.status === 429) {
            await drain(r);
            throw new RetryableError(`HTTP ${r.status}`, { statusCode: r.status });
          }
          return r;
        },
        { retries: this.options.retries ?? 5, baseDelayMs: this.options.retryBaseMs ?? 500, signal: this.options.signal },
      );
    } catch (err) {
      if (err instanceof UserError) throw err;
      const code = (err as { code?: string }).code;
      const status = (err as { statusCode?: number }).statusCode;
      throw new UserError(
        status
          ? `Registry ${this.registry} keeps failing (HTTP ${status} on ${url.toString()}): it may be down or overloaded; retry later.`
          : `Registry ${this.registry} is unreachable at ${url.origin} (${timeoutDetail(err) ?? code ?? errorMessage(err)}): check the registry name, that it is up, and the agent's network and proxy settings.`,
        { code: 'Unreachable', cause: err },
      );
    }
    const apiVersion = header(res, 'docker-distribution-api-version');
    const challenge = header(res, 'www-authenticate');
    if (res.status === 401) {
      await drain(res);
      if (!parseChallenges(challenge).length)
        throw new UserError(
          `${this.registry} answered 401 without an authentication challenge at ${url.toString()}: it is not an OCI registry this task can sign in to.`,
          { code: 'NotARegistry' },
        );
      this.auth.learn(challenge);
      return;
    }
    if (res.status === 200) {
      const text = await readText(res, 1 << 20).catch(() => '');
      const looksLikeRegistry = apiVersion !== undefined || text.trim() === '' || text.trim().startsWith('{');
      if (!looksLikeRegistry)
        throw new UserError(`${this.registry} is not an OCI registry: GET ${url.toString()} answered with a non-registry page; check the registry name.`, {
          code: 'NotARegistry',
        });
      return;
    }
    await drain(res);
    throw new UserError(
      `${this.registry} is not an OCI registry: GET ${url.toString()} answered HTTP ${res.status} (expected 200 or 401); check the registry name.`,
      { code: 'NotARegistry' },
    );
  }

  /**
   * One request with auth: sends with the cached token, and on 401 learns the
   * challenge, renews the token (adding scopes the challenge names) and tries
   * again once. Transient failures are retried unless `retry` is false.
   */
  async request(opts: RequestOptions): Promise<HttpResponse> {
    await this.ping();
    const run = () => this.requestOnce(opts);
    if (opts.retry === false) return run();
    return withRetry(run, {
      retries: this.options.retries ?? 5,
      baseDelayMs: this.options.retryBaseMs ?? 500,
      signal: this.options.signal,
      isRetryable: isTransientError,
      onRetry: (err, attempt, delay) => this.logger.debug(`${opts.method} ${opts.context.operation}: ${errorMessage(err)}; retry ${attempt} in ${delay} ms`),
    });
  }

  private async requestOnce(opts: RequestOptions): Promise<HttpResponse> {
    let scopes = opts.scopes;
    for (let attempt = 0; ; attempt++) {
      const headers: Record<string, string> = { ...(opts.headers ?? {}) };
      const url = typeof opts.path === 'string' ? this.resolve(opts.path) : this.checkLocation(opts.path);
      // Credentials go to the registry's own origin only: an upload Location elsewhere (storage) gets none,
      // and a 401 from there teaches nothing about how to sign in to the registry.
      const own = this.isOwnOrigin(url);
      const authorization = own ? await this.auth.authorization(scopes) : undefined;
      if (authorization) headers['Authorization'] = authorization;
      const res = await send({
        method: opts.method,
        url,
        headers,
        body: opts.body,
        signal: this.options.signal,
        idleTimeoutMs: this.options.idleTimeoutMs,
        slowAnswer: opts.slowAnswer,
      });
      if (res.status === 401 && own && attempt < 2) {
        const challengeHeader = header(res, 'www-authenticate');
        const challenge = parseChallenges(challengeHeader).find((c) => c.scheme === 'bearer' || c.scheme === 'basic');
        const insufficient = challenge?.params['error'] === 'insufficient_scope';
        const hadSameScheme = authorization !== undefined && challenge !== undefined && authorization.toLowerCase().startsWith(challenge.scheme);
        // Basic credentials refused, or a fresh token that still lacks the scope: give up with a clear error below.
        const worthRetrying = challenge !== undefined && !(hadSameScheme && challenge.scheme === 'basic') && !(insufficient && attempt > 0);
        if (worthRetrying) {
          await drain(res);
          this.auth.learn(challengeHeader);
          this.auth.invalidate(scopes);
          const extra = challenge.params['scope']?.split(' ').filter((s) => s && !scopes.includes(s)) ?? [];
          if (extra.length) scopes = [...scopes, ...extra];
          continue;
        }
      }
      if (opts.expect.includes(res.status) || opts.allow?.includes(res.status)) return res;
      const text = opts.method === 'HEAD' ? '' : await readText(res, 1 << 20).catch(() => '');
      throw registryError(res.status, text, opts.context, res.headers);
    }
  }

  // ------------------------------------------------------------------ endpoints

  /** Size of a blob when the repository has it, undefined otherwise. */
  async blobSize(repository: string, digest: string, scopes = [repositoryScope(repository, 'pull')]): Promise<number | undefined> {
    const res = await this.request({
      method: 'HEAD',
      path: `/v2/${repository}/blobs/${digest}`,
      scopes,
      expect: [200],
      allow: [404],
      context: { operation: `check of blob ${digest.slice(0, 19)}`, registry: this.registry, repository },
    });
    await drain(res);
    if (res.status !== 200) return undefined;
    const len = Number(header(res, 'content-length'));
    return Number.isFinite(len) ? len : 0;
  }

  async getManifest(repository: string, reference: string): Promise<ManifestResponse> {
    const res = await this.request({
      method: 'GET',
      path: `/v2/${repository}/manifests/${reference}`,
      scopes: [repositoryScope(repository, 'pull')],
      headers: { Accept: MANIFEST_ACCEPT },
      expect: [200],
      context: { operation: `pull of ${reference}`, registry: this.registry, repository },
    });
    const bytes = await readBytes(res, 4 << 20);
    const digest = sha256Digest(bytes);
    let mediaType = (header(res, 'content-type') ?? '').split(';')[0]?.trim() ?? '';
    try {
      const parsed = JSON.parse(bytes.toString('utf8')) as { mediaType?: string };
      if (parsed.mediaType) mediaType = parsed.mediaType;
    } catch {
      throw new UserError(`Registry ${this.registry} sent a manifest for ${repository}:${reference} that is not JSON.`, { code: 'ManifestInvalid' });
    }
    return { bytes, mediaType, digest };
  }

  /** Opens a blob for streaming (the caller verifies its digest while reading). */
  async getBlob(repository: string, digest: string): Promise<HttpResponse> {
    return this.request({
      method: 'GET',
      path: `/v2/${repository}/blobs/${digest}`,
      scopes: [repositoryScope(repository, 'pull')],
      expect: [200],
      context: { operation: `pull of blob ${digest.slice(0, 19)}`, registry: this.registry, repository },
    });
  }

  /** PUT a manifest under a tag (or digest); returns the registry's Docker-Content-Digest. */
  async putManifest(repository: string, reference: string, bytes: Buffer, mediaType: string): Promise<string | undefined> {
    const res = await this.request({
      method: 'PUT',
      path: `/v2/${repository}/manifests/${reference}`,
      scopes: [repositoryScope(repository, 'pull,push')],
      headers: { 'Content-Type': mediaType },
      body: bytes,
      expect: [201, 200, 202],
      context: { operation: `push of the manifest (tag ${reference})`, registry: this.registry, repository, input: 'repository' },
    });
    await drain(res);
    return header(res, 'docker-content-digest');
  }
}
