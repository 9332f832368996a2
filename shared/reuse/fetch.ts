/**
 * FetchModel's side of layer reuse: given the resolved single-file model,
 * find a checked layer of it in the registry (shared/reuse/mapping.ts). The
 * caller downloads as usual on a miss; the reason is logged here.
 */
import type { Logger } from '../log';
import type { CompressionPolicy } from '../oci/layer';
import type { RegistryClient } from '../oci/registry/client';
import type { StoredObject } from '../storage/store';
import { modelIdentity, type ModelIdentity } from './identity';
import { lookupLayer, type LayerHit } from './mapping';
import { singleFileRecipe, type LayerRecipe } from './recipe';

/** Where to look for a layer of the model, and the layer BundleModelImage will want. */
export interface LayerReuseOptions {
  client: RegistryClient;
  repository: string;
  /** BundleModelImage's modelDestination (the folder the model goes to in the image). */
  modelDestination: string;
  /** BundleModelImage's compression policy. */
  compression: CompressionPolicy;
  /** mtime of the layer's tar entries (SOURCE_DATE_EPOCH or 0, as BundleModelImage uses). */
  mtime: number;
}

export interface ReuseFound {
  identity: ModelIdentity;
  recipe: LayerRecipe;
  hit: LayerHit;
}

/** The model's identity for the record, or undefined (with the reason) when it has none. */
export function identityFor(
  object: StoredObject,
  kind: 'azureBlob' | 's3',
  uri: string,
  expectedSha256?: string,
): { identity?: ModelIdentity; reason?: string } {
  const r = modelIdentity(object, kind, uri, expectedSha256);
  return r.identity ? { identity: r.identity } : { reason: r.reason };
}

/** A checked layer of this model in the registry, or undefined after logging why not. */
export async function findReusableLayer(
  reuse: LayerReuseOptions,
  model: { object: StoredObject; kind: 'azureBlob' | 's3'; uri: string; fileName: string; expectedSha256?: string },
  logger: Logger,
): Promise<ReuseFound | undefined> {
  const where = `${reuse.client.registry}/${reuse.repository}`;
  if (reuse.compression === 'gzip') {
    logger.info(`Layer reuse: not tried, a gzip-compressed layer is not byte-reproducible across agents (compression 'gzip'); downloading.`);
    return undefined;
  }
  const id = modelIdentity(model.object, model.kind, model.uri, model.expectedSha256);
  if (!id.identity) {
    logger.info(`Layer reuse: not tried, the model has no strong identity (${id.reason}); downloading.`);
    return undefined;
  }
  const recipe = singleFileRecipe(reuse.modelDestination, model.fileName, model.object.size, reuse.mtime, reuse.compression);
  const found = await lookupLayer(reuse.client, reuse.repository, id.identity, recipe, logger);
  if (!found.hit) {
    logger.info(`Layer reuse: ${found.reason}; downloading.`);
    return undefined;
  }
  logger.info(
    `Layer reuse: ${where} holds layer ${found.hit.layer.digest} of this model (identity: ${id.identity.source}; sha256 ${found.hit.modelSha256}, ${found.hit.verifiedBy}): nothing downloaded.`,
  );
  return { identity: id.identity, recipe, hit: found.hit };
}
