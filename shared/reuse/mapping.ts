/**
 * The model -> layer mapping stored in the registry, next to the image: an
 * OCI image manifest (artifactType `application/vnd.modeltoaks.model-layer.v1`,
 * the OCI empty config, the model layer as its one layer) under the tag
 * `model-layer-<sha256 of identity and recipe>` in the image's repository.
 * Its annotations say which model (identity, sha256) and which layer recipe
 * it is for, and the layer's diff_id. A tag is used because distribution 2.8
 * has no referrers API; ACR accepts it too. Because the manifest references
 * the layer, registries keep the blob while the mapping exists.
 *
 * Written by PushToACR only after a push of an image whose model layer was
 * built from bytes FetchModel downloaded and hashed. Read by FetchModel,
 * which uses a mapping only when every check passes (see lookupLayer); any
 * failed check means: download as usual, and say why.
 */
import { createHash } from 'node:crypto';
import { errorMessage } from '../errors';
import type { Logger } from '../log';
import { silentLogger } from '../log';
import { canonicalJson } from '../oci/image';
import { layerMediaType } from '../oci/layer';
import { repositoryScope } from '../oci/registry/auth';
import type { RegistryClient } from '../oci/registry/client';
import { drain, header, type HttpResponse } from '../oci/registry/http';
import { encodeHeader } from '../oci/tar';
import { MediaType, type ImageManifest } from '../oci/types';
import { isSha256Hex } from '../digest';
import type { ModelIdentity } from './identity';
import { expectedBlobSize, isReusableEncoding, parseRecipe, recipeTarSize, recipeText, type LayerRecipe } from './recipe';
import type { LayerSidecar, ReusedLayer } from './records';

export const MAPPING_ARTIFACT_TYPE = 'application/vnd.modeltoaks.model-layer.v1';
export const MAPPING_TAG_PREFIX = 'model-layer-';
/** The OCI empty descriptor's content (`{}`). */
const EMPTY_CONFIG = Buffer.from('{}');
const EMPTY_DESCRIPTOR = {
  mediaType: 'application/vnd.oci.empty.v1+json',
  digest: 'sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a',
  size: 2,
};

export const MappingAnnotation = {
  Identity: 'io.modeltoaks.reuse.identity',
  Recipe: 'io.modeltoaks.reuse.recipe',
  DiffId: 'io.modeltoaks.reuse.diffid',
  Encoding: 'io.modeltoaks.reuse.encoding',
  VerifiedBy: 'io.modeltoaks.reuse.verified-by',
  ModelSha256: 'io.modeltoaks.model.sha256',
} as const;

/** The tag of the mapping for this model identity and layer recipe. */
export function mappingTag(identity: string, recipe: LayerRecipe): string {
  return (
    MAPPING_TAG_PREFIX +
    createHash('sha256')
      .update(`${identity}\n${recipeText(recipe)}`)
      .digest('hex')
  );
}

/** The mapping manifest for a layer built from a verified model. */
export function mappingManifest(s: Pick<LayerSidecar, 'identity' | 'recipe' | 'modelSha256' | 'verifiedBy' | 'layer'>): Buffer {
  const manifest: ImageManifest = {
    schemaVersion: 2,
    mediaType: MediaType.OciManifest,
    artifactType: MAPPING_ARTIFACT_TYPE,
    config: EMPTY_DESCRIPTOR,
    layers: [{ mediaType: s.layer.mediaType, digest: s.layer.digest, size: s.layer.size }],
    annotations: {
      [MappingAnnotation.Identity]: s.identity,
      [MappingAnnotation.Recipe]: recipeText(s.recipe),
      [MappingAnnotation.DiffId]: s.layer.diffId,
      [MappingAnnotation.Encoding]: s.layer.encoding,
      [MappingAnnotation.ModelSha256]: s.modelSha256,
      [MappingAnnotation.VerifiedBy]: s.verifiedBy,
    },
  };
  return Buffer.from(canonicalJson(manifest));
}

/** The recipe text written in the mapping back to a recipe. */
function recipeFromText(text: string | undefined): LayerRecipe | undefined {
  if (!text) return undefined;
  try {
    const v = JSON.parse(text) as { entries?: unknown[]; mtime?: unknown; compression?: unknown };
    const entries = (v.entries ?? []).map((e) => {
      const [path, type, mode, size, linkname] = e as [string, string, number, number, string];
      return { path, type, mode, size, ...(linkname ? { linkname } : {}) };
    });
    return parseRecipe({ entries, mtime: v.mtime, compression: v.compression });
  } catch {
    return undefined;
  }
}

