/**
 * Amazon S3 and S3-compatible stores (MinIO, Ceph, s3rver...) as a
 * {@link ModelStore}, on @aws-sdk/client-s3.
 *
 * - Credentials: static keys (+ session token), optionally exchanged for a role
 *   via STS AssumeRole; or the job's OIDC token exchanged with STS
 *   AssumeRoleWithWebIdentity (./s3-web-identity.ts), renewed as they expire;
 *   or, when none are given, the standard AWS chain
 *   (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY/AWS_SESSION_TOKEN, profiles, web
 *   identity, container and instance roles).
 * - Endpoint: explicit > connection > AWS_ENDPOINT_URL_S3 > AWS_ENDPOINT_URL >
 *   AWS. Path-style addressing is forced for IP and localhost endpoints.
 * - Checksums: request/response checksums only WHEN_REQUIRED (S3-compatible
 *   servers store the default aws-chunked framing verbatim or choke on it);
 *   head() asks for x-amz-checksum-sha256 with ChecksumMode ENABLED.
 * - HTTP: keep-alive agents with at least 64 sockets, through the agent's
 *   proxy or HTTPS_PROXY/HTTP_PROXY unless NO_PROXY says otherwise.
 */
import http from 'node:http';
import https from 'node:https';
import { Readable } from 'node:stream';
import {
  GetObjectCommand,
  GetObjectTaggingCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  ListObjectVersionsCommand,
  S3Client,
  type S3ClientConfig,
} from '@aws-sdk/client-s3';
import { fromNodeProviderChain, fromTemporaryCredentials } from '@aws-sdk/credential-providers';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import type { S3Endpoint } from '../connections';
import { AuthError, InputError, NotFoundError, RetryableError, UserError } from '../errors';
import { agentTimeoutOptions, DEFAULT_NETWORK_LIMITS, timeoutDetail, withSocketTimeouts, type NetworkLimits } from '../net/timeouts';
import { httpStatusOf } from '../retry';
import { isAddressOrLocalName } from '../net/loopback';
import { networkCode } from '../net/network-code';
import { proxyAgent, proxyFor } from '../net/proxy';
import type { ListOptions, ModelStore, RangeOptions, StoredObject, StoreNetworkOptions } from './store';
import { requestPipelineOidcToken } from '../azure/pipelines-oidc';
import { webIdentityCredentials, type WebIdentityOptions } from './s3-web-identity';

export interface S3StoreOptions extends StoreNetworkOptions {
  bucket: string;
  /** Default: AWS_REGION, AWS_DEFAULT_REGION, else us-east-1. */
  region?: string;
  /** S3-compatible endpoint URL; default AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL, else AWS. */
  endpoint?: string;
  /** Path-style URLs (http://host/bucket/key). Default: true for IP and localhost endpoints. */
  forcePathStyle?: boolean;
  /** Static keys; without them the standard AWS credential chain applies. */
  credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
  /** Role to assume with STS on top of the credentials (or the chain). */
  assumeRole?: { roleArn: string; roleSessionName?: string; externalId?: string };
  /** Role to assume with a web identity (OIDC) token instead (STS AssumeRoleWithWebIdentity). */
  webIdentity?: WebIdentityOptions;
  /** Called with every credential obtained while running (OIDC tokens, temporary keys), so the task masks them. */
  onSecret?: (value: string) => void;
  /** How the credentials were obtained, for messages, e.g. "S3 service connection 'prod'". */
  credentialLabel?: string;
  /** Parallel HEAD/GetObjectTagging requests while listing with metadata or tags (default 16). */
  metadataConcurrency?: number;
  /** Attempts per request made by the SDK itself (default 3). readRange failures are retried by the caller. */
  maxAttempts?: number;
}

/** Attempts per SDK request (a black hole is tried this many times). */
export const S3_MAX_ATTEMPTS = 3;

