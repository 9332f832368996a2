/** Reusing a model layer the registry already holds: identity, recipe, records and the registry mapping. */
export { modelIdentity, type ModelIdentity } from './identity';
export { expectedBlobSize, isReusableEncoding, recipeKey, recipeOf, recipeText, singleFileRecipe, type LayerRecipe, type ReusableEncoding } from './recipe';
export {
  LAYER_SIDECAR,
  MODEL_RECORD,
  readLayerSidecar,
  readModelRecord,
  removeModelRecord,
  sameStamp,
  stampOf,
  writeLayerSidecar,
  writeModelRecord,
  type FileStamp,
  type LayerSidecar,
  type ModelRecord,
} from './records';
export { lookupLayer, mappingTag, writeMapping, MAPPING_TAG_PREFIX, type LayerHit, type LookupResult } from './mapping';
export { findReusableLayer, identityFor, type LayerReuseOptions } from './fetch';
export { planModelLayer, type ModelPlan } from './bundle-model';
export { DEFAULT_LAYER_CACHE_ENTRIES, LayerCache } from './layer-cache';
export { layoutReuse, modelBytesUploaded, recordModelLayer, type LayoutReuse } from './push';
