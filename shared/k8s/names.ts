/**
 * Names that end up in Kubernetes objects (namespace, image pull secrets) and
 * the model digest that ends up in annotations, checked before anything is
 * rendered or contacted, so a typo is one line naming its input.
 */
import { isSha256Hex, withoutSha256Prefix } from '../digest';
import { InputError } from '../errors';

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/** A namespace name (a DNS label); `message` is the failure, about input 'namespace'. */
export function checkNamespace(namespace: string, message: string): void {
  if (!DNS_LABEL.test(namespace) || namespace.length > 63) throw new InputError('namespace', message);
}

/**
 * Inputs that end up in object names or annotations, checked before anything is rendered or contacted.
 * An empty namespace is the cluster connection's, checked once known (deploy.ts).
 */
export function checkDeployNames(namespace: string | undefined, imagePullSecrets: string[], modelSha256: string | undefined): void {
  if (namespace)
    checkNamespace(namespace, `Input 'namespace' must be a DNS label (lower-case letters, digits and '-', at most 63 characters), got '${namespace}'.`);
  for (const name of imagePullSecrets) {
    if (!DNS_SUBDOMAIN.test(name) || name.length > 253)
      throw new InputError(
        'imagePullSecrets',
        `Secret name '${name}' in input 'imagePullSecrets' is not a valid Kubernetes name (lower-case letters, digits, '-' and '.').`,
      );
  }
  if (modelSha256 && !isSha256Hex(withoutSha256Prefix(modelSha256), { anyCase: true })) {
    throw new InputError(
      'modelSha256',
      `Input 'modelSha256' must be 64 hexadecimal characters (got '${modelSha256}'): pass FetchModel's modelSha256 output or leave it empty.`,
    );
  }
}
