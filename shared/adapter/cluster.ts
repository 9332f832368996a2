/**
 * The cluster DeployToAKS deploys to, from the agent: a kubeconfig file, a
 * Kubernetes service connection, or an AKS cluster read through an Azure
 * Resource Manager connection (Entra ID clusters then get that connection's
 * tokens instead of kubelogin). Every kubeconfig's credentials are registered
 * as secrets, one way (adapter.setKubeconfigSecrets), before it is parsed.
 */
import { readFileSync } from 'node:fs';
import type { KubeConfig } from '@kubernetes/client-node';
import * as adapter from '../adapter';
import { azureCredentialFor, resourceManagerOf } from '../azure/credential';
import { errorMessage, InputError } from '../errors';
import { fetchAksKubeconfig } from '../k8s/aks';
import type { NetworkLimits } from '../net/timeouts';
import { kubeConfigFromServiceAccount, kubeConfigFromString, useEntraTokens, withNamespace } from '../k8s/kubeconfig';

export const CONNECTION_TYPES = ['azureResourceManager', 'kubernetesServiceConnection', 'kubeconfig'] as const;
type ConnectionType = (typeof CONNECTION_TYPES)[number];

export async function readClusterConfig(type: ConnectionType, net?: { limits: NetworkLimits; signal: AbortSignal }): Promise<KubeConfig> {
  if (type === 'kubeconfig') {
    const path = adapter.getPath('kubeconfig', { required: true }) as string;
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (err) {
      throw new InputError(
        'kubeconfig',
        `Cannot read the kubeconfig file '${path}' given in 'kubeconfig': ${errorMessage(err)}; check the path (for a secure file use $(<name>.secureFilePath)).`,
        err,
      );
    }
    adapter.setKubeconfigSecrets(text);
    return kubeConfigFromString(text, { input: 'kubeconfig', source: path });
  }
  if (type === 'kubernetesServiceConnection') {
    // readKubernetesEndpoint registers the connection's kubeconfig, token and certificate.
    const ep = adapter.readKubernetesEndpoint('kubernetesServiceConnection');
    // The connection's namespace (an Environment's Kubernetes resource has one) becomes its context's namespace:
    // the namespace DeployToAKS uses when its 'namespace' input is empty, as KubernetesManifest does.
    if (ep.authorizationType === 'Kubeconfig') {
      const kc = kubeConfigFromString(ep.kubeconfig ?? '', {
        input: 'kubernetesServiceConnection',
        context: ep.clusterContext,
        source: `service connection ${ep.id}`,
      });
      return withNamespace(kc, ep.namespace);
    }
    return kubeConfigFromServiceAccount(
      { server: ep.serverUrl ?? '', certificate: ep.certificate, token: ep.token ?? '', skipTLSVerify: ep.acceptUntrustedCerts, namespace: ep.namespace },
      'kubernetesServiceConnection',
    );
  }
  const endpoint = adapter.readAzureRmEndpoint('azureSubscription');
  const credential = azureCredentialFor(endpoint, net ? { timeoutMs: 2 * net.limits.idleTimeoutMs } : {});
  const armEndpoint = resourceManagerOf(endpoint, 'azureSubscription');
  if (!endpoint.subscriptionId)
    throw new InputError(
      'azureSubscription',
      `Azure service connection '${endpoint.id}' has no subscription id: use a subscription-scoped service connection.`,
    );
  const text = await fetchAksKubeconfig({
    credential,
    armEndpoint,
    subscriptionId: endpoint.subscriptionId,
    resourceGroup: adapter.getRequiredString('resourceGroup'),
    clusterName: adapter.getRequiredString('kubernetesCluster'),
    admin: adapter.getBool('useClusterAdmin', false),
    limits: net?.limits,
    signal: net?.signal,
  });
  adapter.setKubeconfigSecrets(text);
  const kc = kubeConfigFromString(text, { input: 'kubernetesCluster', source: 'AKS credentials' });
  const replaced = useEntraTokens(kc, credential);
  if (replaced > 0) adapter.taskLogger.info('Entra ID cluster: using tokens of the Azure service connection (no kubelogin needed).');
  return kc;
}
