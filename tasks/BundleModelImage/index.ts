/**
 * BundleModelImage task entry: inputs to typed options, the shared OCI
 * library writes the image layout, results become output variables.
 */
import * as adapter from '../../shared/adapter';
import { credentialsForImage, readOptionalRegistryConnection, useAgentProxy } from '../../shared/adapter/registry';
import { InputError } from '../../shared/errors';
import { INPUT_RULES, listItems, parseCommand, parseKeyValues, parsePlatform, parsePorts, parseSha256Hex } from '../../shared/inputs';
import {
  bundleImage,
  bundleMessage,
  type BundleResult,
  bundleWithDocker,
  createdFromSources,
  DEFAULT_APP_DESTINATION,
  DEFAULT_COMPRESSION,
  DEFAULT_DOCKERFILE,
  DEFAULT_IMAGE_FORMAT,
  DEFAULT_MODEL_DESTINATION,
  parseReference,
  type Provenance,
} from '../../shared/oci';
import { configureTimeouts } from '../../shared/oci/registry';
import { withNetworkDeadline } from '../../shared/net';
import { readModelRecord } from '../../shared/reuse';
import { existsSync } from 'node:fs';
import { BUNDLE_SUMMARY_TITLE, bundleSummary } from '../../shared/summary';

function provenance(): Provenance {
  const sha = parseSha256Hex(adapter.getString('modelSha256'), 'modelSha256', "pass FetchModel's modelSha256 output or leave it empty");
  return {
    modelUri: adapter.getString('modelUri'),
    modelVersion: adapter.getString('modelVersion'),
    modelSha256: sha,
    source: adapter.getVariable('Build.Repository.Uri'),
    revision: adapter.getVariable('Build.SourceVersion'),
    pipelineRunUrl: adapter.pipelineRunUrl(),
  };
}

function labelMap(): Record<string, string> {
  return Object.fromEntries(parseKeyValues(adapter.getLines('labels'), 'labels', 'labels'));
}

function tagList(): string[] {
  const tags = listItems(adapter.getLines('tags'));
  return tags.length ? tags : [adapter.getVariable('Build.BuildId') ?? 'latest'];
}

/** A repository name such as models/resnet (optionally with its registry), without tag or digest. */
function imageName(): string | undefined {
  const name = adapter.getString('imageName');
  if (name === undefined) return undefined;
  const ref = parseReference(name, { input: 'imageName' });
  if (ref.tag || ref.digest)
    throw new InputError(
      'imageName',
      `Input 'imageName' is a repository name such as models/resnet, without tag or digest (got '${name}'): put tags in 'tags'.`,
    );
  return name;
}

/** The container's working directory: an absolute path in the image (container runtimes refuse a relative one). */
function workingDirectory(): string | undefined {
  const dir = adapter.getString('workingDirectory');
  if (dir !== undefined && !dir.startsWith('/'))
    throw new InputError('workingDirectory', `Input 'workingDirectory' must be an absolute path in the image such as /app (got '${dir}').`);
  return dir;
}

/** The model layer cache folder, or undefined when the cache is off or the agent has no work folder. */
function layerCacheDirectory(): string | undefined {
  if (!adapter.getBool('layerCache', true)) return undefined;
  const given = adapter.getString('layerCacheDirectory');
  if (given) return given;
  const work = adapter.getVariable('Agent.WorkFolder');
  return work ? `${work}/_modeltoaks/layers` : undefined;
}

function outputPath(): string {
  const given = adapter.getPath('outputPath');
  if (given) return given;
  const staging = adapter.getVariable('Build.ArtifactStagingDirectory');
  if (!staging) throw new InputError('outputPath', `Input 'outputPath' is required outside a pipeline: name the folder to write the OCI image layout into.`);
  return `${staging}/image`;
}

