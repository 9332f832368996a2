/**
 * The job's OIDC token for a service connection, from the agent's OIDC
 * endpoint (the URL the agent gives the job as System.OidcRequestUri), as
 * Microsoft's workload identity federation does for Azure connections: POST
 * `<uri>?api-version=7.1&serviceConnectionId=<id>` with the job's access token
 * as a bearer token, answered with `{"oidcToken": "<JWT>"}`. Each call asks
 * for a new token (they live about ten minutes). The token is a secret; its
 * claims (issuer, subject, audience) are not, and messages name them so a
 * user can write the trust policy that accepts them.
 */
import http from 'node:http';
import https from 'node:https';
import { AuthError, RetryableError, UserError, isTransientStatus } from '../errors';
import { isLoopbackHost } from '../net/loopback';
import { proxyAgent, proxyFor, type ProxyOptions } from '../net/proxy';
import { DEFAULT_NETWORK_LIMITS, guardRequest, type NetworkLimits } from '../net/timeouts';
import { withRetry } from '../retry';

export const PIPELINE_OIDC_API_VERSION = '7.1';

export interface PipelineOidcRequest extends ProxyOptions {
  /** System.OidcRequestUri of the job. */
  requestUri: string;
  serviceConnectionId: string;
  /** The job's access token (System.AccessToken). */
  accessToken: string;
  /** The connection as messages name it, e.g. "S3 service connection 'prod'". */
  label: string;
  /** The option failures are about (e.g. s3Connection). */
  input?: string;
  limits?: Pick<NetworkLimits, 'connectTimeoutMs' | 'idleTimeoutMs'>;
  signal?: AbortSignal;
}

/** The claims of a JWT, read without verifying it (for messages only). */
export interface TokenClaims {
  iss?: string;
  sub?: string;
  aud?: string | string[];
  exp?: number;
}

export function tokenClaims(token: string): TokenClaims {
  try {
    const payload = token.split('.')[1];
    return payload ? (JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as TokenClaims) : {};
  } catch {
    return {};
  }
}

function post(url: URL, request: PipelineOidcRequest): Promise<{ status: number; body: string }> {
  const secure = url.protocol === 'https:';
  const limits = request.limits ?? DEFAULT_NETWORK_LIMITS;
  const proxy = proxyFor(url.toString(), request);
  const agent = proxy ? proxyAgent(proxy, secure, {}) : undefined;
  return new Promise((resolve, reject) => {
    const req = (secure ? https : http).request(
      url,
      {
        method: 'POST',
        agent,
        signal: request.signal,
        headers: {
          'content-type': 'application/json',
          accept: 'application/json',
          authorization: `Bearer ${request.accessToken}`,
          'x-tfs-fedauthredirect': 'Suppress',
          'content-length': 0,
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (c: Buffer) => {
          size += c.length;
          if (size > 1024 * 1024) res.destroy(new RetryableError('The OIDC endpoint answered more than 1 MiB.', { transient: false }));
          else chunks.push(c);
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      },
    );
    guardRequest(req, limits, url.host);
    req.on('error', reject);
    req.end();
  });
}

/** The service's own sentence from an Azure DevOps JSON error, if there is one. */
function serviceMessage(body: string): string | undefined {
  try {
    const m = (JSON.parse(body) as { message?: unknown }).message;
    return typeof m === 'string' ? m.replace(/\s+/g, ' ').trim().slice(0, 300) : undefined;
  } catch {
    return undefined;
  }
}

/** A new OIDC token for the service connection; one-line typed errors otherwise. */
export async function requestPipelineOidcToken(request: PipelineOidcRequest): Promise<string> {
  let url: URL;
  try {
    url = new URL(request.requestUri);
  } catch {
    throw new AuthError(`The job's OIDC endpoint (System.OidcRequestUri) is not a URL: run the task on an Azure Pipelines agent, which sets it.`, {
      input: request.input,
    });
  }
  // The job's access token goes only to an https endpoint (plain http only on this machine, for tests).
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && isLoopbackHost(url.hostname))) {
    throw new AuthError(`The job's OIDC endpoint (System.OidcRequestUri) is not an https URL, so the job's access token is not sent to it.`, {
      input: request.input,
    });
  }
  url.searchParams.set('api-version', PIPELINE_OIDC_API_VERSION);
  url.searchParams.set('serviceConnectionId', request.serviceConnectionId);
  const { status, body } = await withRetry(
    async () => {
      const res = await post(url, request);
      if (isTransientStatus(res.status)) throw new RetryableError(`The OIDC endpoint answered HTTP ${res.status}.`, { statusCode: res.status });
      return res;
    },
    { retries: 3, baseDelayMs: 500, signal: request.signal },
  );
  if (status === 401 || status === 403) {
    throw new AuthError(
      `The OIDC endpoint refused the job's access token (HTTP ${status}) when asked for a token for ${request.label}: in a classic pipeline tick "Allow scripts to access the OAuth token", and check the job's authorization scope can use the service connection.`,
      { input: request.input, statusCode: status },
    );
  }
  if (status < 200 || status >= 300) {
    const said = serviceMessage(body);
    throw new AuthError(
      `The OIDC endpoint issued no token for ${request.label} (HTTP ${status}${said ? `: ${said}` : ''}): check that this pipeline is allowed to use the service connection (Security of the service connection).`,
      { input: request.input, statusCode: status },
    );
  }
  let token: unknown;
  try {
    token = (JSON.parse(body) as { oidcToken?: unknown }).oidcToken;
  } catch {
    token = undefined;
  }
  if (typeof token !== 'string' || token.split('.').length !== 3) {
    throw new UserError(
      `The OIDC endpoint answered without an OIDC token for ${request.label}: re-run the job; if it persists, check the agent version (3.227 or newer).`,
      {
        code: 'AuthFailed',
        input: request.input,
      },
    );
  }
  return token;
}
