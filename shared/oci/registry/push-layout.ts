/**
 * Pushing an image of an OCI layout the way PushToACR does: open the layout
 * (errors naming the input), pick the image, add the model-version tag it
 * records, try the base image's repository as a mount source, then push.
 */
import { InputError, errorMessage, isUserError } from '../../errors';
import { OciLayout } from '../layout';
import { parseReference, sanitizeTag } from '../reference';
import { Annotation } from '../types';
import { pushImage, type PushOptions, type PushResult } from './push';

/** Opens the layout folder given in `input`; its problems become errors naming the input. */
export async function openLayoutInput(dir: string, input = 'imageLayout'): Promise<OciLayout> {
  try {
    return await OciLayout.open(dir);
  } catch (err) {
    throw new InputError(input, `Input '${input}': ${isUserError(err) ? err.message : errorMessage(err)}`, err);
  }
}

export interface PushLayoutOptions extends PushOptions {
  /** Also tag `model-<version>` when the image records a model version. */
  addModelVersionTag?: boolean;
}

/** A repository named in `mountFrom`: a valid repository name on the target registry, without tag or digest. */
function checkMountSource(registry: string, repository: string): void {
  let ref;
  try {
    ref = parseReference(`${registry}/${repository}`, { input: 'mountFrom' });
  } catch (err) {
    throw new InputError(
      'mountFrom',
      `Repository '${repository}' in input 'mountFrom' is not a valid repository name: use lowercase letters, digits and separators such as 'models/base', one per line.`,
      err,
    );
  }
  if (ref.tag || ref.digest)
    throw new InputError('mountFrom', `Repository '${repository}' in input 'mountFrom' must be a repository name without tag or digest.`);
}

export interface PushLayoutResult extends PushResult {
  /** The model the image records (its io.modeltoaks.model.* annotations or labels). */
  model: { uri?: string; version?: string; sha256?: string };
}

/** Pushes the layout's image with the tags it should get; returns the push result, the tags written and the model inside. */
export async function pushLayout(o: PushLayoutOptions): Promise<PushLayoutResult> {
  let found;
  try {
    found = await o.layout.findManifest(o.source);
  } catch (err) {
    throw new InputError(o.source ? 'sourceTag' : 'imageLayout', isUserError(err) ? err.message : errorMessage(err), err);
  }
  const allTags = [...o.tags];
  if (o.addModelVersionTag) {
    const version = found.manifest.annotations?.[Annotation.ModelVersion] ?? found.config.config?.Labels?.[Annotation.ModelVersion];
    if (!version) {
      o.logger?.warn(`addModelVersionTag is set but the image records no model version (${Annotation.ModelVersion}); no model version tag added.`);
    } else {
      allTags.push(sanitizeTag(`model-${version}`));
    }
  }
  const tags = [...new Set(allTags)];
  if (tags.length === 0) o.logger?.warn('No tags given: the image is pushed by digest only.');

  // Mount candidates: the given ones, and the base image's repository when it lives on the same registry.
  const mountFrom = (o.mountFrom ?? []).map((r) => r.replace(/^\/+|\/+$/g, ''));
  for (const r of mountFrom) checkMountSource(o.registry, r);
  const baseName = found.manifest.annotations?.[Annotation.BaseName];
  if (baseName) {
    try {
      const base = parseReference(baseName);
      if (base.registry === o.registry && base.repository !== o.repository) mountFrom.push(base.repository);
    } catch {
      /* not a registry reference (oci: or scratch) */
    }
  }
  const result = await pushImage({ ...o, tags, mountFrom: [...new Set(mountFrom)] });
  const recorded = (key: string) => found.manifest.annotations?.[key] ?? found.config.config?.Labels?.[key] ?? undefined;
  const model: PushLayoutResult['model'] = {};
  const uri = recorded(Annotation.ModelUri);
  const version = recorded(Annotation.ModelVersion);
  const sha256 = recorded(Annotation.ModelSha256);
  if (uri) model.uri = uri;
  if (version) model.version = version;
  if (sha256) model.sha256 = sha256;
  return { ...result, tags, model };
}

/** The task's closing line. */
export function pushMessage(result: { reference: string; tags: string[] }): string {
  return `Pushed ${result.reference}${result.tags.length ? ` as ${result.tags.join(', ')}` : ''}.`;
}
