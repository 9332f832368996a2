/**
 * AKS cluster credentials without the az CLI: ARM POST
 * managedClusters/{name}/listClusterUserCredential (or ...Admin...) with
 * api-version 2024-05-01 returns base64 kubeconfigs. The ARM endpoint is a
 * parameter (sovereign clouds, tests).
 */
import type { TokenCredential } from '@azure/identity';
import { AuthError, errorMessage, InputError, NotFoundError, RetryableError, UserError } from '../errors';
import { DEFAULT_NETWORK_LIMITS, isTimeoutError, type NetworkLimits } from '../net/timeouts';
import { isTransientError, withRetry } from '../retry';
import { isRecord } from './types';

const AKS_API_VERSION = '2024-05-01';

interface AksCredentialRequest {
  credential: TokenCredential;
  /** e.g. https://management.azure.com */
  armEndpoint: string;
  subscriptionId: string;
  resourceGroup: string;
  clusterName: string;
  admin: boolean;
  /** Retries of 429/5xx/network failures (default 4; timeouts at most TIMEOUT_RETRIES). */
  retries?: number;
  /** Each attempt must be answered within limits.idleTimeoutMs (default {@link DEFAULT_NETWORK_LIMITS}). */
  limits?: Pick<NetworkLimits, 'idleTimeoutMs'>;
  /** The task's network deadline. */
  signal?: AbortSignal;
  fetchImpl?: typeof fetch;
}

/** A non-2xx answer of Azure Resource Manager; transient by its status. */
class ArmHttpError extends RetryableError {
  constructor(
    readonly status: number,
    override readonly code: string,
    readonly armMessage: string,
  ) {
    super(`ARM returned HTTP ${status} ${code}: ${armMessage}`, { statusCode: status });
  }
}

/** The kubeconfig YAML of the cluster (user or admin credentials). */
export async function fetchAksKubeconfig(req: AksCredentialRequest): Promise<string> {
  const action = req.admin ? 'listClusterAdminCredential' : 'listClusterUserCredential';
  const arm = req.armEndpoint.replace(/\/+$/, '');
  const url =
    `${arm}/subscriptions/${encodeURIComponent(req.subscriptionId)}/resourceGroups/${encodeURIComponent(req.resourceGroup)}` +
    `/providers/Microsoft.ContainerService/managedClusters/${encodeURIComponent(req.clusterName)}/${action}?api-version=${AKS_API_VERSION}`;
  const doFetch = req.fetchImpl ?? fetch;
  const cluster = `AKS cluster '${req.clusterName}' in resource group '${req.resourceGroup}' (subscription ${req.subscriptionId})`;

  let token: string;
  try {
    const t = await req.credential.getToken(`${arm}/.default`);
    if (!t?.token) throw new Error('no token returned');
    token = t.token;
  } catch (err) {
    throw new AuthError(
      `Could not sign in to Azure with the service connection in 'azureSubscription': ${err instanceof Error ? err.message.split('\n')[0] : String(err)}; verify the service connection.`,
      { input: 'azureSubscription', cause: err },
    );
  }

  // The answer is small: an attempt that is not answered within the idle timeout is a timeout.
  const idleMs = (req.limits ?? DEFAULT_NETWORK_LIMITS).idleTimeoutMs;
  const attemptSignal = (): AbortSignal => (req.signal ? AbortSignal.any([req.signal, AbortSignal.timeout(idleMs)]) : AbortSignal.timeout(idleMs));
  let body: unknown;
  try {
    body = await withRetry(
      async () => {
        const res = await doFetch(url, { method: 'POST', headers: { Authorization: `Bearer ${token}`, 'Content-Length': '0' }, signal: attemptSignal() });
        const text = await res.text();
        let json: unknown;
        try {
          json = text ? JSON.parse(text) : undefined;
        } catch {
          json = undefined;
        }
        if (!res.ok) {
          const e = isRecord(json) && isRecord(json.error) ? json.error : {};
          throw new ArmHttpError(res.status, typeof e.code === 'string' ? e.code : '', typeof e.message === 'string' ? e.message : text.slice(0, 300));
        }
        return json;
      },
      { retries: req.retries ?? 4, isRetryable: isTransientError, signal: req.signal },
    );
  } catch (err) {
    if (err instanceof ArmHttpError) {
      switch (err.status) {
        case 401:
          throw new AuthError(
            `Azure Resource Manager rejected the token of the service connection in 'azureSubscription' (HTTP 401 ${err.code}): verify the service connection.`,
            { input: 'azureSubscription', cause: err },
          );
        case 403:
          throw new AuthError(
            `The service connection in 'azureSubscription' may not ${action} on ${cluster} (HTTP 403 ${err.code}): assign it the '${req.admin ? 'Azure Kubernetes Service Cluster Admin Role' : 'Azure Kubernetes Service Cluster User Role'}' on the cluster.`,
            { input: 'azureSubscription', cause: err },
          );
        case 404:
          throw new NotFoundError(
            `${cluster} was not found (${err.code || 'HTTP 404'}): check 'kubernetesCluster', 'resourceGroup' and the subscription of 'azureSubscription'.`,
            { input: 'kubernetesCluster', cause: err },
          );
        case 400:
        case 409:
          throw new InputError(
            req.admin ? 'useClusterAdmin' : 'kubernetesCluster',
            `Azure refused ${action} for ${cluster}: ${err.armMessage}${req.admin ? ' (clusters with local accounts disabled have no admin credentials: set useClusterAdmin to false)' : ''}.`,
            err,
          );
        default:
          throw new UserError(`Azure Resource Manager failed ${action} for ${cluster} with HTTP ${err.status} ${err.code}: ${err.armMessage}; retry later.`, {
            cause: err,
          });
      }
    }
    if (req.signal?.aborted) throw req.signal.reason;
    const why = isTimeoutError(err) ? `no answer within ${Math.round(idleMs / 1000)} s (networkTimeout)` : errorMessage(err);
    throw new UserError(`Cannot reach Azure Resource Manager at ${arm}: ${why}; check the agent's network access.`, { code: 'Unreachable', cause: err });
  }
  const configs = isRecord(body) && Array.isArray(body.kubeconfigs) ? body.kubeconfigs : [];
  const first = configs.find((k): k is { value: string } => isRecord(k) && typeof k.value === 'string');
  if (!first) throw new UserError(`Azure returned no kubeconfig for ${cluster}: check the cluster is running.`);
  return Buffer.from(first.value, 'base64').toString('utf8');
}
