/**
 * DeployToAKS task entry: reads inputs and the cluster connection, then runs
 * the deploy library (shared/k8s/deploy.ts) and sets the outputs. It has no
 * test-only switches: the ARM endpoint is the AzureRM connection's URL and the
 * polling interval an input, so tests configure it as a user can.
 */
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  getBool,
  getChoice,
  getInt,
  getLines,
  getNetworkLimits,
  getRequiredString,
  getString,
  getVariable,
  pipelineRun,
  runTask,
  setOutput,
  succeed,
  taskLogger,
  uploadSummary,
} from '../../shared/adapter';
import { CONNECTION_TYPES, readClusterConfig } from '../../shared/adapter/cluster';
import { imageReader, readAcrAccess, readOptionalRegistryConnection, useAgentProxy } from '../../shared/adapter/registry';
import { listItems, parseEnvLines } from '../../shared/inputs';
import { checkDeployNames, deploy, DEPLOY_DEFAULTS, deployMessage, KubeClient, TEMPLATE_DEFAULTS, type DeployReport } from '../../shared/k8s';
import { DEPLOY_SUMMARY_TITLE, deploySummary } from '../../shared/summary';
import { withNetworkDeadline } from '../../shared/net';
import { errorMessage, InputError } from '../../shared/errors';
import { configureTimeouts } from '../../shared/oci/registry';

void runTask(async () => {
  useAgentProxy();
  const limits = getNetworkLimits();
  const renderOnly = getBool('renderOnly', DEPLOY_DEFAULTS.renderOnly);
  const connectionType = getChoice('connectionType', CONNECTION_TYPES, 'azureResourceManager');
  const manifests = getLines('manifests');
  const imagePullSecrets = listItems(getLines('imagePullSecrets'));
  const image = getRequiredString('image');
  const buildId = getVariable('Build.BuildId');
  // Empty namespace: the cluster connection's (a Kubernetes service connection's, a kubeconfig context's), else default.
  const namespace = getString('namespace') || undefined;
  checkDeployNames(namespace, imagePullSecrets, getString('modelSha256'));
  const run = pipelineRun();
  const options = {
    namespace,
    manifests,
    cwd: getVariable('System.DefaultWorkingDirectory') ?? process.cwd(),
    image,
    template: {
      appName: getString('appName', { defaultValue: TEMPLATE_DEFAULTS.appName }) as string,
      replicas: getInt('replicas', { defaultValue: TEMPLATE_DEFAULTS.replicas, min: 0, max: 1000 }),
      containerPort: getInt('containerPort', { defaultValue: TEMPLATE_DEFAULTS.containerPort, min: 1, max: 65535 }),
      servicePort: getInt('servicePort', { defaultValue: TEMPLATE_DEFAULTS.servicePort, min: 1, max: 65535 }),
      serviceType: getChoice('serviceType', ['ClusterIP', 'LoadBalancer'] as const, TEMPLATE_DEFAULTS.serviceType),
      internalLoadBalancer: getBool('internalLoadBalancer', TEMPLATE_DEFAULTS.internalLoadBalancer),
      readinessPath: getString('readinessPath'),
      livenessPath: getString('livenessPath'),
      startupTimeoutSeconds: getInt('startupTimeoutSeconds', { defaultValue: TEMPLATE_DEFAULTS.startupTimeoutSeconds, min: 5, max: 86400 }),
      cpuRequest: getString('cpuRequest', { defaultValue: TEMPLATE_DEFAULTS.cpuRequest }),
      memoryRequest: getString('memoryRequest', { defaultValue: TEMPLATE_DEFAULTS.memoryRequest }),
      cpuLimit: getString('cpuLimit'),
      memoryLimit: getString('memoryLimit'),
      gpuLimit: getInt('gpuLimit', { defaultValue: TEMPLATE_DEFAULTS.gpuLimit, min: 0, max: 64 }),
      env: parseEnvLines(getLines('env')),
      maxSurge: getString('maxSurge', { defaultValue: TEMPLATE_DEFAULTS.maxSurge }) as string,
      maxUnavailable: getString('maxUnavailable', { defaultValue: TEMPLATE_DEFAULTS.maxUnavailable }) as string,
      progressDeadlineSeconds: getInt('progressDeadlineSeconds', { defaultValue: TEMPLATE_DEFAULTS.progressDeadlineSeconds, min: 1 }),
    },
    imagePullSecrets,
    model: { uri: getString('modelUri'), version: getString('modelVersion'), sha256: getString('modelSha256') },
    pipelineRunUrl: run?.url,
    pipelineRunId: run?.id,
    run,
    renderOnly,
    renderDir: join(getVariable('Agent.TempDirectory') ?? tmpdir(), `DeployToAKS-${buildId ?? process.pid}-${Date.now()}`),
    rolloutTimeoutSeconds: getInt('rolloutTimeoutSeconds', { defaultValue: DEPLOY_DEFAULTS.rolloutTimeoutSeconds, min: 1, max: 86400 }),
    rollbackOnFailure: getBool('rollbackOnFailure', DEPLOY_DEFAULTS.rollbackOnFailure),
    smokeTestPath: getString('smokeTestPath'),
    pollIntervalMs: getInt('statusPollIntervalMs', { defaultValue: DEPLOY_DEFAULTS.pollIntervalMs, min: 100, max: 60000 }),
    logger: taskLogger,
  };
  if (options.rolloutTimeoutSeconds * 1000 >= limits.deadlineMs) {
    throw new InputError(
      'networkDeadline',
      `Input 'networkDeadline' (${limits.deadlineMs / 60_000} minutes) must be longer than 'rolloutTimeoutSeconds' (${options.rolloutTimeoutSeconds} s): the rollout is waited for within the network deadline; raise networkDeadline.`,
    );
  }
  // The pushed image is read (tag digest, model annotations) with the imageRegistryConnection when it covers the
  // image's registry; an ACR image otherwise with the AzureRM cluster connection's identity (it needs AcrPull).
  const reader = imageReader({
    connection: readOptionalRegistryConnection('imageRegistryConnection'),
    acrFallback: connectionType === 'azureResourceManager' ? (registry) => readAcrAccess(registry, 'azureSubscription') : undefined,
    logger: taskLogger,
  });
  // Filled in as deploy goes: the run summary is uploaded when it fails (rollback included) too.
  const report: DeployReport = {};
  const summary = (error?: unknown) =>
    uploadSummary(
      DEPLOY_SUMMARY_TITLE,
      deploySummary(report, { error: error === undefined ? undefined : errorMessage(error), renderOnly, model: report.model, run }),
    );
  const result = await withNetworkDeadline(limits, (signal) => {
    configureTimeouts(limits, signal);
    return deploy({
      ...options,
      report,
      fetchImageAnnotations: reader.annotations,
      resolveDigest: reader.resolveDigest,
      connect: async () => new KubeClient(await readClusterConfig(connectionType, { limits, signal }), { limits, signal }),
    });
  }).catch((err: unknown) => {
    if (report.applied) summary(err); // the cluster was changed: say what was applied, how the rollout ended, any rollback
    throw err;
  });
  summary();
  setOutput('deployedImage', result.deployedImage);
  setOutput('revision', result.revision);
  setOutput('serviceEndpoint', result.serviceEndpoint);
  setOutput('renderedManifests', result.renderedManifests);
  succeed(deployMessage(result, renderOnly));
});