export interface LayerHit {
  layer: ReusedLayer & { mediaType: string };
  modelSha256: string;
  verifiedBy: string;
  tag: string;
}

export type LookupResult = { hit: LayerHit } | { hit?: undefined; reason: string };

/**
 * The first bytes a layer of this recipe must start with: the gzip header and
 * first stored-block header (gzip-stored), then the tar headers up to the
 * first file's content.
 */
export function expectedPrefix(recipe: LayerRecipe, encoding: 'gzip-stored' | 'none'): Buffer {
  const parts: Buffer[] = [];
  for (const e of recipe.entries) {
    parts.push(encodeHeader({ ...e }, recipe.mtime));
    if (e.type === 'file' && e.size > 0) break;
  }
  let tar = Buffer.concat(parts);
  if (encoding === 'none') return tar;
  const first = Math.min(65535, recipeTarSize(recipe));
  tar = tar.subarray(0, first);
  const head = Buffer.from([0x1f, 0x8b, 0x08, 0x00, 0, 0, 0, 0, 0x00, 0xff, 0x00, first & 0xff, first >> 8, ~first & 0xff, (~first >> 8) & 0xff]);
  return Buffer.concat([head, tar]);
}

async function readPrefix(res: HttpResponse, n: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of res.body) {
    chunks.push(chunk as Buffer);
    total += (chunk as Buffer).length;
    if (total >= n) break;
  }
  res.body.destroy();
  return Buffer.concat(chunks).subarray(0, n);
}

/**
 * Finds a layer of `recipe` built from the model `identity` in
 * `repository`, and checks it: the mapping names this identity and recipe,
 * its layer has the size and media type such a layer must have and a diff_id,
 * its sha256 is the published one (when the identity is a published sha256),
 * the registry holds the blob with that size, and the blob starts with the
 * bytes this recipe's tar starts with. Never throws: any problem is a miss
 * with the reason.
 */
export async function lookupLayer(
  client: RegistryClient,
  repository: string,
  identity: ModelIdentity,
  recipe: LayerRecipe,
  logger: Logger = silentLogger,
): Promise<LookupResult> {
  const tag = mappingTag(identity.key, recipe);
  const where = `${client.registry}/${repository}:${tag}`;
  let manifest: ImageManifest;
  try {
    const res = await client.request({
      method: 'GET',
      path: `/v2/${repository}/manifests/${tag}`,
      scopes: [repositoryScope(repository, 'pull')],
      headers: { Accept: MediaType.OciManifest },
      expect: [200],
      allow: [404],
      context: { operation: `read of the model layer mapping ${tag.slice(0, 24)}`, registry: client.registry, repository },
    });
    if (res.status === 404) {
      await drain(res);
      return { reason: `no layer of this model is recorded in ${client.registry}/${repository} yet` };
    }
    const chunks: Buffer[] = [];
    for await (const c of res.body) chunks.push(c as Buffer);
    manifest = JSON.parse(Buffer.concat(chunks).toString('utf8')) as ImageManifest;
  } catch (err) {
    return { reason: `the model layer mapping ${where} could not be read (${errorMessage(err)})` };
  }
  const bad = (why: string): LookupResult => ({ reason: `the model layer mapping ${where} does not check out: ${why}` });
  const a = manifest.annotations ?? {};
  if (manifest.artifactType !== MAPPING_ARTIFACT_TYPE || !Array.isArray(manifest.layers)) return bad('it is not a model layer mapping');
  if (a[MappingAnnotation.Identity] !== identity.key) return bad(`it is for another model (${a[MappingAnnotation.Identity] ?? 'none named'})`);
  const theirs = recipeFromText(a[MappingAnnotation.Recipe]);
  if (!theirs || recipeText(theirs) !== recipeText(recipe)) return bad('its layer puts the model elsewhere or is compressed otherwise');
  if (manifest.layers.length !== 1) return bad(`it lists ${manifest.layers.length} layers, not 1`);
  const layer = manifest.layers[0] as { mediaType: string; digest: string; size: number };
  const encoding = a[MappingAnnotation.Encoding] ?? '';
  if (!isReusableEncoding(encoding)) return bad(`its layer encoding '${encoding}' is not reproducible`);
  const mediaTypes: string[] = [layerMediaType(encoding, 'oci'), layerMediaType(encoding, 'docker')];
  if (!mediaTypes.includes(layer.mediaType)) return bad(`its layer media type ${layer.mediaType} does not fit the encoding '${encoding}'`);
  const diffId = a[MappingAnnotation.DiffId] ?? '';
  const validDigest = (d: string) => d.startsWith('sha256:') && isSha256Hex(d.slice(7));
  if (!validDigest(diffId) || !validDigest(layer.digest)) return bad('its layer digest or diff_id is not a sha256 digest');
  if (encoding === 'none' && diffId !== layer.digest) return bad(`the digest ${layer.digest} and diff_id ${diffId} of an uncompressed layer disagree`);
  const modelSha256 = a[MappingAnnotation.ModelSha256] ?? '';
  if (!isSha256Hex(modelSha256)) return bad('it records no model sha256');
  if (identity.sha256 && modelSha256 !== identity.sha256) return bad(`it records model sha256 ${modelSha256}, not the published ${identity.sha256}`);
  const size = expectedBlobSize(recipe, encoding);
  if (layer.size !== size) return bad(`its layer has ${layer.size} bytes where a layer of this model has ${size}`);
  try {
    const has = await client.blobSize(repository, layer.digest);
    if (has === undefined) return { reason: `${client.registry}/${repository} no longer holds the model layer ${layer.digest} its mapping names` };
    if (has !== size) return bad(`the registry holds ${has} bytes for layer ${layer.digest}, not ${size}`);
    const prefix = expectedPrefix(recipe, encoding);
    const res = await client.request({
      method: 'GET',
      path: `/v2/${repository}/blobs/${layer.digest}`,
      scopes: [repositoryScope(repository, 'pull')],
      headers: { Range: `bytes=0-${prefix.length - 1}` },
      expect: [200, 206],
      context: { operation: `read of the start of layer ${layer.digest.slice(0, 19)}`, registry: client.registry, repository },
    });
    const got = await readPrefix(res, prefix.length);
    if (!got.equals(prefix)) return bad(`layer ${layer.digest} does not start like a layer of this model (other file name, size or format)`);
    const served = header(res, 'docker-content-digest');
    if (served && res.status === 200 && served !== layer.digest) return bad(`the registry serves ${served} for layer ${layer.digest}`);
  } catch (err) {
    return { reason: `the model layer in ${client.registry}/${repository} could not be checked (${errorMessage(err)})` };
  }
  logger.debug(`Model layer mapping ${where}: ${layer.digest}, diff_id ${diffId}, checked.`);
  return {
    hit: {
      tag,
      modelSha256,
      verifiedBy: a[MappingAnnotation.VerifiedBy] ?? 'unknown',
      layer: { mediaType: layer.mediaType, digest: layer.digest, size: layer.size, diffId, encoding },
    },
  };
}

