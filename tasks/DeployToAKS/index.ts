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
  getPathLines,
  getNetworkLimits,
  getRequiredString,
  getString,
  getVariable,
  pipelineRun,
  runTask,
  setOutput,
  finish,
  taskLogger,
  uploadSummary,
} from '../../shared/adapter';
import { CONNECTION_TYPES, readClusterConfig } from '../../shared/adapter/cluster';
import { imageReader, readAcrAccess, readOptionalRegistryConnection, useAgentProxy } from '../../shared/adapter/registry';
import { INPUT_RULES, listItems, parseEnvLines } from '../../shared/inputs';
import { checksFromInputs } from '../../shared/check';
import {
  ACTIONS,
  CANARY_DEFAULTS,
  checkDeployNames,
  DEPLOY_DEFAULTS,
  KubeClient,
  release,
  releaseMessage,
  servingSummary,
  STRATEGIES,
  TEMPLATE_DEFAULTS,
  TRAFFIC_SPLIT_METHODS,
  type DeployReport,
} from '../../shared/k8s';
import { DEPLOY_SUMMARY_TITLE, deploySummary } from '../../shared/summary';
import { withNetworkDeadline } from '../../shared/net';
import { errorMessage, InputError } from '../../shared/errors';
import { configureTimeouts } from '../../shared/oci/registry';
import { devopsAccess } from '../../shared/adapter/devops';
import { findReleaseImage, noImageError } from '../../shared/devops';

void runTask(
  async () => {
    useAgentProxy();
    const limits = getNetworkLimits();
    const renderOnly = getBool('renderOnly', DEPLOY_DEFAULTS.renderOnly);
    const connectionType = getChoice('connectionType', CONNECTION_TYPES, 'azureResourceManager');
    const manifests = getPathLines('manifests');
    const imagePullSecrets = listItems(getLines('imagePullSecrets'));
    const action = getChoice('action', ACTIONS, CANARY_DEFAULTS.action);
    // `image` empty in a classic release (action deploy): the image (and its model) the triggering build artifact recorded.
    const access = action === 'deploy' && !getString('image') ? devopsAccess(limits) : undefined;
    const found = access && (await findReleaseImage(access));
    if (access && !found) throw noImageError(access.context);
    if (found) taskLogger.info(`Image from ${found.source}: ${found.record.imageRef}.`);
    // promote takes the canary's image when none is given; reject needs none
    const image = found?.record.imageRef ?? (action === 'deploy' ? getRequiredString('image') : (getString('image') ?? ''));
    const model = {
      uri: getString('modelUri') ?? found?.record.model.uri,
      version: getString('modelVersion') ?? found?.record.model.version,
      sha256: getString('modelSha256') ?? found?.record.model.sha256,
    };
    const cwd = getVariable('System.DefaultWorkingDirectory') ?? process.cwd();
    const smokeTestRequest = getString('smokeTestRequest');
    const smokeTestExpect = getString('smokeTestExpect');
    if (smokeTestExpect && !smokeTestRequest) {
      throw new InputError(
        'smokeTestExpect',
        `'smokeTestExpect' is set but 'smokeTestRequest' is empty: give the request to send (e.g. POST /v1/predict @sample.json) or clear smokeTestExpect.`,
      );
    }
    const predictionChecks = smokeTestRequest
      ? checksFromInputs({ requestInput: 'smokeTestRequest', request: smokeTestRequest, expectInput: 'smokeTestExpect', expect: smokeTestExpect, baseDir: cwd })
      : undefined;
    const buildId = getVariable('Build.BuildId');
    // Empty namespace: the cluster connection's (a Kubernetes service connection's, a kubeconfig context's), else default.
    const namespace = getString('namespace') || undefined;
    checkDeployNames(namespace, imagePullSecrets, model.sha256);
    const run = pipelineRun();
    const options = {
      namespace,
      manifests,
      cwd,
      image,
      template: {
        appName: getString('appName', { defaultValue: TEMPLATE_DEFAULTS.appName }) as string,
        replicas: getInt('replicas', { defaultValue: TEMPLATE_DEFAULTS.replicas }),
        containerPort: getInt('containerPort', { defaultValue: TEMPLATE_DEFAULTS.containerPort }),
        servicePort: getInt('servicePort', { defaultValue: TEMPLATE_DEFAULTS.servicePort }),
        serviceType: getChoice('serviceType', ['ClusterIP', 'LoadBalancer'] as const, TEMPLATE_DEFAULTS.serviceType),
        internalLoadBalancer: getBool('internalLoadBalancer', TEMPLATE_DEFAULTS.internalLoadBalancer),
        readinessPath: getString('readinessPath'),
        livenessPath: getString('livenessPath'),
        startupTimeoutSeconds: getInt('startupTimeoutSeconds', { defaultValue: TEMPLATE_DEFAULTS.startupTimeoutSeconds }),
        cpuRequest: getString('cpuRequest', { defaultValue: TEMPLATE_DEFAULTS.cpuRequest }),
        memoryRequest: getString('memoryRequest', { defaultValue: TEMPLATE_DEFAULTS.memoryRequest }),
        cpuLimit: getString('cpuLimit'),
        memoryLimit: getString('memoryLimit'),
        gpuLimit: getInt('gpuLimit', { defaultValue: TEMPLATE_DEFAULTS.gpuLimit }),
        env: parseEnvLines(getLines('env')),
        maxSurge: getString('maxSurge', { defaultValue: TEMPLATE_DEFAULTS.maxSurge }) as string,
        maxUnavailable: getString('maxUnavailable', { defaultValue: TEMPLATE_DEFAULTS.maxUnavailable }) as string,
        progressDeadlineSeconds: getInt('progressDeadlineSeconds', { defaultValue: TEMPLATE_DEFAULTS.progressDeadlineSeconds }),
      },
      imagePullSecrets,
      model,
      pipelineRunUrl: run?.url,
      pipelineRunId: run?.id,
      run,
      renderOnly,
      renderDir: join(getVariable('Agent.TempDirectory') ?? tmpdir(), `DeployToAKS-${buildId ?? process.pid}-${Date.now()}`),
      rolloutTimeoutSeconds: getInt('rolloutTimeoutSeconds', { defaultValue: DEPLOY_DEFAULTS.rolloutTimeoutSeconds }),
      rollbackOnFailure: getBool('rollbackOnFailure', DEPLOY_DEFAULTS.rollbackOnFailure),
      smokeTestPath: getString('smokeTestPath'),
      predictionChecks,
      action,
      strategy: getChoice('strategy', STRATEGIES, CANARY_DEFAULTS.strategy),
      percentage: getInt('percentage', { defaultValue: CANARY_DEFAULTS.percentage }),
      trafficSplitMethod: getChoice('trafficSplitMethod', TRAFFIC_SPLIT_METHODS, CANARY_DEFAULTS.trafficSplitMethod),
      baselineAndCanaryReplicas: getInt('baselineAndCanaryReplicas', { defaultValue: CANARY_DEFAULTS.baselineAndCanaryReplicas }),
      pollIntervalMs: getInt('statusPollIntervalMs', { defaultValue: DEPLOY_DEFAULTS.pollIntervalMs }),
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
      return release({
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
    setOutput('serving', JSON.stringify(result.serving));
    setOutput('servingSummary', servingSummary(result.serving));
    if (result.serving.length) console.log(`Serving: ${servingSummary(result.serving)}`);
    finish(releaseMessage(result, options), result.issues);
  },
  { inputRules: INPUT_RULES.DeployToAKS },
);
