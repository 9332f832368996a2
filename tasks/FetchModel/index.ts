/**
 * FetchModel task entry: task inputs and service connections to typed
 * options, the shared library does the work, results become output variables.
 */
import { join } from 'node:path';
import * as adapter from '../../shared/adapter';
import { readModelStore } from '../../shared/adapter/store';
import { fetchMessage, fetchModel, summarize, VERSION_SELECTIONS } from '../../shared/fetch';
import { DEFAULT_BLOCK_SIZE, DEFAULT_CONCURRENCY, DEFAULT_RETRIES, parseExpectedSha256, parseExtractLimits } from '../../shared/download';
import { InputError } from '../../shared/errors';
import { INPUT_RULES, parseMetadataFilter } from '../../shared/inputs';
import { withNetworkDeadline } from '../../shared/net';
import { devopsAccess } from '../../shared/adapter/devops';
import { modelName, recordFetchedModel } from '../../shared/devops';
import { readAcrAccess, readOptionalRegistryConnection, useAgentProxy, type RegistryAccess } from '../../shared/adapter/registry';
import { parseRegistryHost, parseRepository } from '../../shared/inputs';
import { DEFAULT_COMPRESSION, DEFAULT_MODEL_DESTINATION, defaultMtime } from '../../shared/oci';
import { configureTimeouts, RegistryClient } from '../../shared/oci/registry';
import type { LayerReuseOptions } from '../../shared/reuse';
import { FETCH_SUMMARY_TITLE, fetchSummary } from '../../shared/summary';

const MiB = 1024 * 1024;

/** The registry to look for a layer of the model in: an ACR through an Azure connection, or a Docker registry connection. */
function reuseRegistry(): RegistryAccess | undefined {
  const acr = adapter.getString('reuseAzureContainerRegistry');
  if (acr) return readAcrAccess(parseRegistryHost(acr, 'reuseAzureContainerRegistry'), 'reuseAzureSubscription');
  return readOptionalRegistryConnection('reuseRegistryConnection');
}

async function main(): Promise<void> {
  // Validate cheap inputs before touching the network.
  const modelPath = adapter.getRequiredString('modelPath').replace(/^\/+/, '');
  const versionSelection = adapter.getChoice('versionSelection', VERSION_SELECTIONS, 'latestModified');
  const version = versionSelection === 'pinned' ? adapter.getRequiredString('version') : undefined;
  const metadataFilter = versionSelection === 'metadata' ? parseMetadataFilter(adapter.getRequiredString('metadataFilter')) : undefined;
  const expectedSha256 = parseExpectedSha256(adapter.getString('expectedSha256'));
  const extract = adapter.getBool('extract');
  const extractLimits = extract ? parseExtractLimits(adapter.getString('extractLimits')) : undefined;
  // Under Pipeline.Workspace the model survives between jobs on a self-hosted agent (the agent empties Agent.TempDirectory).
  const workspace = adapter.getVariable('Pipeline.Workspace') ?? adapter.getVariable('Agent.TempDirectory');
  const destination = adapter.getPath('destination') ?? (workspace ? join(workspace, 'model') : undefined);
  if (!destination)
    throw new InputError('destination', "Input 'destination' is empty and Pipeline.Workspace is not set: give the folder to download the model into.");

  const limits = adapter.getNetworkLimits();
  useAgentProxy();
  const registry = adapter.getBool('reuseLayers', true) ? reuseRegistry() : undefined;
  const reuseRepository = registry ? parseRepository(adapter.getRequiredString('reuseRepository'), registry.registry) : undefined;
  const reuseModelDestination = adapter.getString('reuseModelDestination', { defaultValue: DEFAULT_MODEL_DESTINATION }) as string;
  const reuseCompression = adapter.getChoice('reuseCompression', ['auto', 'none', 'gzip'] as const, DEFAULT_COMPRESSION);
  const result = await withNetworkDeadline(limits, (signal) => {
    const { store, location } = readModelStore({ limits, signal });
    let reuse: LayerReuseOptions | undefined;
    if (registry && reuseRepository) {
      configureTimeouts(limits, signal);
      reuse = {
        client: new RegistryClient({
          registry: registry.registry,
          credentials: registry.credentials,
          credentialsInput: registry.input,
          logger: adapter.taskLogger,
          signal,
          retries: 2,
        }),
        repository: reuseRepository,
        modelDestination: reuseModelDestination,
        compression: reuseCompression,
        mtime: defaultMtime(),
      };
    }
    return fetchModel({
      store,
      modelPath,
      versionSelection,
      version,
      metadataFilter,
      include: adapter.getString('include'),
      destination,
      expectedSha256,
      requireChecksum: adapter.getBool('requireChecksum'),
      extract,
      extractLimits,
      concurrency: adapter.getInt('concurrency', { defaultValue: DEFAULT_CONCURRENCY }),
      blockSize: adapter.getInt('blockSizeMiB', { defaultValue: DEFAULT_BLOCK_SIZE / MiB }) * MiB,
      retries: adapter.getInt('retries', { defaultValue: DEFAULT_RETRIES }),
      stallTimeoutMs: limits.idleTimeoutMs,
      location,
      reuse,
      reverify: adapter.getBool('reverify', false),
      logger: adapter.taskLogger,
      signal,
    });
  });

  adapter.setOutput('modelPath', result.modelPath);
  adapter.setOutput('modelUri', result.modelUri);
  adapter.setOutput('modelVersion', result.modelVersion);
  adapter.setOutput('modelSha256', result.modelSha256);
  adapter.setOutput('modelSizeBytes', result.modelSizeBytes);
  adapter.setOutput('modelBytesDownloaded', result.bytesDownloaded);
  adapter.setOutput('modelLayerReused', result.layerReused ? 'true' : 'false');
  const change = await recordFetchedModel(devopsAccess(limits), modelName(modelPath), {
    uri: result.modelUri,
    version: result.modelVersion,
    sha256: result.modelSha256,
  });
  adapter.setOutput('modelChanged', String(change.changed));
  console.log(`Model changed since the last successful run: ${change.changed} (${change.reason}).`);
  for (const line of summarize(result)) console.log(line);
  adapter.uploadSummary(FETCH_SUMMARY_TITLE, fetchSummary(result));
  // An unverified model (no checksum anywhere, requireChecksum off) is what the user relies on not happening.
  adapter.finish(fetchMessage(result), result.verified ? [] : ['Nothing could verify the model: set expectedSha256 or publish a checksum.']);
}

void adapter.runTask(main, { inputRules: INPUT_RULES.FetchModel });
