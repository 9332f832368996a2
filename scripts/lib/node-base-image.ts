/**
 * A local base image for the sample app, built without any network: an OCI
 * image layout holding this machine's Node.js binary (process.execPath) at
 * /usr/local/bin/node plus every shared library `ldd` lists for it and the
 * dynamic loader, at the same paths as on the host, and a minimal /etc
 * (passwd, group with root and nobody) and /tmp. Written reproducibly with the
 * project's own layer library (sorted entries, fixed mtime), so the same host
 * gives the same digest; the result is cached by the files' identity.
 *
 * Used by `npm run demo` and the end-to-end test as BundleModelImage's
 * `baseImage` (`oci:<dir>:<tag>`). The image runs on the host's architecture
 * (linux/amd64 on the usual agent).
 */
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, realpathSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { arch } from 'node:os';
import { join } from 'node:path';
import { canonicalJson } from '../../shared/oci/image';
import { writeLayer } from '../../shared/oci/layer';
import { OciLayout } from '../../shared/oci/layout';
import { collectEntries, type TreeSource } from '../../shared/oci/tar';
import { MediaType, type ImageConfig, type ImageManifest } from '../../shared/oci/types';

export interface NodeBaseImage {
  layoutDir: string;
  tag: string;
  /** `oci:<dir>:<tag>`, for BundleModelImage's baseImage input. */
  spec: string;
  manifestDigest: string;
  nodeVersion: string;
  /** Files copied into the image (image paths). */
  files: string[];
  /** Whether an earlier build was reused. */
  cached: boolean;
}

export interface NodeBaseImageOptions {
  /** Folder that holds cached builds (one subfolder per identity). */
  cacheDir: string;
  nodePath?: string;
  tag?: string;
}

/** The shared libraries and the loader a binary needs, as absolute host paths (from `ldd`). */
export function sharedLibraries(binary: string): string[] {
  let out: string;
  try {
    out = execFileSync('ldd', [binary], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (err) {
    const text = `${(err as { stdout?: string }).stdout ?? ''}${(err as { stderr?: string }).stderr ?? ''}`;
    if (/not a dynamic executable|statically linked/i.test(text)) return [];
    throw new Error(`Cannot list the shared libraries of ${binary} with ldd (${text.trim() || (err as Error).message}): install libc-bin.`);
  }
  const libs: string[] = [];
  for (const line of out.split('\n')) {
    const arrow = line.match(/=>\s+(\/\S+)\s+\(0x/);
    const direct = line.match(/^\s*(\/\S+)\s+\(0x/);
    const p = arrow?.[1] ?? direct?.[1];
    if (line.includes('=> not found')) throw new Error(`${binary} needs a library that is not installed: ${line.trim()}`);
    if (p) libs.push(p);
  }
  return [...new Set(libs)];
}

const ARCH: Record<string, string> = { x64: 'amd64', arm64: 'arm64', arm: 'arm', ppc64: 'ppc64le', s390x: 's390x' };

export async function buildNodeBaseImage(options: NodeBaseImageOptions): Promise<NodeBaseImage> {
  const nodePath = options.nodePath ?? process.execPath;
  const tag = options.tag ?? 'node';
  const realNode = realpathSync(nodePath);
  const nodeVersion = execFileSync(realNode, ['--version'], { encoding: 'utf8' }).trim();
  const libs = sharedLibraries(realNode);
  const sources: Array<{ host: string; image: string }> = [
    { host: realNode, image: '/usr/local/bin/node' },
    ...libs.map((l) => ({ host: realpathSync(l), image: l })),
  ];
  // Identity of the build: every file's path, size and mtime, plus this builder's format version.
  const id = createHash('sha256');
  id.update('node-base-v1\n');
  for (const s of sources) {
    const st = statSync(s.host);
    id.update(`${s.image}\t${s.host}\t${st.size}\t${st.mtimeMs}\n`);
  }
  const key = id.digest('hex').slice(0, 16);
  const layoutDir = join(options.cacheDir, `node-base-${key}`);
  const files = sources.map((s) => s.image);
  if (existsSync(join(layoutDir, 'index.json'))) {
    const found = await (await OciLayout.open(layoutDir)).findManifest(tag);
    return { layoutDir, tag, spec: `oci:${layoutDir}:${tag}`, manifestDigest: found.descriptor.digest, nodeVersion, files, cached: true };
  }

  mkdirSync(options.cacheDir, { recursive: true });
  const work = mkdtempSync(join(options.cacheDir, '.node-base-work-'));
  try {
    const etc = join(work, 'rootfs');
    mkdirSync(join(etc, 'etc'), { recursive: true });
    mkdirSync(join(etc, 'tmp'), { recursive: true });
    writeFileSync(join(etc, 'etc', 'passwd'), 'root:x:0:0:root:/root:/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n');
    writeFileSync(join(etc, 'etc', 'group'), 'root:x:0:\nnogroup:x:65534:\n');
    const treeSources: TreeSource[] = [
      { hostPath: etc, destination: '/' },
      ...sources.map((s) => ({ hostPath: s.host, destination: '/', fileDestination: s.image })),
    ];
    const entries = await collectEntries(treeSources);
    const staging = join(work, 'layout');
    const layout = await OciLayout.create(staging);
    const layer = await writeLayer(layout, entries, { compression: 'gzip', format: 'oci', mtime: 0 });
    const architecture = ARCH[arch()] ?? arch();
    const config: ImageConfig = {
      created: '1970-01-01T00:00:00Z',
      architecture,
      os: 'linux',
      config: {
        Env: ['PATH=/usr/local/bin:/usr/bin:/bin', `NODE_VERSION=${nodeVersion.replace(/^v/, '')}`],
        Entrypoint: ['/usr/local/bin/node'],
        Labels: { 'org.opencontainers.image.title': 'local Node.js base (host binary)', 'org.opencontainers.image.version': nodeVersion },
      },
      rootfs: { type: 'layers', diff_ids: [layer.diffId] },
      history: [
        { created: '1970-01-01T00:00:00Z', created_by: `scripts/lib/node-base-image.ts: ${realNode} ${nodeVersion} + ${libs.length} shared libraries` },
      ],
    };
    const cfg = await layout.writeBlob(canonicalJson(config));
    const manifest: ImageManifest = {
      schemaVersion: 2,
      mediaType: MediaType.OciManifest,
      config: { mediaType: MediaType.OciConfig, ...cfg },
      layers: [{ mediaType: layer.mediaType, digest: layer.digest, size: layer.size }],
    };
    const m = await layout.writeBlob(canonicalJson(manifest));
    await layout.addManifest({ mediaType: MediaType.OciManifest, ...m, platform: { os: 'linux', architecture } }, [tag]);
    // Publish atomically: a half-written cache entry is never reused.
    rmSync(layoutDir, { recursive: true, force: true });
    renameSync(staging, layoutDir);
    return { layoutDir, tag, spec: `oci:${layoutDir}:${tag}`, manifestDigest: m.digest, nodeVersion, files, cached: false };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