/**
 * Records the mapping of a pushed image's model layer (the empty config blob
 * first when the repository lacks it). Returns the tag, or undefined when the
 * same mapping is already there.
 */
export async function writeMapping(client: RegistryClient, repository: string, sidecar: LayerSidecar): Promise<{ tag: string; written: boolean }> {
  const tag = mappingTag(sidecar.identity, sidecar.recipe);
  const bytes = mappingManifest(sidecar);
  const scopes = [repositoryScope(repository, 'pull,push')];
  const context = { operation: 'record of the model layer mapping', registry: client.registry, repository, input: 'recordModelLayer' };
  const existing = await client.request({
    method: 'GET',
    path: `/v2/${repository}/manifests/${tag}`,
    scopes,
    headers: { Accept: MediaType.OciManifest },
    expect: [200],
    allow: [404],
    context,
  });
  const chunks: Buffer[] = [];
  for await (const c of existing.body) chunks.push(c as Buffer);
  if (existing.status === 200 && Buffer.concat(chunks).equals(bytes)) return { tag, written: false };
  if ((await client.blobSize(repository, EMPTY_DESCRIPTOR.digest, scopes)) === undefined) {
    const start = await client.request({ method: 'POST', path: `/v2/${repository}/blobs/uploads/`, scopes, expect: [202], context });
    await drain(start);
    const loc = header(start, 'location');
    if (!loc) throw new Error(`registry ${client.registry} started an upload without a Location header`);
    const url = new URL(loc, client.baseUrl);
    url.searchParams.set('digest', EMPTY_DESCRIPTOR.digest);
    const put = await client.request({
      method: 'PUT',
      path: url,
      scopes,
      headers: { 'Content-Type': 'application/octet-stream', 'Content-Length': String(EMPTY_CONFIG.length) },
      body: EMPTY_CONFIG,
      expect: [201, 204],
      context,
    });
    await drain(put);
  }
  await client.putManifest(repository, tag, bytes, MediaType.OciManifest);
  return { tag, written: true };
}
