/**
 * Azure credentials (Entra ID) from a service connection record: service
 * principal with secret or certificate, workload identity federation
 * (AzurePipelinesCredential, which asks the pipeline for a fresh OIDC token
 * each time it needs a new access token, so long steps outlive the ~10-minute
 * federated token) and managed identity. Also the per-cloud endpoints.
 */
import {
  type AccessToken,
  AzurePipelinesCredential,
  ClientCertificateCredential,
  ClientSecretCredential,
  ManagedIdentityCredential,
  type GetTokenOptions,
  type TokenCredential,
} from '@azure/identity';
import type { AzureRmEndpoint } from '../connections';
import { AuthError, InputError } from '../errors';
import { DEFAULT_NETWORK_LIMITS } from '../net/timeouts';

/**
 * How long one Entra ID sign-in (a getToken call, with the SDK's own retries
 * inside) may take: twice the network idle timeout, so an authority or
 * identity endpoint that accepts connections and never answers fails well
 * under the 2-minute bound the other clients keep.
 */
export const DEFAULT_TOKEN_TIMEOUT_MS = 2 * DEFAULT_NETWORK_LIMITS.idleTimeoutMs;

/**
 * Wraps a credential so every getToken call ends within `timeoutMs`: the
 * SDK is handed an abort signal for the limit (and the caller's), and the call
 * is also raced against it, since not every credential honours the signal.
 */
export function withTokenTimeout(credential: TokenCredential, options: { timeoutMs: number; where: string; label?: string }): TokenCredential {
  return {
    getToken: async (scopes: string | string[], getOptions?: GetTokenOptions): Promise<AccessToken | null> => {
      const limit = AbortSignal.timeout(options.timeoutMs);
      const abortSignal = getOptions?.abortSignal ? AbortSignal.any([getOptions.abortSignal as AbortSignal, limit]) : limit;
      let onAbort: (() => void) | undefined;
      const aborted = new Promise<never>((_, reject) => {
        onAbort = () =>
          reject(
            limit.aborted
              ? new AuthError(
                  `Entra ID sign-in at ${options.where} gave no token within ${options.timeoutMs / 1000} s${options.label ? ` for ${options.label}` : ''}: check that the agent can reach it (proxy, firewall) or raise networkTimeout.`,
                )
              : abortSignal.reason,
          );
        if (abortSignal.aborted) onAbort();
        else abortSignal.addEventListener('abort', onAbort, { once: true });
      });
      try {
        return await Promise.race([credential.getToken(scopes, { ...getOptions, abortSignal }), aborted]);
      } finally {
        if (onAbort) abortSignal.removeEventListener('abort', onAbort);
      }
    },
  };
}

interface Cloud {
  authorityHost: string;
  storageSuffix: string;
  resourceManager: string;
}

const CLOUDS: Record<string, Cloud> = {
  azurecloud: { authorityHost: 'https://login.microsoftonline.com', storageSuffix: 'core.windows.net', resourceManager: 'https://management.azure.com' },
  azureusgovernment: {
    authorityHost: 'https://login.microsoftonline.us',
    storageSuffix: 'core.usgovcloudapi.net',
    resourceManager: 'https://management.usgovcloudapi.net',
  },
  azurechinacloud: {
    authorityHost: 'https://login.chinacloudapi.cn',
    storageSuffix: 'core.chinacloudapi.cn',
    resourceManager: 'https://management.chinacloudapi.cn',
  },
  azuregermancloud: {
    authorityHost: 'https://login.microsoftonline.de',
    storageSuffix: 'core.cloudapi.de',
    resourceManager: 'https://management.microsoftazure.de',
  },
};

function cloudOf(environment?: string): Cloud {
  return CLOUDS[(environment ?? 'AzureCloud').toLowerCase()] ?? (CLOUDS.azurecloud as Cloud);
}

/** Blob endpoint of an account in the connection's cloud. */
export function blobEndpointFor(account: string, environment?: string): string {
  return `https://${account}.blob.${cloudOf(environment).storageSuffix}`;
}

export function authorityHostOf(endpoint: Pick<AzureRmEndpoint, 'environment' | 'authorityHost'>): string {
  return (endpoint.authorityHost ?? cloudOf(endpoint.environment).authorityHost).replace(/\/+$/, '');
}

