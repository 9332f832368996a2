/**
 * DeployToAKS task entry: reads inputs and the cluster connection, then runs
 * the deploy library (shared/k8s/deploy.ts) and sets the outputs.
 *
 * Test hooks (honoured only for loopback URLs, so harmless on real agents):
 * DEPLOYTOAKS_TEST_ARM_ENDPOINT (https://127.0.0.1:<port>) replaces the cloud's
 * ARM endpoint and DEPLOYTOAKS_TEST_AZURE_TOKEN is then used as the Azure
 * access token for every scope; DEPLOYTOAKS_TEST_POLL_MS shortens polling.
 */
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AccessToken, TokenCredential } from '@azure/identity';
import {
  agentProxy,
  getBool,
  getChoice,
  getInt,
  getLines,
  getNetworkLimits,
  getRequiredString,
  getString,
  getVariable,
  readAzureRmEndpoint,
  readDockerRegistryEndpoint,
  readKubernetesEndpoint,
  runTask,
  setOutput,
  setSecret,
  succeed,
  taskLogger,
} from '../../shared/adapter';
import { azureCredentialFor, cloudOf } from '../../shared/azure/credential';
import { InputError } from '../../shared/errors';
import { fetchAksKubeconfig } from '../../shared/k8s/aks';
import { KubeClient } from '../../shared/k8s/client';
import { deploy } from '../../shared/k8s/deploy';
import { kubeConfigFromServiceAccount, kubeConfigFromString, useEntraTokens } from '../../shared/k8s/kubeconfig';
import { parseEnvLines } from '../../shared/k8s/template';
import type { KubeConfig } from '@kubernetes/client-node';
import { acrCredentials } from '../../shared/azure/acr';
import type { ImageReference } from '../../shared/oci/reference';
import type { RegistryCredentials } from '../../shared/oci/registry/auth';
import { RegistryClient } from '../../shared/oci/registry/client';
import { configureProxy, configureTimeouts } from '../../shared/oci/registry/http';
import { withNetworkDeadline, type NetworkLimits } from '../../shared/net/timeouts';
import { readImageAnnotations, resolveImageDigest } from '../../shared/oci/registry/image-info';

/**
 * How to read the pushed image (digest of a tag, model annotations): the
 * imageRegistryConnection when given; for an *.azurecr.io image and an Azure
 * Resource Manager cluster connection, that connection's identity through the
 * ACR token exchange (it needs AcrPull); otherwise anonymously.
 */
function registryReader(connectionType: (typeof CONNECTION_TYPES)[number]): (ref: ImageReference) => RegistryClient {
  const connectionId = getString('imageRegistryConnection');
  let credentials: RegistryCredentials | undefined;
  let credentialRegistry: string | undefined;
  if (connectionId) {
    const endpoint = readDockerRegistryEndpoint('imageRegistryConnection');
    credentialRegistry = endpoint.registry;
    credentials = endpoint.azure
      ? acrCredentials({ registry: endpoint.registry, credential: azureCredentialFor(endpoint.azure), tenantId: endpoint.azure.tenantId, input: 'imageRegistryConnection', logger: taskLogger })
      : endpoint.username
        ? { username: endpoint.username, password: endpoint.password ?? '' }
        : undefined;
  }
  return (ref) => {
    let creds = credentials && credentialRegistry === ref.registry ? credentials : undefined;
    if (!creds && connectionType === 'azureResourceManager' && /\.azurecr\.(io|us|cn)$/i.test(ref.registry)) {
      const endpoint = readAzureRmEndpoint('azureSubscription');
      creds = acrCredentials({ registry: ref.registry, credential: azureCredentialFor(endpoint), tenantId: endpoint.tenantId, input: 'azureSubscription', logger: taskLogger });
    }
    return new RegistryClient({ registry: ref.registry, credentials: creds, credentialsInput: connectionId ? 'imageRegistryConnection' : undefined, logger: taskLogger, retries: 1, retryBaseMs: 200 });
  };
}

const CONNECTION_TYPES = ['azureResourceManager', 'kubernetesServiceConnection', 'kubeconfig'] as const;

function isLoopbackUrl(u: string): boolean {
  try {
    const h = new URL(u).hostname;
    return h === '127.0.0.1' || h === 'localhost' || h === '[::1]';
  } catch {
    return false;
  }
}

