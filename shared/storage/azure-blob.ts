/**
 * Azure Blob Storage as a {@link ModelStore}, on @azure/storage-blob.
 *
 * Three ways in: a connection string (also `UseDevelopmentStorage=true` and
 * Azurite-style `BlobEndpoint=` strings), a SAS URL (account SAS plus the
 * container input, or a container SAS), or an Entra ID TokenCredential with an
 * account name or explicit blob endpoint (sovereign clouds, private
 * endpoints, emulators).
 *
 * Errors become one-sentence UserErrors: a missing container is a
 * NotFoundError naming the `container` input, 401/403 an AuthError naming the
 * credential and the role it needs, an unreachable account a UserError naming
 * the input that set the endpoint. readRange() errors keep their HTTP status
 * (statusCode) so the download engine can tell transient failures apart.
 */
import http from 'node:http';
import https from 'node:https';
import { PassThrough, Readable } from 'node:stream';
import type { TokenCredential } from '@azure/identity';
import { BlobServiceClient, ContainerClient, type BlobItem, type BlobProperties, type StoragePipelineOptions } from '@azure/storage-blob';
import { blobEndpointFor } from '../azure/credential';
import { AuthError, errorMessage, InputError, NotFoundError, RetryableError, UserError } from '../errors';
import { agentTimeoutOptions, DEFAULT_NETWORK_LIMITS, timeoutDetail, withSocketTimeouts } from '../net/timeouts';
import { httpStatusOf } from '../retry';
import { isAddressOrLocalName } from '../net/loopback';
import { networkCode } from '../net/network-code';
import { proxyAgent, proxyFor } from '../net/proxy';
import type { ListOptions, ModelStore, RangeOptions, StoredObject, StoreNetworkOptions } from './store';

export interface AzureBlobStoreOptions extends StoreNetworkOptions {
  /** Attempts per HTTP request made by the SDK itself (default 3). readRange failures are retried by the caller. */
  maxTries?: number;
}

/** Attempts per SDK request (a black hole is tried this many times). */
export const AZURE_BLOB_MAX_TRIES = 3;

/** How the store was reached: for error messages. */
interface AccessContext {
  container: string;
  /** e.g. "service connection 'prod-sub'", "the connection string", "the SAS URL". */
  credential: string;
  kind: 'entra' | 'sharedKey' | 'sas';
  /** Input that decided the endpoint: storageAccount, blobEndpoint or connectionString. */
  endpointInput: string;
  /** Aborts every request (the task's network deadline). */
  signal?: AbortSignal;
}

/**
 * SDK pipeline options with our own keep-alive agent: a direct one, or a proxy
 * agent when the proxy rules (agent proxy > HTTPS_PROXY/HTTP_PROXY, minus
 * NO_PROXY) say so. core-rest-pipeline's agent policy runs before its proxy
 * policy, and the proxy policy leaves a request that already has an agent
 * alone, so these rules (wildcards, ports, CIDR) are the only ones that apply.
 */
function pipelineOptions(endpoint: string, options: AzureBlobStoreOptions): StoragePipelineOptions {
  const result: StoragePipelineOptions = {
    retryOptions: { maxTries: options.maxTries ?? AZURE_BLOB_MAX_TRIES, retryDelayInMs: 500, maxRetryDelayInMs: 4000 },
    keepAliveOptions: { enable: true },
    userAgentOptions: { userAgentPrefix: 'model-to-aks-FetchModel' },
  };
  const secure = endpoint.toLowerCase().startsWith('https:');
  const limits = options.limits ?? DEFAULT_NETWORK_LIMITS;
  const agentOptions = { keepAlive: true, maxSockets: Math.max(64, options.maxSockets ?? 64), ...agentTimeoutOptions(limits) };
  const proxy = proxyFor(endpoint, { proxyUrl: options.proxyUrl, noProxy: options.noProxy, bypassPatterns: options.bypassPatterns, env: options.env });
  const agent = proxy ? proxyAgent(proxy, secure, agentOptions) : secure ? new https.Agent(agentOptions) : new http.Agent(agentOptions);
  // The SDK's own timeouts (tryTimeoutInMs) are only a server-side parameter: the agent's sockets time out client side.
  withSocketTimeouts(agent, limits, hostOf(endpoint));
  // `agent` is a core-rest-pipeline option that StoragePipelineOptions passes through without declaring it.
  return Object.assign(result, { agent });
}

