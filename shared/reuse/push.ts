/**
 * PushToACR's side of layer reuse: the layout's model layer record
 * (model-layer.json) tells which blob may be missing from the layout and
 * where it is; after a push, the model -> layer mapping is recorded in the
 * target repository (shared/reuse/mapping.ts) so that the next FetchModel
 * on any agent downloads nothing.
 */
import { errorMessage } from '../errors';
import type { Logger } from '../log';
import type { RegistryCredentials } from '../oci/registry/auth';
import { RegistryClient } from '../oci/registry/client';
import { writeMapping } from './mapping';
import { readLayerSidecar, type LayerSidecar } from './records';

export interface LayoutReuse {
  sidecar?: LayerSidecar;
  /** Blobs not in the layout and where they are. */
  externalBlobs: Map<string, { registry: string; repository: string }>;
}

export async function layoutReuse(layoutDir: string): Promise<LayoutReuse> {
  const sidecar = await readLayerSidecar(layoutDir);
  const externalBlobs = new Map<string, { registry: string; repository: string }>();
  if (sidecar?.remote) externalBlobs.set(sidecar.layer.digest, sidecar.remote);
  return { sidecar, externalBlobs };
}

/** Bytes of the model layer this push uploaded (0 when it was skipped or mounted). */
export function modelBytesUploaded(blobs: Array<{ digest: string; action: string; size: number }>, modelLayerDigest: string | undefined): number {
  if (!modelLayerDigest) return 0;
  return blobs.filter((b) => b.digest === modelLayerDigest && b.action === 'uploaded').reduce((n, b) => n + b.size, 0);
}

export interface RecordOptions {
  registry: string;
  repository: string;
  credentials?: RegistryCredentials;
  credentialsInput?: string;
  insecure?: boolean;
  logger: Logger;
  signal?: AbortSignal;
}

/**
 * Records (or refreshes) the mapping of the pushed model layer. A failure is
 * a warning: the image is pushed; only the next fresh agent downloads again.
 */
export async function recordModelLayer(o: RecordOptions, sidecar: LayerSidecar): Promise<string | undefined> {
  try {
    const client = new RegistryClient({
      registry: o.registry,
      credentials: o.credentials,
      credentialsInput: o.credentialsInput,
      insecure: o.insecure,
      logger: o.logger,
      signal: o.signal,
      retries: 2,
    });
    const { tag, written } = await writeMapping(client, o.repository, sidecar);
    o.logger.info(
      written
        ? `Recorded model layer ${sidecar.layer.digest} for this model as ${o.registry}/${o.repository}:${tag}: FetchModel on any agent can now skip the download.`
        : `Model layer ${sidecar.layer.digest} is already recorded as ${o.registry}/${o.repository}:${tag}.`,
    );
    return tag;
  } catch (err) {
    o.logger.warn(
      `The model layer mapping could not be written to ${o.registry}/${o.repository} (${errorMessage(err)}): the image is pushed, but the next build on a fresh agent downloads the model again; check that the connection may push tags, or set recordModelLayer to false.`,
    );
    return undefined;
  }
}
