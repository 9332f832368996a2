/**
 * BundleModelImage task entry: inputs to typed options, the shared OCI
 * library writes the image layout, results become output variables.
 */
import { execFileSync } from 'node:child_process';
import * as adapter from '../../shared/adapter';
import { acrCredentials } from '../../shared/azure/acr';
import { azureCredentialFor } from '../../shared/azure/credential';
import { InputError } from '../../shared/errors';
import { bundleImage, createdFromEpoch, type BundleResult, type Provenance } from '../../shared/oci/bundle';
import { bundleWithDocker } from '../../shared/oci/docker-build';
import { parseCommand, parseKeyValues, parsePlatform, parsePorts } from '../../shared/oci/image';
import type { RegistryCredentials } from '../../shared/oci/registry/auth';
import { configureProxy, configureTimeouts } from '../../shared/oci/registry/http';
import { withNetworkDeadline } from '../../shared/net/timeouts';

/** Commit time of the checked-out sources (so rebuilds of one commit stay identical), else SOURCE_DATE_EPOCH, else the epoch. */
function creationTime(): string {
  const sources = adapter.getVariable('Build.SourcesDirectory');
  if (sources) {
    try {
      const iso = execFileSync('git', ['-C', sources, 'log', '-1', '--format=%cI'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 15000 }).trim();
      const t = Date.parse(iso);
      if (iso && Number.isFinite(t)) return new Date(t).toISOString().replace(/\.000Z$/, 'Z');
    } catch {
      // not a git checkout, or git missing: fall through
    }
  }
  return createdFromEpoch();
}

function provenance(): Provenance {
  const collection = adapter.getVariable('System.CollectionUri');
  const project = adapter.getVariable('System.TeamProject');
  const buildId = adapter.getVariable('Build.BuildId');
  const sha = adapter.getString('modelSha256');
  if (sha && !/^[0-9a-fA-F]{64}$/.test(sha)) throw new InputError('modelSha256', `Input 'modelSha256' must be 64 hexadecimal characters (got '${sha}'): pass FetchModel's modelSha256 output or leave it empty.`);
  return {
    modelUri: adapter.getString('modelUri'),
    modelVersion: adapter.getString('modelVersion'),
    modelSha256: sha?.toLowerCase(),
    source: adapter.getVariable('Build.Repository.Uri'),
    revision: adapter.getVariable('Build.SourceVersion'),
    pipelineRunUrl: collection && project && buildId ? `${collection.replace(/\/+$/, '')}/${encodeURIComponent(project)}/_build/results?buildId=${encodeURIComponent(buildId)}` : undefined,
  };
}

function baseCredentials(): RegistryCredentials | undefined {
  if (!adapter.getString('baseRegistryConnection')) return undefined;
  const endpoint = adapter.readDockerRegistryEndpoint('baseRegistryConnection');
  if (endpoint.azure) {
    // ACR with workload identity federation or managed identity: Entra token -> ACR refresh token.
    return acrCredentials({
      registry: endpoint.registry,
      credential: azureCredentialFor(endpoint.azure),
      tenantId: endpoint.azure.tenantId,
      input: 'baseRegistryConnection',
      logger: adapter.taskLogger,
    });
  }
  return { username: endpoint.username, password: endpoint.password };
}

function labelMap(): Record<string, string> {
  return Object.fromEntries(parseKeyValues(adapter.getLines('labels'), 'labels', 'labels'));
}

function tagList(): string[] {
  const lines = adapter.getLines('tags').flatMap((l) => l.split(/[\s,]+/)).filter((t) => t.length > 0);
  if (lines.length) return lines;
  const buildId = adapter.getVariable('Build.BuildId');
  return [buildId ?? 'latest'];
}

function outputPath(): string {
  const given = adapter.getString('outputPath');
  if (given) return given;
  const staging = adapter.getVariable('Build.ArtifactStagingDirectory');
  if (!staging) throw new InputError('outputPath', `Input 'outputPath' is required outside a pipeline: name the folder to write the OCI image layout into.`);
  return `${staging}/image`;
}

void adapter.runTask(async () => {
  // Base images are pulled through the agent's proxy when it has one (HTTPS_PROXY/NO_PROXY otherwise).
  configureProxy(adapter.agentProxy());
  const limits = adapter.getNetworkLimits();
  const mode = adapter.getChoice('mode', ['daemonless', 'docker'] as const, 'daemonless');
  const compression = adapter.getChoice('compression', ['auto', 'gzip', 'none'] as const, 'auto');
  const imageFormat = adapter.getChoice('imageFormat', ['oci', 'docker'] as const, 'oci');
  const modelPath = adapter.getRequiredString('modelPath');
  const logger = adapter.taskLogger;
  const common = {
    compression,
    imageFormat,
    provenance: provenance(),
    created: creationTime(),
    imageName: adapter.getString('imageName'),
    tags: tagList(),
    outputPath: outputPath(),
    logger,
  };
  // Base image pulls obey the connect/idle timeouts; the whole build runs within the network deadline.
  const result = await withNetworkDeadline(limits, async (signal): Promise<BundleResult> => {
    configureTimeouts(limits, signal);
    if (mode === 'docker') {
      return bundleWithDocker({
        ...common,
        dockerfile: adapter.getString('dockerfile', { defaultValue: 'Dockerfile' }) as string,
        buildContext: adapter.getString('buildContext'),
        buildArgs: parseKeyValues(adapter.getLines('buildArgs'), 'buildArgs', 'env'),
        model: { path: modelPath },
        labels: labelMap(),
        signal,
      });
    }
    const appDirectory = adapter.getString('appDirectory');
    return bundleImage({
      ...common,
      baseImage: adapter.getRequiredString('baseImage'),
      baseCredentials: baseCredentials(),
      platform: parsePlatform(adapter.getString('platform')),
      model: { path: modelPath, destination: adapter.getString('modelDestination', { defaultValue: '/models' }) },
      app: appDirectory ? { directory: appDirectory, destination: adapter.getString('appDestination', { defaultValue: '/app' }) } : undefined,
      entrypoint: parseCommand(adapter.getString('entrypoint'), 'entrypoint'),
      cmd: parseCommand(adapter.getString('cmd'), 'cmd'),
      env: parseKeyValues(adapter.getLines('env'), 'env', 'env'),
      workingDirectory: adapter.getString('workingDirectory'),
      ports: parsePorts(adapter.getLines('ports'), 'ports'),
      user: adapter.getString('user'),
      labels: labelMap(),
      signal,
    });
  });
  adapter.setOutput('imageLayout', result.layoutPath);
  adapter.setOutput('imageDigest', result.manifestDigest);
  adapter.setOutput('modelLayerDigest', result.modelLayerDigest ?? '');
  adapter.setOutput('imageTags', result.tags.join(','));
  adapter.succeed(`Image ${result.manifestDigest} written to ${result.layoutPath} (tags: ${result.tags.join(', ')}).`);
});
