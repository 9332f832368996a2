/**
 * DeployToAKS task entry: reads inputs and the cluster connection, then runs
 * the deploy library (shared/k8s/deploy.ts) and sets the outputs. It has no
 * test-only switches: the ARM endpoint is the AzureRM connection's URL and the
 * polling interval an input, so tests configure it as a user can.
 */
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { getBool, getChoice, getInt, getLines, getNetworkLimits, getRequiredString, getString, getVariable, pipelineRunUrl, runTask, setOutput, succeed, taskLogger } from '../../shared/adapter';
import { CONNECTION_TYPES, readClusterConfig } from '../../shared/adapter/cluster';
import { imageReader, readAcrAccess, readOptionalRegistryConnection, useAgentProxy } from '../../shared/adapter/registry';
import { listItems, parseEnvLines } from '../../shared/inputs/parse';
import { KubeClient } from '../../shared/k8s/client';
import { deploy, deployMessage } from '../../shared/k8s/deploy';
import { checkDeployNames } from '../../shared/k8s/names';
import { withNetworkDeadline } from '../../shared/net/timeouts';
import { InputError } from '../../shared/errors';
import { configureTimeouts } from '../../shared/oci/registry/http';

void runTask(async () => {
  useAgentProxy();
  const limits = getNetworkLimits();
  const renderOnly = getBool('renderOnly', false);
  const connectionType = getChoice('connectionType', CONNECTION_TYPES, 'azureResourceManager');
  const manifests = getLines('manifests');
  const imagePullSecrets = listItems(getLines('imagePullSecrets'));
  const image = getRequiredString('image');
  const buildId = getVariable('Build.BuildId');
  checkDeployNames(getString('namespace', { defaultValue: 'default' }) as string, imagePullSecrets, getString('modelSha256'));
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
    pipelineRunUrl: pipelineRunUrl(),
    pipelineRunId: buildId,
    renderOnly,
    renderDir: join(getVariable('Agent.TempDirectory') ?? tmpdir(), `DeployToAKS-${buildId ?? process.pid}-${Date.now()}`),
    rolloutTimeoutSeconds: getInt('rolloutTimeoutSeconds', { defaultValue: 600, min: 1, max: 86400 }),
    rollbackOnFailure: getBool('rollbackOnFailure', true),
    smokeTestPath: getString('smokeTestPath'),
    pollIntervalMs: getInt('statusPollIntervalMs', { defaultValue: 2000, min: 100, max: 60000 }),
    logger: taskLogger,
  };
  if (options.rolloutTimeoutSeconds * 1000 >= limits.deadlineMs) {
    throw new InputError('networkDeadline', `Input 'networkDeadline' (${limits.deadlineMs / 60_000} minutes) must be longer than 'rolloutTimeoutSeconds' (${options.rolloutTimeoutSeconds} s): the rollout is waited for within the network deadline; raise networkDeadline.`);
  }
  // The pushed image is read (tag digest, model annotations) with the imageRegistryConnection when it covers the
  // image's registry; an ACR image otherwise with the AzureRM cluster connection's identity (it needs AcrPull).
  const reader = imageReader({
    connection: readOptionalRegistryConnection('imageRegistryConnection'),
    acrFallback: connectionType === 'azureResourceManager' ? (registry) => readAcrAccess(registry, 'azureSubscription') : undefined,
    logger: taskLogger,
  });
  const result = await withNetworkDeadline(limits, (signal) => {
    configureTimeouts(limits, signal);
    return deploy({
      ...options,
      fetchImageAnnotations: reader.annotations,
      resolveDigest: reader.resolveDigest,
      connect: async () => new KubeClient(await readClusterConfig(connectionType, { limits, signal }), { limits, signal }),
    });
  });
  setOutput('deployedImage', result.deployedImage);
  setOutput('revision', result.revision);
  setOutput('serviceEndpoint', result.serviceEndpoint);
  setOutput('renderedManifests', result.renderedManifests);
  succeed(deployMessage(result, renderOnly));
});
