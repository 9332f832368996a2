/**
 * Turning Kubernetes client failures into one actionable sentence, mapped into
 * the error hierarchy (401/403 are AuthErrors, 404 a NotFoundError); the API
 * server's HTTP status and `reason` are kept as data (statusCode, remoteCode).
 */
import { AuthError, errorMessage, NotFoundError, UserError, isUserError } from '../errors';
import { KubeApiError, KubeBodyTooLargeError, KubeConnectionError, UnknownKindError } from './client';

/** `doing` completes "... while <doing>", e.g. "applying Deployment/web (namespace ml)". */
export function explainKubeError(err: unknown, doing: string): UserError {
  if (isUserError(err)) return err;
  if (err instanceof KubeConnectionError) {
    return new UserError(
      `Cannot reach the Kubernetes API server ${err.server} while ${doing} (${err.message.replace(/^cannot reach the Kubernetes API server \S+: /, '')}): check the cluster address and that the agent can reach it (private clusters need an agent inside their network).`,
      { code: 'ClusterUnreachable', cause: err },
    );
  }
  if (err instanceof KubeBodyTooLargeError) {
    return new UserError(
      `The Kubernetes API server ${err.server} answered with more than ${err.limit} bytes while ${doing}: it is not behaving like an API server; check the cluster address.`,
      { code: 'ResponseTooLarge', cause: err },
    );
  }
  if (err instanceof UnknownKindError) {
    return new UserError(
      `The cluster does not know kind ${err.kind} (apiVersion ${err.apiVersion}) while ${doing}: install its CRD first or fix apiVersion/kind.`,
      { code: 'UnknownKind', cause: err },
    );
  }
  if (err instanceof KubeApiError) {
    const data = { cause: err, statusCode: err.statusCode, remoteCode: err.reason };
    switch (err.statusCode) {
      case 401:
        return new AuthError(
          `The Kubernetes API server rejected the credentials (HTTP 401 Unauthorized) while ${doing}: the token or certificate is wrong or expired; update the service connection or kubeconfig.`,
          data,
        );
      case 403:
        return new AuthError(
          `Forbidden (HTTP 403) while ${doing}: ${err.apiMessage}; grant the identity the needed role in that namespace (see the task's RBAC documentation).`,
          data,
        );
      case 404:
        return new NotFoundError(`Not found (HTTP 404) while ${doing}: ${err.apiMessage}.`, data);
      case 400:
      case 409:
      case 422:
        return new UserError(
          `The API server refused the object (HTTP ${err.statusCode}${err.reason ? ` ${err.reason}` : ''}) while ${doing}: ${err.apiMessage}; fix the manifest.`,
          { ...data, code: 'Invalid' },
        );
      default:
        return new UserError(`The Kubernetes API server failed with HTTP ${err.statusCode} while ${doing}: ${err.apiMessage}; retry later.`, data);
    }
  }
  return new UserError(`Unexpected failure while ${doing}: ${errorMessage(err)}.`, { cause: err });
}