function hostOf(endpoint: string): string {
  try {
    return new URL(endpoint).host;
  } catch {
    return endpoint;
  }
}

function validateContainer(container: string): string {
  const name = container.trim();
  if (!name) throw new InputError('container', 'The container input is empty: give the name of the blob container that holds the model, e.g. models.');
  if (name !== '$root' && !/^[a-z0-9](?:[a-z0-9]|-(?=[a-z0-9])){2,62}$/.test(name)) {
    throw new InputError('container', `'${name}' is not a valid blob container name: use 3-63 lowercase letters, digits and single hyphens, e.g. models.`);
  }
  return name;
}

function parseHttpUrl(text: string, input: string, what: string): URL {
  let url: URL;
  try {
    url = new URL(text.trim());
  } catch {
    throw new InputError(input, `The ${input} input is not a valid URL: give ${what}.`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new InputError(input, `The ${input} input must be an http(s) URL: give ${what}.`);
  return url;
}

/** Path-style URLs (emulators, IP hosts) carry the account as the first path segment. */
function isPathStyle(url: URL): boolean {
  const host = url.hostname;
  return isAddressOrLocalName(host) || (url.port !== '' && !host.includes('.blob.'));
}

/** A ModelStore over one blob container. Create it with the factory functions below. */
export class AzureBlobStore implements ModelStore {
  readonly kind = 'azureBlob' as const;
  /** Container URL without query (no SAS), for display. */
  readonly containerUrl: string;
  readonly accountName: string;

  constructor(
    readonly client: ContainerClient,
    private readonly access: AccessContext,
  ) {
    const url = new URL(client.url);
    url.search = '';
    this.containerUrl = url.toString().replace(/\/+$/, '');
    this.accountName = client.accountName || (isPathStyle(url) ? (url.pathname.split('/')[1] ?? '') : (url.hostname.split('.')[0] ?? ''));
  }

  get containerName(): string {
    return this.access.container;
  }

  uriOf(key: string): string {
    return `${this.containerUrl}/${key.split('/').map(encodeURIComponent).join('/')}`;
  }

  /**
   * The client for one blob. The SDK resolves `.` and `..` segments of a blob
   * name as URL dot segments, so such a name would address another blob or
   * container (`a/../../x` becomes container `x`): refuse it instead.
   */
  private blobClient(key: string, versionId?: string): ReturnType<ContainerClient['getBlobClient']> {
    if (/(^|\/)\.\.?(\/|$)/.test(key)) {
      throw new UserError(
        `The blob name ${JSON.stringify(key)} in container '${this.access.container}' has a '.' or '..' segment, which the storage client would resolve to a different blob; nothing was requested: use the blob's plain name.`,
        { code: 'UnsafeStoreKey', input: 'modelPath' },
      );
    }
    const blob = this.client.getBlobClient(key);
    return versionId ? blob.withVersion(versionId) : blob;
  }

  async *list(prefix: string, options: ListOptions = {}): AsyncIterable<StoredObject> {
    const pages = this.client
      .listBlobsFlat({
        prefix: prefix || undefined,
        includeMetadata: options.includeMetadata,
        includeTags: options.includeTags,
        abortSignal: this.access.signal,
      })
      .byPage({ maxPageSize: 5000 });
    for (;;) {
      let page: IteratorResult<{ segment: { blobItems: BlobItem[] } }>;
      try {
        page = await pages.next();
      } catch (err) {
        throw this.describe(err, `list blobs under '${prefix}'`, options.includeTags === true);
      }
      if (page.done) return;
      for (const item of page.value.segment.blobItems) {
        if (item.deleted) continue;
        yield toStoredObject(item.name, item.properties, {
          versionId: item.versionId,
          metadata: options.includeMetadata ? (item.metadata ?? {}) : undefined,
          tags: options.includeTags ? (item.tags ?? {}) : undefined,
        });
      }
    }
  }

  async head(key: string, options: { versionId?: string; includeTags?: boolean } = {}): Promise<StoredObject | undefined> {
    const blob = this.blobClient(key, options.versionId);
    try {
      const p = await blob.getProperties({ abortSignal: this.access.signal });
      // A server without blob versioning (Azurite, versioning off) ignores the versionid parameter
      // and answers with the current blob: that is not the version asked for.
      if (options.versionId && p.versionId !== options.versionId) return undefined;
      let tags: Record<string, string> | undefined;
      if (options.includeTags) tags = (await blob.getTags({ abortSignal: this.access.signal })).tags;
      return {
        key,
        size: p.contentLength ?? 0,
        lastModified: p.lastModified ?? new Date(0),
        etag: stripQuotes(p.etag),
        versionId: p.versionId,
        contentMd5: p.contentMD5 ? Buffer.from(p.contentMD5).toString('base64') : undefined,
        metadata: lowerKeys(p.metadata ?? {}),
        tags,
      };
    } catch (err) {
      const status = httpStatusOf(err);
      const code = errorCode(err);
      if (status === 404 && code !== 'ContainerNotFound') return undefined;
      // A version id that is not a version id of this blob.
      if (status === 400 && options.versionId && /InvalidQueryParameterValue|InvalidVersion/i.test(code ?? '')) return undefined;
      throw this.describe(err, `read the properties of '${key}'`, options.includeTags === true);
    }
  }

  async readRange(key: string, start: number, end: number, options: RangeOptions = {}): Promise<Readable> {
    if (end <= start) return Readable.from([]);
    const blob = this.blobClient(key, options.versionId);
    let body: NodeJS.ReadableStream | undefined;
    try {
      const res = await blob.download(start, end - start, {
        conditions: options.ifMatch ? { ifMatch: quoteEtag(options.ifMatch) } : undefined,
        abortSignal: options.signal ?? this.access.signal,
        // The caller resumes interrupted ranges itself; no hidden second retry layer.
        maxRetryRequests: 0,
      });
      body = res.readableStreamBody;
    } catch (err) {
      throw this.describeRangeError(err, key);
    }
    if (!body) throw new RetryableError(`The download of ${this.uriOf(key)} returned no body.`);
    return rewrapBody(body as Readable, key, start, end);
  }

  private describeRangeError(err: unknown, key: string): unknown {
    const status = httpStatusOf(err);
    // The AuthError keeps the HTTP status (statusCode), as every readRange error does.
    if (status === 401 || status === 403) return this.describe(err, `read '${key}'`, false);
    return err;
  }

  /** Turn an SDK error into a UserError when it is about the user's setup; otherwise return it unchanged. */
  describe(err: unknown, operation: string, tags: boolean): unknown {
    const { container, credential, kind, endpointInput } = this.access;
    const status = httpStatusOf(err);
    const code = errorCode(err) ?? '';
    const account = this.accountName || 'the storage account';
    if (status === 404 && (code === 'ContainerNotFound' || /container/i.test(code))) {
      return new NotFoundError(`Container '${container}' does not exist in storage account '${account}': check the container input.`, {
        input: 'container',
        cause: err,
      });
    }
    if (status === 404 && code === 'ResourceNotFound' && kind === 'sas') {
      return new NotFoundError(
        `Container '${container}' was not found with ${credential} in storage account '${account}': check the container input and the SAS URL.`,
        { input: 'container', cause: err },
      );
    }
    if (status === 401 || status === 403) {
      const detail = code ? ` (${code})` : '';
      let fix: string;
      if (kind === 'entra') {
        fix = tags
          ? 'grant its identity the Storage Blob Data Reader role on the account or container, plus the blob tags read permission (Storage Blob Data Owner or a custom role with .../blobs/tags/read) for tag filters'
          : 'grant its identity the Storage Blob Data Reader role on the storage account or container (role assignments take a few minutes to apply), and check the account firewall allows the agent';
      } else if (kind === 'sas') {
        fix = `use a SAS that is not expired and has read and list permissions (sp=rl${tags ? 't' : ''}) on container '${container}', and check the account firewall allows the agent`;
      } else {
        fix = 'check the AccountKey in the connection string (keys get rotated) and that the account firewall allows the agent';
      }
      return new AuthError(`${capitalize(credential)} was refused when trying to ${operation} in container '${container}'${detail}: ${fix}.`, {
        input: endpointInput === 'connectionString' ? 'connectionString' : undefined,
        cause: err,
        statusCode: status,
      });
    }
    if (isIdentityError(err)) {
      return new AuthError(
        `Signing in to Entra ID with ${credential} failed (${firstLine(errorMessage(err))}): verify the service connection (secret or certificate not expired, federated credential configured).`,
        { cause: err },
      );
    }
    const net = timeoutDetail(err) ?? networkCode(err);
    if (net) {
      return new UserError(
        `The blob endpoint ${this.endpointHost()} cannot be reached (${net}): check the ${endpointInput} input, the account name, DNS and the agent's proxy settings.`,
        { code: 'Unreachable', input: endpointInput, cause: err },
      );
    }
    // HEAD answers carry no body, so the SDK's error message is empty: say what the service answered.
    if (status !== undefined && !errorMessage(err).trim()) {
      return new UserError(
        `The blob service answered HTTP ${status}${code ? ` (${code})` : ''} when trying to ${operation} in container '${container}': check the modelPath and container inputs.`,
        {
          code: 'StoreError',
          cause: err,
        },
      );
    }
    return err;
  }

  private endpointHost(): string {
    try {
      return new URL(this.containerUrl).host;
    } catch {
      return this.containerUrl;
    }
  }
}

function capitalize(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1);
}

function firstLine(s: string): string {
  const line = s.split('\n')[0]?.trim() ?? '';
  return line.length > 200 ? `${line.slice(0, 200)}...` : line;
}

function errorCode(err: unknown): string | undefined {
  if (typeof err !== 'object' || err === null) return undefined;
  const e = err as { code?: unknown; details?: { errorCode?: unknown } };
  if (typeof e.details?.errorCode === 'string') return e.details.errorCode;
  return typeof e.code === 'string' ? e.code : undefined;
}

function isIdentityError(err: unknown): boolean {
  const name = (err as { name?: unknown } | null)?.name;
  return (
    typeof name === 'string' &&
    ['AuthenticationError', 'CredentialUnavailableError', 'AggregateAuthenticationError', 'AuthenticationRequiredError'].includes(name)
  );
}

function stripQuotes(etag: string | undefined): string | undefined {
  return etag?.replace(/^W\//, '').replace(/^"(.*)"$/, '$1');
}

function quoteEtag(etag: string): string {
  return etag.startsWith('"') ? etag : `"${etag}"`;
}

function lowerKeys(record: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(record)) out[k.toLowerCase()] = v;
  return out;
}

function toStoredObject(
  key: string,
  p: BlobProperties,
  extra: { versionId?: string; metadata?: Record<string, string>; tags?: Record<string, string> },
): StoredObject {
  return {
    key,
    size: p.contentLength ?? 0,
    lastModified: p.lastModified,
    etag: stripQuotes(p.etag),
    versionId: extra.versionId,
    contentMd5: p.contentMD5 && p.contentMD5.length > 0 ? Buffer.from(p.contentMD5).toString('base64') : undefined,
    metadata: extra.metadata ? lowerKeys(extra.metadata) : undefined,
    tags: extra.tags,
  };
}

/**
 * The SDK wraps the body in a stream that, with retries off, reports an early
 * end as "Data corruption failure". Re-emit it as a transient connection reset
 * so the caller resumes the range.
 */
function rewrapBody(body: Readable, key: string, start: number, end: number): Readable {
  // A small buffer: the download engine pauses the body while it writes, and what this layer holds then
  // (up to twice its highWaterMark, per range in flight) is resident memory, not speed.
  const out = new PassThrough({ highWaterMark: 64 * 1024 });
  let received = 0;
  body.on('data', (chunk: Buffer) => {
    received += chunk.length;
  });
  body.on('error', (err: Error) => {
    if (/received less data than required/i.test(err.message)) {
      out.destroy(
        new RetryableError(`The connection closed after ${received} of ${end - start} bytes of '${key}' (from byte ${start}).`, { code: 'ECONNRESET' }),
      );
    } else {
      out.destroy(err);
    }
  });
  out.on('close', () => {
    if (!body.destroyed) body.destroy();
  });
  body.pipe(out);
  return out;
}

// ---------------------------------------------------------------------------
// Factories.

/** From a storage connection string (account key, SAS, `UseDevelopmentStorage=true`, Azurite `BlobEndpoint=`). */
export function azureBlobStoreFromConnectionString(connectionString: string, container: string, options: AzureBlobStoreOptions = {}): AzureBlobStore {
  const name = validateContainer(container);
  const text = connectionString.trim();
  if (!text)
    throw new InputError('connectionString', 'The connectionString input is empty: give a storage connection string or SAS URL, through a secret variable.');
  if (/^https?:\/\//i.test(text)) return azureBlobStoreFromSasUrl(text, name, options);
  const endpointMatch = /(?:^|;)\s*BlobEndpoint\s*=\s*([^;]+)/i.exec(text);
  const accountMatch = /(?:^|;)\s*AccountName\s*=\s*([^;]+)/i.exec(text);
  const suffixMatch = /(?:^|;)\s*EndpointSuffix\s*=\s*([^;]+)/i.exec(text);
  const protocolMatch = /(?:^|;)\s*DefaultEndpointsProtocol\s*=\s*([^;]+)/i.exec(text);
  const endpoint =
    endpointMatch?.[1]?.trim() ??
    (/UseDevelopmentStorage\s*=\s*true/i.test(text)
      ? 'http://127.0.0.1:10000/devstoreaccount1'
      : accountMatch
        ? `${protocolMatch?.[1]?.trim() ?? 'https'}://${accountMatch[1]?.trim()}.blob.${suffixMatch?.[1]?.trim() ?? 'core.windows.net'}`
        : 'https://blob.core.windows.net');
  let service: BlobServiceClient;
  try {
    service = BlobServiceClient.fromConnectionString(text, pipelineOptions(endpoint, options));
  } catch {
    // Never echo the string: it holds the key.
    throw new InputError(
      'connectionString',
      'The connectionString input is not a valid storage connection string: copy it from the storage account (Access keys), e.g. DefaultEndpointsProtocol=https;AccountName=...;AccountKey=...;EndpointSuffix=core.windows.net, or give a SAS URL.',
    );
  }
  const sas = /SharedAccessSignature\s*=/i.test(text) && !/AccountKey\s*=/i.test(text);
  return new AzureBlobStore(service.getContainerClient(name), {
    container: name,
    credential: sas ? 'the SAS in the connection string' : 'the connection string',
    kind: sas ? 'sas' : 'sharedKey',
    endpointInput: 'connectionString',
    signal: options.signal,
  });
}

/** From a SAS URL: an account SAS (`https://acct.blob.core.windows.net/?sv=...`) plus the container, or a container SAS. */
export function azureBlobStoreFromSasUrl(sasUrl: string, container: string | undefined, options: AzureBlobStoreOptions = {}): AzureBlobStore {
  let url: URL;
  try {
    url = new URL(sasUrl.trim());
  } catch {
    throw new InputError(
      'connectionString',
      'The SAS URL in the connectionString input is not a valid URL: copy the full Blob SAS URL (https://<account>.blob.core.windows.net/<container>?sv=...).',
    );
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new InputError('connectionString', 'The SAS URL in the connectionString input must start with https://: copy the full Blob SAS URL.');
  }
  if (!url.searchParams.has('sig')) {
    throw new InputError(
      'connectionString',
      'The SAS URL in the connectionString input has no signature (sig=): copy the full Blob SAS URL including its query string.',
    );
  }
  const segments = url.pathname.split('/').filter((s) => s.length > 0);
  const pathStyle = isPathStyle(url);
  const urlContainer = pathStyle ? segments[1] : segments[0];
  const wanted = container?.trim() || urlContainer;
  if (!wanted) throw new InputError('container', 'The container input is empty and the SAS URL names no container: give the container that holds the model.');
  const name = validateContainer(wanted);
  if (urlContainer && urlContainer !== name) {
    throw new InputError(
      'container',
      `The container input '${name}' differs from the container '${urlContainer}' of the SAS URL: a container SAS only grants access to its own container, so make them match.`,
    );
  }
  const query = url.search;
  const base = new URL(url.toString());
  base.search = '';
  base.pathname = pathStyle ? `/${segments[0] ?? ''}` : '/';
  const accountUrl = base.toString().replace(/\/+$/, '');
  const service = new BlobServiceClient(`${accountUrl}${query}`, undefined, pipelineOptions(accountUrl, options));
  const client = service.getContainerClient(name);
  return new AzureBlobStore(client, { container: name, credential: 'the SAS URL', kind: 'sas', endpointInput: 'connectionString', signal: options.signal });
}

interface AzureCredentialTarget {
  /** Storage account name; the endpoint is https://<account>.blob.<cloud suffix>. */
  accountName?: string;
  /** Explicit blob endpoint (sovereign clouds, private endpoints, emulators); wins over accountName. */
  blobEndpoint?: string;
  /** Cloud of the service connection (AzureCloud, AzureUSGovernment, AzureChinaCloud...). */
  environment?: string;
  /** For messages, e.g. "service connection 'prod'". */
  credentialLabel?: string;
}

/** From an Entra ID credential (service connection) and an account name or blob endpoint. */
export function azureBlobStoreFromCredential(
  credential: TokenCredential,
  target: AzureCredentialTarget,
  container: string,
  options: AzureBlobStoreOptions = {},
): AzureBlobStore {
  const name = validateContainer(container);
  let endpoint: string;
  let endpointInput: string;
  if (target.blobEndpoint?.trim()) {
    const url = parseHttpUrl(target.blobEndpoint, 'blobEndpoint', 'the blob service URL, e.g. https://contoso.blob.core.usgovcloudapi.net');
    url.search = '';
    endpoint = url.toString().replace(/\/+$/, '');
    endpointInput = 'blobEndpoint';
  } else {
    const account = target.accountName?.trim() ?? '';
    if (!/^[a-z0-9]{3,24}$/.test(account)) {
      throw new InputError(
        'storageAccount',
        account
          ? `'${account}' is not a valid storage account name: use the account's name (3-24 lowercase letters and digits), not its URL.`
          : 'The storageAccount input is empty: give the name of the storage account that holds the model.',
      );
    }
    endpoint = blobEndpointFor(account, target.environment);
    endpointInput = 'storageAccount';
  }
  const service = new BlobServiceClient(endpoint, credential, pipelineOptions(endpoint, options));
  return new AzureBlobStore(service.getContainerClient(name), {
    container: name,
    credential: target.credentialLabel ?? 'the Azure credential',
    kind: 'entra',
    endpointInput,
    signal: options.signal,
  });
}
