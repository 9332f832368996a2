/**
 * PushToACR task entry: inputs and service connections to push options; the
 * shared registry client does the work; the pinned digest becomes outputs.
 */
import * as adapter from '../../shared/adapter';
import { acrCredentials } from '../../shared/azure/acr';
import { azureCredentialFor } from '../../shared/azure/credential';
import { InputError, isUserError, errorMessage } from '../../shared/errors';
import { OciLayout } from '../../shared/oci/layout';
import { isValidTag, normaliseRegistry, parseReference, registryProblem, sanitizeTag } from '../../shared/oci/reference';
import type { RegistryCredentials } from '../../shared/oci/registry/auth';
import { configureProxy, configureTimeouts } from '../../shared/oci/registry/http';
import { withNetworkDeadline } from '../../shared/net/timeouts';
import { pushImage } from '../../shared/oci/registry/push';
import { Annotation } from '../../shared/oci/types';

interface Target {
  registry: string;
  credentials?: RegistryCredentials;
  credentialsInput: string;
}

function registryFromInput(raw: string, input: string): string {
  const registry = normaliseRegistry(raw.trim());
  const problem = registryProblem(registry);
  if (problem || registry === '') throw new InputError(input, `Input '${input}' must be a registry login server like contoso.azurecr.io (${problem ?? 'it is empty'}).`);
  return registry;
}

function readTarget(): Target {
  const type = adapter.getChoice('registryType', ['azureContainerRegistry', 'serviceConnection'] as const, 'azureContainerRegistry');
  if (type === 'azureContainerRegistry') {
    const endpoint = adapter.readAzureRmEndpoint('azureSubscription');
    const registry = registryFromInput(adapter.getRequiredString('azureContainerRegistry'), 'azureContainerRegistry');
    const credential = azureCredentialFor(endpoint);
    return { registry, credentialsInput: 'azureSubscription', credentials: acrCredentials({ registry, credential, tenantId: endpoint.tenantId, input: 'azureSubscription', logger: adapter.taskLogger }) };
  }
  const endpoint = adapter.readDockerRegistryEndpoint('dockerRegistryConnection');
  const registry = registryFromInput(endpoint.registry, 'dockerRegistryConnection');
  if (endpoint.azure) {
    const credential = azureCredentialFor(endpoint.azure);
    return {
      registry,
      credentialsInput: 'dockerRegistryConnection',
      credentials: acrCredentials({ registry, credential, tenantId: endpoint.azure.tenantId, input: 'dockerRegistryConnection', logger: adapter.taskLogger }),
    };
  }
  const credentials = endpoint.username !== undefined && endpoint.username !== '' ? { username: endpoint.username, password: endpoint.password ?? '' } : undefined;
  return { registry, credentials, credentialsInput: 'dockerRegistryConnection' };
}

function readRepository(registry: string): string {
  let repository = adapter.getRequiredString('repository').replace(/^\/+|\/+$/g, '');
  // Accept a repository written with the login server in front.
  if (repository.toLowerCase().startsWith(`${registry}/`)) repository = repository.slice(registry.length + 1);
  if (/[:@]/.test(repository)) throw new InputError('repository', `Input 'repository' must be a repository name without tag or digest (got '${repository}'): put tags in the 'tags' input.`);
  try {
    return parseReference(`${registry}/${repository}`, { input: 'repository' }).repository;
  } catch (err) {
    throw new InputError('repository', `Input 'repository' is not a valid repository name ('${repository}'): use lowercase letters, digits and separators such as 'models/scorer'.`, err);
  }
}

async function openLayout(dir: string): Promise<OciLayout> {
  try {
    return await OciLayout.open(dir);
  } catch (err) {
    throw new InputError('imageLayout', `Input 'imageLayout': ${isUserError(err) ? err.message : errorMessage(err)}`, err);
  }
}

async function main(): Promise<void> {
  // The agent's proxy (Agent.ProxyUrl, bypass list); HTTPS_PROXY/NO_PROXY apply otherwise.
  configureProxy(adapter.agentProxy());
  const limits = adapter.getNetworkLimits();
  const layoutDir = adapter.getRequiredString('imageLayout');
  const sourceTag = adapter.getString('sourceTag');
  const tags = adapter.getLines('tags');
  for (const t of tags) {
    if (!isValidTag(t)) throw new InputError('tags', `Tag '${t}' in input 'tags' is not a valid tag: use letters, digits, '_', '.' and '-' (at most 128, not starting with '.' or '-').`);
  }
  const addModelVersionTag = adapter.getBool('addModelVersionTag', false);
  const insecure = adapter.getBool('insecure', false);
  const chunkSizeMiB = adapter.getInt('chunkSizeMiB', { defaultValue: 64, min: 1, max: 1024 });
  const concurrency = adapter.getInt('concurrency', { defaultValue: 3, min: 1, max: 16 });
  const layout = await openLayout(layoutDir);
  const target = readTarget();
  const repository = readRepository(target.registry);

  let found;
  try {
    found = await layout.findManifest(sourceTag);
  } catch (err) {
    throw new InputError(sourceTag ? 'sourceTag' : 'imageLayout', isUserError(err) ? err.message : errorMessage(err), err);
  }
  const allTags = [...tags];
  if (addModelVersionTag) {
    const version = found.manifest.annotations?.[Annotation.ModelVersion] ?? found.config.config?.Labels?.[Annotation.ModelVersion];
    if (!version) {
      adapter.taskLogger.warn(`addModelVersionTag is set but the image records no model version (${Annotation.ModelVersion}); no model version tag added.`);
    } else {
      allTags.push(sanitizeTag(`model-${version}`));
    }
  }
  const uniqueTags = [...new Set(allTags)];
  if (uniqueTags.length === 0) adapter.taskLogger.warn('No tags given: the image is pushed by digest only.');

  // Mount candidates: the inputs, and the base image's repository when it lives on the same registry.
  const mountFrom = adapter.getLines('mountFrom').map((r) => r.replace(/^\/+|\/+$/g, ''));
  const baseName = found.manifest.annotations?.[Annotation.BaseName];
  if (baseName) {
    try {
      const base = parseReference(baseName);
      if (base.registry === target.registry && base.repository !== repository) mountFrom.push(base.repository);
    } catch {
      /* not a registry reference (oci: or scratch) */
    }
  }

  const result = await withNetworkDeadline(limits, (signal) => {
    configureTimeouts(limits, signal);
    return pushImage({
      layout,
      source: sourceTag,
      registry: target.registry,
      repository,
      tags: uniqueTags,
      credentials: target.credentials,
      credentialsInput: target.credentialsInput,
      insecure,
      chunkSize: chunkSizeMiB * 1024 * 1024,
      concurrency,
      mountFrom: [...new Set(mountFrom)],
      logger: adapter.taskLogger,
      signal,
    });
  });
  adapter.setOutput('imageDigest', result.digest);
  adapter.setOutput('imageRef', result.reference);
  adapter.setOutput('imageTags', uniqueTags.join(','));
  adapter.setOutput('bytesUploaded', result.bytesUploaded);
  adapter.setOutput('bytesSkipped', result.bytesSkipped);
  adapter.succeed(`Pushed ${result.reference}${uniqueTags.length ? ` as ${uniqueTags.join(', ')}` : ''}.`);
}

void adapter.runTask(main);
