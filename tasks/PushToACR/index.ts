/**
 * PushToACR task entry: inputs and service connections to push options; the
 * shared registry client does the work; the pinned digest becomes outputs.
 */
import * as adapter from '../../shared/adapter';
import { acrAccessOf, readRegistryConnection, useAgentProxy, type RegistryAccess } from '../../shared/adapter/registry';
import { INPUT_RULES, listItems, parseRegistryHost, parseRegistryTags, parseRepository } from '../../shared/inputs';
import { configureTimeouts, DEFAULT_CHUNK_SIZE, DEFAULT_CONCURRENCY, openLayoutInput, pushLayout, pushMessage } from '../../shared/oci/registry';
import { withNetworkDeadline } from '../../shared/net';
import { devopsAccess } from '../../shared/adapter/devops';
import { recordPushedImage } from '../../shared/devops';
import { layoutReuse, modelBytesUploaded, recordModelLayer } from '../../shared/reuse';
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
  const chunkSizeMiB = adapter.getInt('chunkSizeMiB', { defaultValue: DEFAULT_CHUNK_SIZE / MiB });
  const concurrency = adapter.getInt('concurrency', { defaultValue: DEFAULT_CONCURRENCY });
  const layout = await openLayoutInput(layoutDir);
  const target = readTarget();
  const reuse = await layoutReuse(layoutDir);
  const recordLayer = adapter.getBool('recordModelLayer', true);
  const repository = parseRepository(adapter.getRequiredString('repository'), target.registry);
  const result = await withNetworkDeadline(limits, async (signal) => {
    configureTimeouts(limits, signal);
    const pushed = await pushLayout({
      layout,
      source: sourceTag,
      registry: target.registry,
      repository,
      tags,
      addModelVersionTag,
      credentials: target.credentials,
      credentialsInput: target.input,
      insecure,
      chunkSize: chunkSizeMiB * MiB,
      concurrency,
      mountFrom: listItems(adapter.getLines('mountFrom')),
      externalBlobs: reuse.externalBlobs,
      logger: adapter.taskLogger,
      signal,
    });
    if (reuse.sidecar && recordLayer)
      await recordModelLayer(
        {
          registry: target.registry,
          repository,
          credentials: target.credentials,
          credentialsInput: target.input,
          insecure,
          logger: adapter.taskLogger,
          signal,
        },
        reuse.sidecar,
      );
    return pushed;
  });
  // For a classic release (DeployToAKS with `image` empty) and later runs: the record file and the run's build property.
  const record = { imageRef: result.reference, digest: result.digest, tags: result.tags, model: result.model };
  await recordPushedImage(devopsAccess(limits), record, adapter.getVariable('Build.ArtifactStagingDirectory'));
  adapter.setOutput('imageDigest', result.digest);
  adapter.setOutput('imageRef', result.reference);
  adapter.setOutput('imageTags', result.tags.join(','));
  adapter.setOutput('bytesUploaded', result.bytesUploaded);
  adapter.setOutput('bytesSkipped', result.bytesSkipped);
  adapter.setOutput('modelBytesUploaded', modelBytesUploaded(result.blobs, reuse.sidecar?.layer.digest ?? (await modelLayerOf(layout, sourceTag))));
  adapter.uploadSummary(PUSH_SUMMARY_TITLE, pushSummary(result));
  adapter.succeed(pushMessage(result));
}

/** The model layer of the image (the layer BundleModelImage's history names 'model'), when it has one. */
async function modelLayerOf(layout: Awaited<ReturnType<typeof openLayoutInput>>, source: string | undefined): Promise<string | undefined> {
  const found = await layout.findManifest(source).catch(() => undefined);
  if (!found) return undefined;
  const history = (found.config.history ?? []).filter((h) => !h.empty_layer);
  const i = history.findIndex((h) => h.created_by?.startsWith('BundleModelImage: model'));
  return i >= 0 ? found.manifest.layers[i]?.digest : undefined;
}

void adapter.runTask(main, { inputRules: INPUT_RULES.PushToACR });