interface S3Inputs {
  bucket: string;
  region?: string;
  s3Endpoint?: string;
  forcePathStyle?: boolean;
}

/** Store options from the task's inputs and the optional S3 service connection (inputs win). */
export function s3StoreOptionsFrom(connection: S3Endpoint | undefined, inputs: S3Inputs, extra: Partial<S3StoreOptions> = {}): S3StoreOptions {
  const options: S3StoreOptions = {
    ...extra,
    bucket: inputs.bucket,
    region: inputs.region?.trim() || connection?.region?.trim() || undefined,
    endpoint: inputs.s3Endpoint?.trim() || connection?.endpoint?.trim() || undefined,
    forcePathStyle: inputs.forcePathStyle || connection?.forcePathStyle || undefined,
  };
  if (connection?.useOidc) {
    options.webIdentity = webIdentityFromConnection(connection, options);
    options.credentialLabel = `role '${options.webIdentity.roleArn}' assumed with the OIDC token of S3 service connection '${connection.id}'`;
    return options;
  }
  if (connection) {
    if (connection.accessKeyId && connection.secretAccessKey) {
      options.credentials = {
        accessKeyId: connection.accessKeyId,
        secretAccessKey: connection.secretAccessKey,
        sessionToken: connection.sessionToken || undefined,
      };
    } else if (connection.accessKeyId || connection.secretAccessKey) {
      throw new AuthError(
        `S3 service connection '${connection.id}' has only half of its access key (id or secret is empty): edit the service connection and fill in both.`,
        { input: 's3Connection' },
      );
    }
    if (connection.roleArn)
      options.assumeRole = { roleArn: connection.roleArn, roleSessionName: connection.roleSessionName, externalId: connection.externalId };
    options.credentialLabel = `S3 service connection '${connection.id}'`;
  }
  return options;
}

/** The OIDC sign-in of a useOidc connection, checked: one line naming what to configure when something is missing. */
function webIdentityFromConnection(connection: S3Endpoint, network: Partial<S3StoreOptions>): WebIdentityOptions {
  const label = `S3 service connection '${connection.id}'`;
  const input = 's3Connection';
  const { roleArn, oidcRequestUri, systemAccessToken } = connection;
  if (!roleArn) {
    throw new AuthError(
      `${label} uses OIDC but names no role: edit the service connection and set 'Role to assume' to the IAM role whose trust policy accepts Azure DevOps' tokens (docs/setup.md).`,
      { input },
    );
  }
  if (!oidcRequestUri) {
    throw new AuthError(
      `${label} uses OIDC, but this job has no OIDC endpoint (System.OidcRequestUri is not set): run the task in Azure DevOps Services on an agent 3.227 or newer, or give the connection access keys instead.`,
      { input },
    );
  }
  if (!systemAccessToken) {
    throw new AuthError(
      `${label} uses OIDC, but the job's access token is not available to ask for an OIDC token: in a classic pipeline tick "Allow scripts to access the OAuth token" on the agent job.`,
      { input },
    );
  }
  return {
    roleArn,
    roleSessionName: connection.roleSessionName,
    label,
    input,
    token: () =>
      requestPipelineOidcToken({
        requestUri: oidcRequestUri,
        serviceConnectionId: connection.id,
        accessToken: systemAccessToken,
        label,
        input,
        proxyUrl: network.proxyUrl,
        noProxy: network.noProxy,
        bypassPatterns: network.bypassPatterns,
        limits: network.limits,
        signal: network.signal,
      }),
  };
}

/** What the task passes: inputs, the optional service connection and the agent's proxy. */
export interface S3StoreForOptions {
  bucket: string;
  connection?: S3Endpoint;
  region?: string;
  /** The s3Endpoint input. */
  endpoint?: string;
  /** true forces path-style; false/undefined = automatic (path-style for IP and localhost endpoints). */
  forcePathStyle?: boolean;
  proxyUrl?: string;
  noProxy?: string;
  bypassPatterns?: string[];
  maxSockets?: number;
  limits?: Pick<NetworkLimits, 'connectTimeoutMs' | 'idleTimeoutMs'>;
  signal?: AbortSignal;
  /** Called with every credential obtained while running (see {@link S3StoreOptions.onSecret}). */
  onSecret?: (value: string) => void;
}

