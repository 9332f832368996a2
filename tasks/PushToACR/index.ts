/**
 * PushToACR task entry: inputs and service connections to push options; the
 * shared registry client does the work; the pinned digest becomes outputs.
 */
import * as adapter from '../../shared/adapter';
import { acrAccessOf, readRegistryConnection, useAgentProxy, type RegistryAccess } from '../../shared/adapter/registry';
import { listItems, parseRegistryHost, parseRegistryTags, parseRepository } from '../../shared/inputs';
import { configureTimeouts, DEFAULT_CHUNK_SIZE, DEFAULT_CONCURRENCY, openLayoutInput, pushLayout, pushMessage } from '../../shared/oci/registry';
import { withNetworkDeadline } from '../../shared/net';
import { PUSH_SUMMARY_TITLE, pushSummary } from '../../shared/summary';

const MiB = 1024 * 1024;

function readTarget(): RegistryAccess {
  const type = adapter.getChoice('registryType', ['azureContainerRegistry', 'serviceConnection'] as const, 'azureContainerRegistry');
  if (type === 'serviceConnection') return readRegistryConnection('dockerRegistryConnection');
  const endpoint = adapter.readAzureRmEndpoint('azureSubscription');
  return acrAccessOf(parseRegistryHost(adapter.getRequiredString('azureContainerRegistry'), 'azureContainerRegistry'), endpoint, 'azureSubscription', {
    logger: adapter.taskLogger,
  });
}

async function main(): Promise<void> {
  useAgentProxy();
  const limits = adapter.getNetworkLimits();
  const layoutDir = adapter.getRequiredString('imageLayout');
  const sourceTag = adapter.getString('sourceTag');
  const tags = parseRegistryTags(adapter.getLines('tags'));
  const addModelVersionTag = adapter.getBool('addModelVersionTag', false);
  const insecure = adapter.getBool('insecure', false);
  const chunkSizeMiB = adapter.getInt('chunkSizeMiB', { defaultValue: DEFAULT_CHUNK_SIZE / MiB, min: 1, max: 1024 });
  const concurrency = adapter.getInt('concurrency', { defaultValue: DEFAULT_CONCURRENCY, min: 1, max: 16 });
  const layout = await openLayoutInput(layoutDir);
  const target = readTarget();
  const result = await withNetworkDeadline(limits, (signal) => {
    configureTimeouts(limits, signal);
    return pushLayout({
      layout,
      source: sourceTag,
      registry: target.registry,
      repository: parseRepository(adapter.getRequiredString('repository'), target.registry),
      tags,
      addModelVersionTag,
      credentials: target.credentials,
      credentialsInput: target.input,
      insecure,
      chunkSize: chunkSizeMiB * MiB,
      concurrency,
      mountFrom: listItems(adapter.getLines('mountFrom')),
      logger: adapter.taskLogger,
      signal,
    });
  });
  adapter.setOutput('imageDigest', result.digest);
  adapter.setOutput('imageRef', result.reference);
  adapter.setOutput('imageTags', result.tags.join(','));
  adapter.setOutput('bytesUploaded', result.bytesUploaded);
  adapter.setOutput('bytesSkipped', result.bytesSkipped);
  adapter.uploadSummary(PUSH_SUMMARY_TITLE, pushSummary(result));
  adapter.succeed(pushMessage(result));
}

void adapter.runTask(main);
