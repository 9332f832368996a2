/**
 * BundleModelImage's side of layer reuse: what FetchModel left next to the
 * model (shared/reuse/records.ts) decides whether the model layer comes from
 * the registry (FetchModel downloaded nothing), from this agent's layer cache,
 * or is built from the file; and what the layout records for PushToACR.
 */
import { lstat } from 'node:fs/promises';
import { basename } from 'node:path';
import { InputError } from '../errors';
import type { CompressionPolicy } from '../oci/layer';
import { recipeText, singleFileRecipe, type LayerRecipe } from './recipe';
import { readModelRecord, sameStamp, stampOf, type ModelRecord } from './records';

export type ModelPlan =
  /** FetchModel downloaded nothing: the layer is in the registry. */
  | { kind: 'remote'; record: ModelRecord & { reused: NonNullable<ModelRecord['reused']> }; recipe: LayerRecipe }
  /** Build from the file; `trusted` when FetchModel's record vouches for its sha256 (file unchanged since verification). */
  | { kind: 'local'; trusted?: ModelRecord; why?: string };

/** Decides where the model layer comes from for the model at `modelPath`. */
export async function planModelLayer(modelPath: string, destination: string, compression: CompressionPolicy, mtime: number): Promise<ModelPlan> {
  const record = await readModelRecord(modelPath);
  const stamp = await stampOf(modelPath);
  if (record?.reused && !stamp) {
    const exists = await lstat(modelPath).then(
      () => true,
      () => false,
    );
    if (!exists) {
      const recipe = singleFileRecipe(destination, record.name, record.size, mtime, compression);
      if (recipeText(recipe) !== recipeText(record.reused.recipe)) {
        const theirs = record.reused.recipe;
        const path = theirs.entries.find((e) => e.type === 'file')?.path ?? '?';
        throw new InputError(
          'modelDestination',
          `FetchModel did not download '${basename(modelPath)}' because ${record.reused.registry}/${record.reused.repository} holds its layer for /${path} (compression ${theirs.compression}, mtime ${theirs.mtime}), but this step puts it at /${recipe.entries.find((e) => e.type === 'file')?.path} (compression ${compression}, mtime ${mtime}): set FetchModel's reuseModelDestination and reuseCompression to this step's modelDestination and compression (and the same SOURCE_DATE_EPOCH), or set reuseLayers to false.`,
        );
      }
      return { kind: 'remote', record: record as ModelRecord & { reused: NonNullable<ModelRecord['reused']> }, recipe };
    }
  }
  if (!record || record.reused) return { kind: 'local', why: 'FetchModel left no record of this model file' };
  if (!sameStamp(record.local, stamp)) return { kind: 'local', why: 'the model file changed since FetchModel verified it' };
  return { kind: 'local', trusted: record };
}