/** An S3Store from the task's inputs and optional S3 service connection (inputs win over the connection). */
export function s3StoreFor(options: S3StoreForOptions): S3Store {
  return new S3Store(
    s3StoreOptionsFrom(
      options.connection,
      { bucket: options.bucket, region: options.region, s3Endpoint: options.endpoint, forcePathStyle: options.forcePathStyle },
      {
        proxyUrl: options.proxyUrl,
        noProxy: options.noProxy,
        bypassPatterns: options.bypassPatterns,
        maxSockets: options.maxSockets,
        limits: options.limits,
        signal: options.signal,
        onSecret: options.onSecret,
      },
    ),
  );
}

function validateBucket(bucket: string): string {
  const name = bucket.trim();
  if (!name) throw new InputError('bucket', 'The bucket input is empty: give the name of the S3 bucket that holds the model.');
  if (/^s3:\/\//i.test(name) || name.includes('/')) {
    throw new InputError('bucket', `'${name}' is not a bucket name: give only the bucket (e.g. my-models) and put the key or prefix in modelPath.`);
  }
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]{1,254}$/.test(name)) {
    throw new InputError('bucket', `'${name}' is not a valid bucket name: use letters, digits, dots and hyphens, e.g. my-models.`);
  }
  return name;
}

async function mapLimit<T, R>(items: T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i] as T);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

/** The first `limit` bytes of `source`, then end (and stop reading the source). */
function limitStream(source: Readable, limit: number): Readable {
  let left = limit;
  const out = new Readable({
    read() {
      source.resume();
    },
    destroy(err, cb) {
      source.destroy();
      cb(err);
    },
  });
  source.on('data', (chunk: Buffer) => {
    if (left <= 0) return;
    const part = chunk.length > left ? chunk.subarray(0, left) : chunk;
    left -= part.length;
    if (!out.push(part)) source.pause();
    if (left === 0) {
      out.push(null);
      source.destroy();
    }
  });
  source.once('end', () => {
    if (left > 0) out.push(null);
  });
  source.once('error', (err) => {
    if (left > 0) out.destroy(err);
  });
  return out;
}

function stripQuotes(etag: string | undefined): string | undefined {
  return etag?.replace(/^W\//, '').replace(/^"(.*)"$/, '$1');
}

function lowerKeys(record: Record<string, string> | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(record ?? {})) out[k.toLowerCase()] = v;
  return out;
}

function errorName(err: unknown): string {
  if (typeof err !== 'object' || err === null) return '';
  const e = err as { name?: unknown; Code?: unknown; code?: unknown };
  for (const v of [e.Code, e.name, e.code]) if (typeof v === 'string' && v !== 'Error') return v;
  return '';
}

const AUTH_NAMES = new Set([
  'InvalidAccessKeyId',
  'SignatureDoesNotMatch',
  'AccessDenied',
  'InvalidToken',
  'ExpiredToken',
  'TokenRefreshRequired',
  'AllAccessDisabled',
  'InvalidClientTokenId',
  'UnrecognizedClientException',
  'AccountProblem',
]);

/** A ModelStore over one S3 bucket. */
export class S3Store implements ModelStore {
  readonly kind = 's3' as const;
  readonly client: S3Client;
  readonly bucket: string;
  readonly region: string;
  readonly endpoint?: string;
  readonly forcePathStyle: boolean;
  private readonly credentialLabel: string;
  private readonly endpointInput: string;
  private readonly metadataConcurrency: number;
  private readonly roleArn?: string;
  private readonly signal?: AbortSignal;

