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
import { parseMetadataFilter } from '../../shared/inputs';
import { withNetworkDeadline } from '../../shared/net';
import { FETCH_SUMMARY_TITLE, fetchSummary } from '../../shared/summary';

const MiB = 1024 * 1024;

async function main(): Promise<void> {
  // Validate cheap inputs before touching the network.
  const modelPath = adapter.getRequiredString('modelPath').replace(/^\/+/, '');
  const versionSelection = adapter.getChoice('versionSelection', VERSION_SELECTIONS, 'latestModified');
  const version = versionSelection === 'pinned' ? adapter.getRequiredString('version') : undefined;
  const metadataFilter = versionSelection === 'metadata' ? parseMetadataFilter(adapter.getRequiredString('metadataFilter')) : undefined;
  const expectedSha256 = parseExpectedSha256(adapter.getString('expectedSha256'));
  const extract = adapter.getBool('extract');
  const extractLimits = extract ? parseExtractLimits(adapter.getString('extractLimits')) : undefined;
  const tempDir = adapter.getVariable('Agent.TempDirectory');
  const destination = adapter.getString('destination') ?? (tempDir ? join(tempDir, 'model') : undefined);
  if (!destination)
    throw new InputError('destination', "Input 'destination' is empty and Agent.TempDirectory is not set: give the folder to download the model into.");

  const limits = adapter.getNetworkLimits();
  const result = await withNetworkDeadline(limits, (signal) => {
    const { store, location } = readModelStore({ limits, signal });
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
      concurrency: adapter.getInt('concurrency', { defaultValue: DEFAULT_CONCURRENCY, min: 1, max: 64 }),
      blockSize: adapter.getInt('blockSizeMiB', { defaultValue: DEFAULT_BLOCK_SIZE / MiB, min: 1, max: 256 }) * MiB,
      retries: adapter.getInt('retries', { defaultValue: DEFAULT_RETRIES, min: 0, max: 20 }),
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
  adapter.uploadSummary(FETCH_SUMMARY_TITLE, fetchSummary(result));
  adapter.succeed(fetchMessage(result));
}

void adapter.runTask(main);