/**
 * The Azure Resource Manager endpoint of a connection: its URL (the agent
 * gives every AzureRM connection one, e.g. https://management.azure.com/ or an
 * Azure Stack hub's), else the environment's. Only https: the Entra token goes there.
 */
export function resourceManagerOf(endpoint: Pick<AzureRmEndpoint, 'id' | 'environment' | 'resourceManagerUrl'>, input: string): string {
  const url = endpoint.resourceManagerUrl;
  if (!url) return cloudOf(endpoint.environment).resourceManager;
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new InputError(
      input,
      `Azure service connection '${endpoint.id}' has a URL that is not valid ('${url}'): edit the service connection (its Resource Manager URL).`,
    );
  }
  if (parsed.protocol !== 'https:')
    throw new InputError(
      input,
      `Azure service connection '${endpoint.id}' has the Resource Manager URL '${url}', which is not https: the Azure token is only sent over https; edit the service connection.`,
    );
  return `${parsed.origin}${parsed.pathname}`.replace(/\/+$/, '');
}

/**
 * MSAL checks an authority it does not know by asking the public cloud's
 * instance discovery, which fails for a connection's own authority (an
 * Azure Stack hub's, a private cloud's) and offline: an authority other than
 * the built-in clouds' is the one the connection names, so it is used as given.
 */
function instanceDiscoveryOptions(authorityHost: string): { authorityHost: string; disableInstanceDiscovery?: boolean } {
  const known = Object.values(CLOUDS).some((c) => c.authorityHost === authorityHost);
  return known ? { authorityHost } : { authorityHost, disableInstanceDiscovery: true };
}

/**
 * A TokenCredential for the connection's scheme, each sign-in limited to
 * `timeoutMs` (default {@link DEFAULT_TOKEN_TIMEOUT_MS}). Throws AuthError
 * when the record is incomplete.
 */
export function azureCredentialFor(endpoint: AzureRmEndpoint, options: { timeoutMs?: number } = {}): TokenCredential {
  const authorityHost = authorityHostOf(endpoint);
  const where = endpoint.scheme === 'ManagedServiceIdentity' ? 'the managed identity endpoint' : authorityHost;
  const credential = credentialOf(endpoint, authorityHost);
  // The instance keeps its class (callers and tests may check it); only its getToken is limited.
  const limited = withTokenTimeout(
    { getToken: credential.getToken.bind(credential) },
    { timeoutMs: options.timeoutMs ?? DEFAULT_TOKEN_TIMEOUT_MS, where, label: `service connection '${endpoint.id}'` },
  );
  credential.getToken = limited.getToken;
  return credential;
}

function credentialOf(endpoint: AzureRmEndpoint, authorityHost: string): TokenCredential {
  const authority = instanceDiscoveryOptions(authorityHost);
  switch (endpoint.scheme) {
    case 'ServicePrincipal':
      if (!endpoint.tenantId || !endpoint.clientId) break;
      if (endpoint.certificatePem) {
        return new ClientCertificateCredential(endpoint.tenantId, endpoint.clientId, { certificate: endpoint.certificatePem }, authority);
      }
      if (endpoint.clientSecret) return new ClientSecretCredential(endpoint.tenantId, endpoint.clientId, endpoint.clientSecret, authority);
      break;
    case 'WorkloadIdentityFederation':
      if (!endpoint.tenantId || !endpoint.clientId) break;
      if (!endpoint.systemAccessToken) {
        throw new AuthError(
          `Service connection '${endpoint.id}' uses workload identity federation but the job has no access token: allow scripts to access the OAuth token (classic) or run in a pipeline job that provides System.AccessToken.`,
        );
      }
      if (!process.env.SYSTEM_OIDCREQUESTURI) {
        throw new AuthError(
          `Service connection '${endpoint.id}' uses workload identity federation but SYSTEM_OIDCREQUESTURI is not set: run the task on an Azure Pipelines agent (3.227 or newer).`,
        );
      }
      return new AzurePipelinesCredential(endpoint.tenantId, endpoint.clientId, endpoint.id, endpoint.systemAccessToken, authority);
    case 'ManagedServiceIdentity':
      return endpoint.clientId ? new ManagedIdentityCredential({ clientId: endpoint.clientId }) : new ManagedIdentityCredential();
  }
  throw new AuthError(`Service connection '${endpoint.id}' is missing its tenant id, client id or secret: edit the service connection and verify it.`);
}