  constructor(options: S3StoreOptions) {
    const env = options.env ?? process.env;
    // The SDK warns on Node 20 that releases after January 2027 need Node 22;
    // the bundle pins a release that runs on Node 20, so the warning is noise in the task log.
    if (process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED === undefined) process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
    this.bucket = validateBucket(options.bucket);
    this.region = options.region?.trim() || env.AWS_REGION?.trim() || env.AWS_DEFAULT_REGION?.trim() || 'us-east-1';
    const endpointText = options.endpoint?.trim() || env.AWS_ENDPOINT_URL_S3?.trim() || env.AWS_ENDPOINT_URL?.trim() || undefined;
    this.endpointInput = options.endpoint?.trim() ? 's3Endpoint' : endpointText ? 'AWS_ENDPOINT_URL_S3' : 'region';
    let endpointUrl: URL | undefined;
    if (endpointText) {
      try {
        endpointUrl = new URL(endpointText);
      } catch {
        throw new InputError('s3Endpoint', `The S3 endpoint '${endpointText}' is not a valid URL: give e.g. https://minio.example.com:9000.`);
      }
      if (endpointUrl.protocol !== 'http:' && endpointUrl.protocol !== 'https:') {
        throw new InputError('s3Endpoint', `The S3 endpoint '${endpointText}' must start with http:// or https://.`);
      }
      this.endpoint = endpointUrl.toString().replace(/\/+$/, '');
    }
    this.forcePathStyle = options.forcePathStyle ?? (endpointUrl ? isAddressOrLocalName(endpointUrl.hostname) : false);
    this.metadataConcurrency = Math.max(1, options.metadataConcurrency ?? 16);
    this.roleArn = options.assumeRole?.roleArn;
    this.signal = options.signal;

    // The host requests go to decides whether the proxy applies.
    const target = this.endpoint
      ? this.forcePathStyle
        ? this.endpoint
        : this.endpoint.replace('://', `://${this.bucket}.`)
      : `https://${this.bucket}.s3.${this.region}.amazonaws.com`;
    const proxy = proxyFor(target, { proxyUrl: options.proxyUrl, noProxy: options.noProxy, bypassPatterns: options.bypassPatterns, env });
    const maxSockets = Math.max(64, options.maxSockets ?? 64);
    const limits = options.limits ?? DEFAULT_NETWORK_LIMITS;
    const agentOptions = { keepAlive: true, maxSockets, keepAliveMsecs: 1000, ...agentTimeoutOptions(limits) };
    const httpAgent = proxy ? proxyAgent(proxy, false, agentOptions) : new http.Agent(agentOptions);
    const httpsAgent = proxy ? proxyAgent(proxy, true, agentOptions) : new https.Agent(agentOptions);
    // The agents' sockets time out with a NetworkTimeoutError naming the host; the handler's own
    // timers are a backstop a little later (its errors name nothing).
    const host = new URL(target).host;
    withSocketTimeouts(httpAgent, limits, host);
    withSocketTimeouts(httpsAgent, limits, host);
    const requestHandler = new NodeHttpHandler({
      httpAgent,
      httpsAgent,
      connectionTimeout: limits.connectTimeoutMs + 5_000,
      socketTimeout: limits.idleTimeoutMs + 5_000,
    });

    let credentials: S3ClientConfig['credentials'];
    const base = options.credentials
      ? { accessKeyId: options.credentials.accessKeyId, secretAccessKey: options.credentials.secretAccessKey, sessionToken: options.credentials.sessionToken }
      : undefined;
    if (base) {
      this.credentialLabel = options.credentialLabel ?? 'the given access key';
    } else if (env.AWS_ACCESS_KEY_ID) {
      this.credentialLabel = options.credentialLabel ?? 'the AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY environment variables';
    } else {
      this.credentialLabel = options.credentialLabel ?? "the agent's AWS credential chain (environment, profile or instance role)";
    }
    if (options.webIdentity) {
      credentials = webIdentityCredentials(options.webIdentity, { region: this.region, requestHandler }, options.onSecret);
      this.credentialLabel = options.credentialLabel ?? `role '${options.webIdentity.roleArn}' assumed with the OIDC token of ${options.webIdentity.label}`;
    } else if (options.assumeRole) {
      credentials = fromTemporaryCredentials({
        params: {
          RoleArn: options.assumeRole.roleArn,
          RoleSessionName: options.assumeRole.roleSessionName || `model-to-aks-${Date.now()}`,
          ExternalId: options.assumeRole.externalId || undefined,
        },
        masterCredentials: base ?? fromNodeProviderChain({ clientConfig: { region: this.region, requestHandler } }),
        clientConfig: { region: this.region, requestHandler },
      });
      this.credentialLabel = `role '${options.assumeRole.roleArn}' assumed with ${this.credentialLabel}`;
    } else {
      credentials = base ?? fromNodeProviderChain({ clientConfig: { region: this.region, requestHandler } });
    }

    this.client = new S3Client({
      region: this.region,
      endpoint: this.endpoint,
      forcePathStyle: this.forcePathStyle,
      credentials,
      requestHandler,
      maxAttempts: options.maxAttempts ?? S3_MAX_ATTEMPTS,
      followRegionRedirects: true,
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
    });
  }