void adapter.runTask(
  async () => {
    useAgentProxy();
    const limits = adapter.getNetworkLimits();
    const mode = adapter.getChoice('mode', ['daemonless', 'docker'] as const, 'daemonless');
    const compression = adapter.getChoice('compression', ['auto', 'gzip', 'none'] as const, DEFAULT_COMPRESSION);
    const imageFormat = adapter.getChoice('imageFormat', ['oci', 'docker'] as const, DEFAULT_IMAGE_FORMAT);
    const modelPath = adapter.getRequiredString('modelPath');
    const common = {
      compression,
      imageFormat,
      provenance: provenance(),
      created: createdFromSources(adapter.getVariable('Build.SourcesDirectory')),
      imageName: imageName(),
      tags: tagList(),
      outputPath: outputPath(),
      logger: adapter.taskLogger,
    };
    // Base image pulls obey the connect/idle timeouts; the whole build runs within the network deadline.
    const result = await withNetworkDeadline(limits, async (signal): Promise<BundleResult> => {
      configureTimeouts(limits, signal);
      if (mode === 'docker') {
        const record = await readModelRecord(modelPath);
        if (record?.reused && !existsSync(modelPath))
          throw new InputError(
            'mode',
            `FetchModel downloaded nothing because ${record.reused.registry}/${record.reused.repository} holds the model's layer, but Docker mode builds from the model file: set FetchModel's reuseLayers to false for Docker mode, or use mode daemonless.`,
          );
        return bundleWithDocker({
          ...common,
          dockerfile: adapter.getPath('dockerfile', { defaultValue: DEFAULT_DOCKERFILE }) as string,
          buildContext: adapter.getPath('buildContext'),
          // Build args may carry tokens: read without task-lib's debug echo; docker-build prints their names only.
          buildArgs: parseKeyValues(adapter.getLines('buildArgs', { quiet: true }), 'buildArgs', 'env'),
          model: { path: modelPath },
          labels: labelMap(),
          signal,
        });
      }
      const appDirectory = adapter.getPath('appDirectory');
      const baseImage = adapter.getRequiredString('baseImage');
      return bundleImage({
        ...common,
        writeModelBlob: adapter.getBool('writeModelBlob', false),
        baseImage,
        baseCredentials: credentialsForImage(readOptionalRegistryConnection('baseRegistryConnection'), baseImage),
        platform: parsePlatform(adapter.getString('platform')),
        model: { path: modelPath, destination: adapter.getString('modelDestination', { defaultValue: DEFAULT_MODEL_DESTINATION }) },
        app: appDirectory
          ? { directory: appDirectory, destination: adapter.getString('appDestination', { defaultValue: DEFAULT_APP_DESTINATION }) }
          : undefined,
        entrypoint: parseCommand(adapter.getString('entrypoint'), 'entrypoint'),
        cmd: parseCommand(adapter.getString('cmd'), 'cmd'),
        env: parseKeyValues(adapter.getLines('env'), 'env', 'env'),
        workingDirectory: workingDirectory(),
        ports: parsePorts(adapter.getLines('ports'), 'ports'),
        user: adapter.getString('user'),
        labels: labelMap(),
        layerCache: layerCacheDirectory(),
        signal,
      });
    });
    adapter.setOutput('imageLayout', result.layoutPath);
    adapter.setOutput('imageDigest', result.manifestDigest);
    adapter.setOutput('modelLayerDigest', result.modelLayerDigest ?? '');
    adapter.setOutput('imageTags', result.tags.join(','));
    const p = common.provenance;
    adapter.uploadSummary(
      BUNDLE_SUMMARY_TITLE,
      bundleSummary(result, {
        baseImage: mode === 'daemonless' ? adapter.getString('baseImage') : undefined,
        modelDestination: adapter.getString('modelDestination', { defaultValue: DEFAULT_MODEL_DESTINATION }),
        appDestination: adapter.getString('appDestination', { defaultValue: DEFAULT_APP_DESTINATION }),
        model: { uri: p.modelUri, version: p.modelVersion, sha256: p.modelSha256 },
      }),
    );
    adapter.succeed(bundleMessage(result));
  },
  { inputRules: INPUT_RULES.BundleModelImage },
);