/** The test hook: a fixed token from a loopback-only fake ARM setup. */
function testAzure(): { armEndpoint: string; credential: TokenCredential } | undefined {
  const arm = process.env.DEPLOYTOAKS_TEST_ARM_ENDPOINT;
  const token = process.env.DEPLOYTOAKS_TEST_AZURE_TOKEN;
  if (!arm || !token || !isLoopbackUrl(arm)) return undefined;
  const credential: TokenCredential = { getToken: async (): Promise<AccessToken> => ({ token, expiresOnTimestamp: Date.now() + 3600_000 }) };
  return { armEndpoint: arm, credential };
}

/**
 * Registers a kubeconfig's credentials (tokens, passwords, client keys and
 * certificates) as secrets. The document as a whole cannot be one: task-lib
 * refuses multi-line secrets.
 */
function registerSecrets(kc: KubeConfig): KubeConfig {
  for (const u of kc.getUsers()) {
    for (const v of [u.token, u.password, u.keyData, u.certData]) {
      if (!v) continue;
      setSecret(v);
      if (u.keyData === v) {
        // the decoded PEM, line by line, in case something prints it
        for (const line of Buffer.from(v, 'base64').toString('utf8').split(/\r?\n/)) if (line.length > 20 && !line.startsWith('-----')) setSecret(line);
      }
    }
  }
  return kc;
}

async function clusterConfig(type: (typeof CONNECTION_TYPES)[number], limits: NetworkLimits, signal: AbortSignal): Promise<KubeConfig> {
  if (type === 'kubeconfig') {
    const path = getRequiredString('kubeconfig');
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (err) {
      throw new InputError('kubeconfig', `Cannot read the kubeconfig file '${path}' given in 'kubeconfig': ${(err as Error).message}; check the path (for a secure file use $(<name>.secureFilePath)).`, err);
    }
    return registerSecrets(kubeConfigFromString(text, { input: 'kubeconfig', source: path }));
  }
  if (type === 'kubernetesServiceConnection') {
    const ep = readKubernetesEndpoint('kubernetesServiceConnection');
    if (ep.authorizationType === 'Kubeconfig') {
      return registerSecrets(kubeConfigFromString(ep.kubeconfig ?? '', { input: 'kubernetesServiceConnection', context: ep.clusterContext, source: `service connection ${ep.id}` }));
    }
    return kubeConfigFromServiceAccount({ server: ep.serverUrl ?? '', certificate: ep.certificate, token: ep.token ?? '', skipTLSVerify: ep.acceptUntrustedCerts }, 'kubernetesServiceConnection');
  }
  const endpoint = readAzureRmEndpoint('azureSubscription');
  const hook = testAzure();
  const credential = hook?.credential ?? azureCredentialFor(endpoint);
  const armEndpoint = hook?.armEndpoint ?? cloudOf(endpoint.environment).resourceManager;
  if (!endpoint.subscriptionId) throw new InputError('azureSubscription', `Azure service connection '${endpoint.id}' has no subscription id: use a subscription-scoped service connection.`);
  const text = await fetchAksKubeconfig({
    credential,
    armEndpoint,
    subscriptionId: endpoint.subscriptionId,
    resourceGroup: getRequiredString('resourceGroup'),
    clusterName: getRequiredString('kubernetesCluster'),
    admin: getBool('useClusterAdmin', false),
    limits,
    signal,
  });
  const kc = registerSecrets(kubeConfigFromString(text, { input: 'kubernetesCluster', source: 'AKS credentials' }));
  const replaced = useEntraTokens(kc, credential);
  if (replaced > 0) taskLogger.info('Entra ID cluster: using tokens of the Azure service connection (no kubelogin needed).');
  return kc;
}

