/**
 * An image of an OCI layout as a docker-archive stream (the format `docker
 * load` and `podman load` read): `manifest.json` ([{Config, RepoTags,
 * Layers}]) plus the config and layer blobs under `blobs/sha256/`, as Docker
 * 25+ `docker save` lays them out. Layers are passed as stored (gzip or
 * uncompressed): the engines decompress them and check each against the
 * config's diff_ids. Blobs are streamed from the layout and verified against
 * their digests on the way, so a corrupt layout fails the load.
 */
import { Readable } from 'node:stream';
import { hexOfDigest } from '../digest';
import type { OciLayout } from './layout';
import { encodeHeader, BLOCK } from './tar';
import type { ImageManifest } from './types';

const pad = (size: number): Buffer => Buffer.alloc((BLOCK - (size % BLOCK)) % BLOCK);

/** The docker-archive of `manifest` (an image of `layout`) tagged `repoTag` (`name:tag`). */
export function dockerArchiveStream(layout: OciLayout, manifest: ImageManifest, repoTag: string): Readable {
  const blobPath = (digest: string) => `blobs/sha256/${hexOfDigest(digest)}`;
  const index = Buffer.from(
    JSON.stringify([{ Config: blobPath(manifest.config.digest), RepoTags: [repoTag], Layers: manifest.layers.map((l) => blobPath(l.digest)) }]),
  );
  const blobs = [manifest.config, ...manifest.layers].filter((d, i, all) => all.findIndex((x) => x.digest === d.digest) === i);
  async function* generate(): AsyncGenerator<Buffer> {
    for (const dir of ['blobs', 'blobs/sha256']) yield encodeHeader({ path: dir, type: 'dir', mode: 0o755, size: 0 }, 0);
    for (const d of blobs) {
      yield encodeHeader({ path: blobPath(d.digest), type: 'file', mode: 0o644, size: d.size }, 0);
      let read = 0;
      for await (const chunk of layout.openBlob(d.digest) as AsyncIterable<Buffer>) {
        read += chunk.length;
        yield chunk;
      }
      if (read !== d.size)
        throw new Error(`Blob ${d.digest} of the OCI layout has ${read} bytes, not the ${d.size} its manifest says: rebuild the image layout.`);
      yield pad(d.size);
    }
    yield encodeHeader({ path: 'manifest.json', type: 'file', mode: 0o644, size: index.length }, 0);
    yield index;
    yield pad(index.length);
    yield Buffer.alloc(2 * BLOCK);
  }
  return Readable.from(generate(), { objectMode: false });
}