  uriOf(key: string): string {
    return `s3://${this.bucket}/${key}`;
  }

  async *list(prefix: string, options: ListOptions = {}): AsyncIterable<StoredObject> {
    let token: string | undefined;
    do {
      let page;
      try {
        page = await this.client.send(new ListObjectsV2Command({ Bucket: this.bucket, Prefix: prefix || undefined, ContinuationToken: token, MaxKeys: 1000 }), {
          abortSignal: this.signal,
        });
      } catch (err) {
        throw this.describe(err, `list objects under '${prefix}'`, false);
      }
      const objects: StoredObject[] = (page.Contents ?? [])
        .filter((c) => c.Key !== undefined)
        .map((c) => ({ key: c.Key as string, size: c.Size ?? 0, lastModified: c.LastModified ?? new Date(0), etag: stripQuotes(c.ETag) }));
      if (options.includeMetadata || options.includeTags) {
        const enriched = await mapLimit(objects, this.metadataConcurrency, async (o) => {
          if (o.key.endsWith('/')) return o; // folder marker
          let result: StoredObject = o;
          if (options.includeMetadata) {
            const head = await this.head(o.key);
            if (head) result = { ...head, key: o.key };
          }
          if (options.includeTags) result = { ...result, tags: await this.tagsOf(o.key) };
          return result;
        });
        yield* enriched;
      } else {
        yield* objects;
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
  }

  private async tagsOf(key: string, versionId?: string): Promise<Record<string, string>> {
    try {
      const res = await this.client.send(new GetObjectTaggingCommand({ Bucket: this.bucket, Key: key, VersionId: versionId }), { abortSignal: this.signal });
      const tags: Record<string, string> = {};
      for (const t of res.TagSet ?? []) if (t.Key !== undefined) tags[t.Key] = t.Value ?? '';
      return tags;
    } catch (err) {
      if (errorName(err) === 'NoSuchKey' || httpStatusOf(err) === 404) return {};
      throw this.describe(err, `read the tags of '${key}'`, true);
    }
  }

  async head(key: string, options: { versionId?: string; includeTags?: boolean } = {}): Promise<StoredObject | undefined> {
    try {
      const res = await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: key, VersionId: options.versionId, ChecksumMode: 'ENABLED' }), {
        abortSignal: this.signal,
      });
      // Servers without versioning (s3rver, versioning off) may ignore VersionId and answer with the current object.
      if (options.versionId && res.VersionId !== options.versionId) return undefined;
      const sha = res.ChecksumSHA256 && !res.ChecksumSHA256.includes('-') && res.ChecksumType !== 'COMPOSITE' ? res.ChecksumSHA256 : undefined;
      return {
        key,
        size: res.ContentLength ?? 0,
        lastModified: res.LastModified ?? new Date(0),
        etag: stripQuotes(res.ETag),
        versionId: res.VersionId && res.VersionId !== 'null' ? res.VersionId : undefined,
        checksumSha256: sha,
        metadata: lowerKeys(res.Metadata),
        tags: options.includeTags ? await this.tagsOf(key, options.versionId) : undefined,
      };
    } catch (err) {
      const status = httpStatusOf(err);
      const name = errorName(err);
      if (status === 404 && name !== 'NoSuchBucket') return undefined;
      // A version id this object does not have (S3 answers 400 "Invalid version id specified").
      if (status === 400 && options.versionId && /InvalidArgument|BadRequest/.test(name)) return undefined;
      throw this.describe(err, `read the properties of '${key}'`, false);
    }
  }

  /** Every version of exactly `key` (newest first), for pinned version ids; empty when versioning is off or unsupported. */
  async listVersions(key: string): Promise<StoredObject[]> {
    const out: StoredObject[] = [];
    let keyMarker: string | undefined;
    let versionMarker: string | undefined;
    for (;;) {
      let page;
      try {
        page = await this.client.send(
          new ListObjectVersionsCommand({ Bucket: this.bucket, Prefix: key, KeyMarker: keyMarker, VersionIdMarker: versionMarker }),
          { abortSignal: this.signal },
        );
      } catch (err) {
        if (httpStatusOf(err) === 501 || httpStatusOf(err) === 405 || errorName(err) === 'NotImplemented' || errorName(err) === 'MethodNotAllowed') return out;
        throw this.describe(err, `list the versions of '${key}'`, false);
      }
      for (const v of page.Versions ?? []) {
        if (v.Key !== key) continue;
        out.push({
          key,
          size: v.Size ?? 0,
          lastModified: v.LastModified ?? new Date(0),
          etag: stripQuotes(v.ETag),
          versionId: v.VersionId && v.VersionId !== 'null' ? v.VersionId : undefined,
        });
      }
      if (!page.IsTruncated) break;
      keyMarker = page.NextKeyMarker;
      versionMarker = page.NextVersionIdMarker;
      if (!keyMarker || !keyMarker.startsWith(key)) break;
    }
    return out;
  }

  async readRange(key: string, start: number, end: number, options: RangeOptions = {}): Promise<Readable> {
    if (end <= start) return Readable.from([]);
    let res;
    try {
      res = await this.client.send(
        new GetObjectCommand({
          Bucket: this.bucket,
          Key: key,
          Range: `bytes=${start}-${end - 1}`,
          IfMatch: options.ifMatch ? `"${stripQuotes(options.ifMatch)}"` : undefined,
          VersionId: options.versionId,
        }),
        { abortSignal: options.signal ?? this.signal },
      );
    } catch (err) {
      const status = httpStatusOf(err);
      if (status === 401 || status === 403 || errorName(err) === 'NoSuchBucket' || AUTH_NAMES.has(errorName(err))) {
        // The error keeps the HTTP status (statusCode), as every readRange error does.
        throw this.describe(err, `read '${key}'`, false);
      }
      throw err;
    }
    const body = res.Body;
    if (!(body instanceof Readable)) {
      throw new RetryableError(`GetObject of ${this.uriOf(key)} returned no readable body.`);
    }
    // Some S3-compatible servers answer more than asked (s3rver reads `bytes=0-0` as the whole
    // object; others ignore Range and send 200). Keep exactly the bytes asked for.
    const m = /^bytes (\d+)-(\d+)\//.exec(res.ContentRange ?? '');
    const first = m ? Number(m[1]) : 0;
    const sent = m ? Number(m[2]) - first + 1 : res.ContentLength;
    if (first !== start) {
      body.destroy();
      throw new UserError(
        `The S3 endpoint answered bytes from ${first} when ${start}-${end - 1} of ${this.uriOf(key)} were asked for: the server does not support ranged reads correctly.`,
        { code: 'RangeNotSupported' },
      );
    }
    if (sent !== undefined && sent > end - start) return limitStream(body, end - start);
    return body;
  }

  /** Turn an SDK error into a UserError when it is about the user's setup; otherwise return it unchanged. */
  describe(err: unknown, operation: string, tags: boolean): unknown {
    // Already one line for the user (e.g. the OIDC sign-in's own errors).
    if (err instanceof UserError) return err;
    const name = errorName(err);
    const status = httpStatusOf(err);
    const where = this.endpoint ? `at ${this.endpoint}` : `in region ${this.region}`;
    if (name === 'NoSuchBucket') {
      return new NotFoundError(`Bucket '${this.bucket}' does not exist ${where}: check the bucket input${this.endpoint ? ' and s3Endpoint' : ' and region'}.`, {
        input: 'bucket',
        cause: err,
        statusCode: status,
      });
    }
    if (name === 'PermanentRedirect' || name === 'AuthorizationHeaderMalformed' || status === 301) {
      return new UserError(`Bucket '${this.bucket}' is not in region ${this.region}: set the region input to the bucket's region.`, {
        code: 'WrongRegion',
        input: 'region',
        cause: err,
        statusCode: status,
      });
    }
    if (name === 'CredentialsProviderError' || (err instanceof Error && /Could not load credentials/i.test(err.message))) {
      return new AuthError(
        'No AWS credentials were found: select an S3 service connection in s3Connection, or give the agent AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, a profile or an instance role.',
        { input: 's3Connection', cause: err, statusCode: status },
      );
    }
    const message = err instanceof Error ? err.message : '';
    if (this.roleArn && (/AssumeRole/i.test(message) || name === 'InvalidClientTokenId' || name === 'RegionDisabledException')) {
      return new AuthError(
        `Assuming role '${this.roleArn}' failed (${name || 'STS error'}): allow sts:AssumeRole for the connection's key in the role's trust policy and check the external id.`,
        { input: 's3Connection', cause: err, statusCode: status },
      );
    }
    if (AUTH_NAMES.has(name) || status === 401 || status === 403) {
      let fix: string;
      switch (name) {
        case 'InvalidAccessKeyId':
          fix = `the access key id is not known ${this.endpoint ? `to ${this.endpoint}` : 'to AWS'}: check the key id${this.endpoint ? ' and the s3Endpoint input' : ''}`;
          break;
        case 'SignatureDoesNotMatch':
          fix = 'the secret access key does not match the key id: check the secret';
          break;
        case 'ExpiredToken':
        case 'InvalidToken':
        case 'TokenRefreshRequired':
          fix = 'the session token is expired or invalid: refresh the temporary credentials';
          break;
        default:
          fix = `allow s3:ListBucket on bucket '${this.bucket}' and s3:GetObject${tags ? ' and s3:GetObjectTagging' : ''} (s3:GetObjectVersion for pinned version ids) on its objects`;
      }
      return new AuthError(`S3 refused ${this.credentialLabel} when trying to ${operation} in bucket '${this.bucket}' (${name || `HTTP ${status}`}): ${fix}.`, {
        input: this.credentialLabel.startsWith('S3 service connection') ? 's3Connection' : undefined,
        cause: err,
        statusCode: status,
      });
    }
    const net = timeoutDetail(err) ?? networkCode(err);
    if (net) {
      const host = this.endpoint ?? `s3.${this.region}.amazonaws.com`;
      return new UserError(`The S3 endpoint ${host} cannot be reached (${net}): check the ${this.endpointInput} input, DNS and the agent's proxy settings.`, {
        code: 'Unreachable',
        input: this.endpointInput === 'region' ? 'region' : 's3Endpoint',
        cause: err,
      });
    }
    return err;
  }
}