void runTask(async () => {
  // The image is read from its registry through the agent's proxy when it has one.
  configureProxy(agentProxy());
  const limits = getNetworkLimits();
  const renderOnly = getBool('renderOnly', false);
  const connectionType = getChoice('connectionType', CONNECTION_TYPES, 'azureResourceManager');
  const manifests = getLines('manifests');
  const imagePullSecrets = getLines('imagePullSecrets').flatMap((l) => l.split(',').map((s) => s.trim()).filter(Boolean));
  const image = getRequiredString('image');
  const buildId = getVariable('Build.BuildId');
  const collection = getVariable('System.CollectionUri');
  const project = getVariable('System.TeamProject');
  const pollMs = Number(process.env.DEPLOYTOAKS_TEST_POLL_MS);
  const options = {
    namespace: getString('namespace', { defaultValue: 'default' }) as string,
    manifests,
    cwd: getVariable('System.DefaultWorkingDirectory') ?? process.cwd(),
    image,
    template: {
      appName: getString('appName', { defaultValue: 'model-server' }) as string,
      replicas: getInt('replicas', { defaultValue: 1, min: 0, max: 1000 }),
      containerPort: getInt('containerPort', { defaultValue: 8080, min: 1, max: 65535 }),
      servicePort: getInt('servicePort', { defaultValue: 80, min: 1, max: 65535 }),
      serviceType: getChoice('serviceType', ['ClusterIP', 'LoadBalancer'] as const, 'ClusterIP'),
      internalLoadBalancer: getBool('internalLoadBalancer', false),
      readinessPath: getString('readinessPath'),
      livenessPath: getString('livenessPath'),
      startupTimeoutSeconds: getInt('startupTimeoutSeconds', { defaultValue: 600, min: 5, max: 86400 }),
      cpuRequest: getString('cpuRequest', { defaultValue: '500m' }),
      memoryRequest: getString('memoryRequest', { defaultValue: '1Gi' }),
      cpuLimit: getString('cpuLimit'),
      memoryLimit: getString('memoryLimit'),
      gpuLimit: getInt('gpuLimit', { defaultValue: 0, min: 0, max: 64 }),
      env: parseEnvLines(getLines('env')),
      maxSurge: getString('maxSurge', { defaultValue: '1' }) as string,
      maxUnavailable: getString('maxUnavailable', { defaultValue: '0' }) as string,
      progressDeadlineSeconds: getInt('progressDeadlineSeconds', { defaultValue: 600, min: 1 }),
    },
    imagePullSecrets,
    model: { uri: getString('modelUri'), version: getString('modelVersion'), sha256: getString('modelSha256') },
    pipelineRunUrl: collection && project && buildId ? `${collection.replace(/\/+$/, '')}/${encodeURIComponent(project)}/_build/results?buildId=${buildId}` : undefined,
    pipelineRunId: buildId,
    renderOnly,
    renderDir: join(getVariable('Agent.TempDirectory') ?? tmpdir(), `DeployToAKS-${buildId ?? process.pid}-${Date.now()}`),
    rolloutTimeoutSeconds: getInt('rolloutTimeoutSeconds', { defaultValue: 600, min: 1, max: 86400 }),
    rollbackOnFailure: getBool('rollbackOnFailure', true),
    smokeTestPath: getString('smokeTestPath'),
    pollIntervalMs: Number.isFinite(pollMs) && pollMs > 0 ? pollMs : undefined,
    serviceEndpointTimeoutSeconds: Number.isFinite(pollMs) && pollMs > 0 ? 5 : undefined,
    logger: taskLogger,
  };
  if (options.rolloutTimeoutSeconds * 1000 >= limits.deadlineMs) {
    throw new InputError('networkDeadline', `Input 'networkDeadline' (${limits.deadlineMs / 60_000} minutes) must be longer than 'rolloutTimeoutSeconds' (${options.rolloutTimeoutSeconds} s): the rollout is waited for within the network deadline; raise networkDeadline.`);
  }
  const reader = registryReader(connectionType);
  const result = await withNetworkDeadline(limits, (signal) => {
    configureTimeouts(limits, signal);
    return deploy({
      ...options,
      fetchImageAnnotations: (ref) => readImageAnnotations(reader(ref), ref),
      resolveDigest: (ref) => resolveImageDigest(reader(ref), ref),
      connect: async () => new KubeClient(await clusterConfig(connectionType, limits, signal), { limits, signal }),
    });
  });
  setOutput('deployedImage', result.deployedImage);
  setOutput('revision', result.revision);
  setOutput('serviceEndpoint', result.serviceEndpoint);
  setOutput('renderedManifests', result.renderedManifests);
  succeed(
    renderOnly
      ? `Rendered the manifests for ${result.deployedImage} to ${result.renderedManifests}; nothing was applied.`
      : `Deployed ${result.deployedImage}${result.revision ? ` (revision ${result.revision})` : ''}${result.serviceEndpoint ? `, service at ${result.serviceEndpoint}` : ''}.`,
  );
});
