/**
 * FetchModel task entry: task inputs and service connections to typed
 * options, the shared library does the work, results become output variables.
 */
import { join } from 'node:path';
import * as adapter from '../../shared/adapter';
import { azureCredentialFor } from '../../shared/azure/credential';
import { fetchModel, summarize } from '../../shared/fetch/fetch-model';
import { parseMetadataFilter, VERSION_SELECTIONS } from '../../shared/fetch/resolve';
import { parseExpectedSha256 } from '../../shared/download/verify';
import { InputError } from '../../shared/errors';
import { withNetworkDeadline, type NetworkLimits } from '../../shared/net/timeouts';
import type { ModelStore } from '../../shared/storage/store';
import { azureBlobStoreFromConnectionString, azureBlobStoreFromCredential } from '../../shared/storage/azure-blob';
import { s3StoreFor } from '../../shared/storage/s3';

function openStore(limits: NetworkLimits, signal: AbortSignal): { store: ModelStore; location: string } {
  const provider = adapter.getChoice('provider', ['azureBlob', 's3'] as const, 'azureBlob');
  const proxy = { ...adapter.agentProxy(), limits, signal };
  if (provider === 'azureBlob') {
    const container = adapter.getRequiredString('container');
    const authType = adapter.getChoice('authType', ['serviceConnection', 'connectionString'] as const, 'serviceConnection');
    const location = `container '${container}'`;
    if (authType === 'connectionString') {
      const connectionString = adapter.getRequiredString('connectionString', { secret: true });
      return { store: azureBlobStoreFromConnectionString(connectionString, container, proxy), location };
    }
    const endpoint = adapter.readAzureRmEndpoint('azureSubscription');
    const credential = azureCredentialFor(endpoint);
    const store = azureBlobStoreFromCredential(
      credential,
      {
        accountName: adapter.getString('storageAccount'),
        blobEndpoint: adapter.getString('blobEndpoint'),
        environment: endpoint.environment,
        credentialLabel: `service connection '${endpoint.id}' (${endpoint.scheme})`,
      },
      container,
      proxy,
    );
    return { store, location };
  }
  const bucket = adapter.getRequiredString('bucket');
  const connection = adapter.readS3Endpoint('s3Connection');
  const forcePathStyleInput = adapter.getString('forcePathStyle');
  const store = s3StoreFor({
    bucket,
    connection,
    region: adapter.getString('region'),
    endpoint: adapter.getString('s3Endpoint'),
    forcePathStyle: forcePathStyleInput === undefined ? undefined : adapter.getBool('forcePathStyle'),
    ...proxy,
  });
  return { store, location: `bucket '${bucket}'` };
}

async function main(): Promise<void> {
  // Validate cheap inputs before touching the network.
  const modelPath = adapter.getRequiredString('modelPath').replace(/^\/+/, '');
  const versionSelection = adapter.getChoice('versionSelection', VERSION_SELECTIONS, 'latestModified');
  const version = versionSelection === 'pinned' ? adapter.getRequiredString('version') : undefined;
  const metadataFilter = versionSelection === 'metadata' ? parseMetadataFilter(adapter.getRequiredString('metadataFilter')) : undefined;
  const expectedSha256 = parseExpectedSha256(adapter.getString('expectedSha256'));
  const tempDir = adapter.getVariable('Agent.TempDirectory');
  const destination = adapter.getString('destination') ?? (tempDir ? join(tempDir, 'model') : undefined);
  if (!destination) throw new InputError('destination', "Input 'destination' is empty and Agent.TempDirectory is not set: give the folder to download the model into.");

  const limits = adapter.getNetworkLimits();
  const result = await withNetworkDeadline(limits, (signal) => {
    const { store, location } = openStore(limits, signal);
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
      extract: adapter.getBool('extract'),
      concurrency: adapter.getInt('concurrency', { defaultValue: 8, min: 1, max: 64 }),
      blockSize: adapter.getInt('blockSizeMiB', { defaultValue: 8, min: 1, max: 256 }) * 1024 * 1024,
      retries: adapter.getInt('retries', { defaultValue: 6, min: 0, max: 20 }),
      stallTimeoutMs: limits.idleTimeoutMs,
      location,
      logger: adapter.taskLogger,
      signal,
    });
  });

  adapter.setOutput('modelPath', result.modelPath);
  adapter.setOutput('modelUri', result.modelUri);
  adapter.setOutput('modelVersion', result.modelVersion);
  adapter.setOutput('modelSha256', result.modelSha256);
  adapter.setOutput('modelSizeBytes', result.modelSizeBytes);
  for (const line of summarize(result)) console.log(line);
  const message = `${result.cached ? 'Already had' : 'Fetched'} ${result.modelUri} version ${result.modelVersion}`;
  adapter.succeed(result.verified ? message : `${message} (unverified)`);
}

void adapter.runTask(main);
