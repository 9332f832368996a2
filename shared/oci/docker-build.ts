/**
 * Docker mode: `docker build` with the model placed into the build context
 * (path passed as build arg MODEL_PATH), then `docker save`, and the saved
 * docker-archive converted into the same OCI image layout the daemonless mode
 * writes (layers compressed by the same policy, diff_ids checked against the
 * config, provenance labels and annotations added), so PushToACR treats both
 * modes alike.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream, promises as fsp } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { extract } from 'tar-stream';
import { ChecksumMismatchError, InputError, UserError } from '../errors';
import { silentLogger, type Logger } from '../log';
import { DEFAULT_IMAGE_FORMAT, type ImageFormat } from './image';
import { chooseEncodingForFile, DEFAULT_COMPRESSION, writeTarLayer, type CompressionPolicy } from './layer';
import { OciLayout } from './layout';
import { createdFromEpoch, provenanceMetadata, type Provenance } from './provenance';
import { prepareStaging, resolveOutputPath } from './staging';
import type { Descriptor, ImageConfig } from './types';
import { finishImage, validateTags, type BundleResult, type LayerSummary } from './write-image';

/** The dockerfile input's default. */
export const DEFAULT_DOCKERFILE = 'Dockerfile';
const MODEL_CONTEXT_DIR = '.bundle-model';

export interface DockerBundleOptions {
  /** Path of the Dockerfile (the task's default: {@link DEFAULT_DOCKERFILE}). */
  dockerfile: string;
  /** Build context (default: the Dockerfile's folder). */
  buildContext?: string;
  buildArgs?: Array<[string, string]>;
  model?: { path: string };
  labels?: Record<string, string>;
  compression?: CompressionPolicy;
  imageFormat?: ImageFormat;
  provenance?: Provenance;
  created?: string;
  imageName?: string;
  tags?: string[];
  outputPath: string;
  /** `docker build --network` (e.g. `none` where the engine has no bridge network). */
  network?: string;
  /** Docker CLI (default `docker`). */
  dockerCli?: string;
  /** Environment for the CLI (default process.env; DOCKER_HOST etc.). */
  env?: NodeJS.ProcessEnv;
  logger?: Logger;
  signal?: AbortSignal;
}

interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

function run(
  cli: string,
  args: string[],
  env: NodeJS.ProcessEnv,
  options: { logger?: Logger; stdoutFile?: string; timeoutMs?: number; signal?: AbortSignal } = {},
): Promise<RunResult> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(cli, args, { env, stdio: ['ignore', 'pipe', 'pipe'], signal: options.signal });
    let stdout = '';
    let stderr = '';
    let lineBuf = '';
    const timer = options.timeoutMs ? setTimeout(() => child.kill('SIGKILL'), options.timeoutMs) : undefined;
    let fileDone: Promise<void> = Promise.resolve();
    if (options.stdoutFile) {
      fileDone = pipeline(child.stdout, createWriteStream(options.stdoutFile));
    } else {
      child.stdout.on('data', (c: Buffer) => {
        const s = c.toString('utf8');
        if (stdout.length < 1 << 20) stdout += s;
        if (options.logger) {
          lineBuf += s;
          const lines = lineBuf.split('\n');
          lineBuf = lines.pop() ?? '';
          for (const l of lines) options.logger.info(l);
        }
      });
    }
    child.stderr.on('data', (c: Buffer) => {
      const s = c.toString('utf8');
      if (stderr.length < 1 << 20) stderr += s;
      if (options.logger) for (const l of s.split('\n').filter((x) => x)) options.logger.info(l);
    });
    child.on('error', (err) => {
      if (timer) clearTimeout(timer);
      reject(err);
    });
    child.on('close', (code) => {
      if (timer) clearTimeout(timer);
      if (lineBuf && options.logger) options.logger.info(lineBuf);
      fileDone.then(
        () => resolvePromise({ code: code ?? 1, stdout, stderr }),
        (err: unknown) => reject(err),
      );
    });
  });
}

/** The command line as it may be printed: build-arg values (tokens, passwords) become `***`; only MODEL_PATH, which this module sets, stays. */
function printableArgs(args: string[]): string[] {
  return args.map((a, i) => {
    if (args[i - 1] !== '--build-arg') return a;
    const eq = a.indexOf('=');
    const name = eq < 0 ? a : a.slice(0, eq);
    return eq < 0 || name === 'MODEL_PATH' ? a : `${name}=***`;
  });
}

/** Checks that the Docker CLI is installed and an engine answers; one clear sentence otherwise. */
async function checkDockerEngine(cli = 'docker', env: NodeJS.ProcessEnv = process.env): Promise<string> {
  let r: RunResult;
  try {
    r = await run(cli, ['version', '--format', '{{.Server.Version}}'], env, { timeoutMs: 30000 });
  } catch (err) {
    throw new UserError(
      `Docker mode needs the Docker CLI, but '${cli}' could not be run (${(err as NodeJS.ErrnoException).code ?? String(err)}): install Docker on the agent, or set mode to daemonless.`,
      { code: 'DockerUnavailable', input: 'mode', cause: err },
    );
  }
  const version = r.stdout.trim();
  if (r.code !== 0 || !version) {
    const why = (r.stderr.trim().split('\n').pop() ?? '').slice(0, 300);
    throw new UserError(
      `Docker mode needs a reachable Docker engine, but none answered${env.DOCKER_HOST ? ` at ${env.DOCKER_HOST}` : ''} (${why || 'no server version'}): start the Docker service or set DOCKER_HOST, or set mode to daemonless.`,
      { code: 'DockerUnavailable', input: 'mode' },
    );
  }
  return version;
}

async function linkOrCopyTree(src: string, dest: string): Promise<void> {
  const st = await fsp.lstat(src);
  if (st.isDirectory()) {
    await fsp.mkdir(dest, { recursive: true });
    for (const name of await fsp.readdir(src)) await linkOrCopyTree(join(src, name), join(dest, name));
  } else if (st.isSymbolicLink()) {
    await fsp.symlink(await fsp.readlink(src), dest);
  } else if (st.isFile()) {
    try {
      await fsp.link(src, dest);
    } catch {
      await fsp.copyFile(src, dest);
    }
  }
}

/** Unpacks `docker save` output (a tar) into `dir`, refusing entries that would escape it. */
export async function unpackArchive(archive: string, dir: string): Promise<void> {
  const ex = extract();
  const done = new Promise<void>((resolvePromise, rejectPromise) => {
    // A refusal also stops the extractor, so the archive's read stream is closed.
    const reject = (err: unknown): void => {
      rejectPromise(err);
      setImmediate(() => ex.destroy(err instanceof Error ? err : new Error(String(err))));
    };
    const outside = (p: string): boolean => p !== dir && !p.startsWith(dir + sep);
    ex.on('entry', (header, stream, next) => {
      const target = resolve(dir, header.name);
      // A link may only point inside the archive (its files are written through it afterwards).
      const linkTarget = header.type === 'symlink' ? resolve(dirname(target), header.linkname ?? '') : undefined;
      if (outside(target) || (linkTarget !== undefined && (isAbsolute(header.linkname ?? '') || outside(linkTarget)))) {
        stream.resume();
        reject(new UserError(`The image exported by Docker has an entry '${header.name}' outside the archive: the export is not a valid docker-archive.`));
        return;
      }
      const finish = (p: Promise<unknown>) =>
        p.then(
          () => next(),
          (err: unknown) => reject(err),
        );
      if (header.type === 'directory') {
        stream.resume();
        finish(fsp.mkdir(target, { recursive: true }));
      } else if (header.type === 'symlink') {
        stream.resume();
        finish(fsp.mkdir(dirname(target), { recursive: true }).then(() => fsp.symlink(header.linkname ?? '', target)));
      } else if (header.type === 'file') {
        finish(fsp.mkdir(dirname(target), { recursive: true }).then(() => pipeline(stream, createWriteStream(target))));
      } else {
        stream.resume();
        next();
      }
    });
    ex.on('finish', resolvePromise);
    ex.on('error', reject);
  });
  await Promise.all([pipeline(createReadStream(archive), ex), done]);
}

interface DockerArchiveManifest {
  Config: string;
  RepoTags?: string[] | null;
  Layers: string[];
}

function insideArchive(dir: string, p: string): string {
  const full = resolve(dir, p);
  if (!full.startsWith(dir + sep)) throw new UserError(`The image exported by Docker names a file '${p}' outside the archive.`);
  return full;
}

export async function bundleWithDocker(options: DockerBundleOptions): Promise<BundleResult> {
  const logger = options.logger ?? silentLogger;
  const cli = options.dockerCli ?? 'docker';
  const env = options.env ?? process.env;
  const format = options.imageFormat ?? DEFAULT_IMAGE_FORMAT;
  const compression = options.compression ?? DEFAULT_COMPRESSION;
  const created = options.created ?? createdFromEpoch();
  const tags = validateTags(options.tags ?? ['latest']);
  const outputPath = await resolveOutputPath(options.outputPath);
  const dockerfile = resolve(options.dockerfile);
  if (!(await fsp.stat(dockerfile).catch(() => undefined))?.isFile()) {
    throw new InputError('dockerfile', `Dockerfile '${options.dockerfile}' given in 'dockerfile' does not exist: check the path.`);
  }
  const context = resolve(options.buildContext ?? dirname(dockerfile));
  if (!(await fsp.stat(context).catch(() => undefined))?.isDirectory()) {
    throw new InputError('buildContext', `Build context '${options.buildContext}' given in 'buildContext' is not a folder: check the path.`);
  }
  const modelPath = options.model ? resolve(options.model.path) : undefined;
  if (modelPath && !(await fsp.stat(modelPath).catch(() => undefined))) {
    throw new InputError(
      'modelPath',
      `Model path '${options.model?.path}' given in 'modelPath' does not exist: check the path (typically the modelPath output of FetchModel).`,
    );
  }
  // The model is placed into the context under MODEL_CONTEXT_DIR and removed afterwards: never someone else's folder.
  if (modelPath && (await fsp.lstat(join(context, MODEL_CONTEXT_DIR)).catch(() => undefined))) {
    throw new InputError(
      'buildContext',
      `Build context '${options.buildContext ?? context}' given in 'buildContext' already holds '${MODEL_CONTEXT_DIR}', where Docker mode places the model for the build: rename or remove it (a run that was killed can leave it behind).`,
    );
  }
  const engine = await checkDockerEngine(cli, env);
  logger.info(`Docker engine ${engine}`);

  const staging = await prepareStaging(outputPath);
  const work = await fsp.mkdtemp(join(tmpdir(), 'docker-bundle-'));
  const modelDir = join(context, MODEL_CONTEXT_DIR);
  const imageTag = `bundlemodelimage-tmp:${randomBytes(6).toString('hex')}`;
  let built = false;
  let madeModelDir = false;
  try {
    const args = ['build', '--file', dockerfile, '--tag', imageTag];
    if (options.network) args.push('--network', options.network);
    if (modelPath) {
      await fsp.mkdir(modelDir); // not recursive and no rm first: it was checked not to exist
      madeModelDir = true;
      const name = basename(modelPath);
      await linkOrCopyTree(modelPath, join(modelDir, name));
      args.push('--build-arg', `MODEL_PATH=${relative(context, join(modelDir, name)).split(sep).join('/')}`);
    }
    for (const [k, v] of options.buildArgs ?? []) args.push('--build-arg', `${k}=${v}`);
    args.push(context);
    logger.info(`${cli} ${printableArgs(args).join(' ')}`);
    const b = await run(cli, args, env, { logger, signal: options.signal });
    if (b.code !== 0) {
      const last = (b.stderr || b.stdout).trim().split('\n').slice(-1)[0] ?? '';
      throw new UserError(
        `docker build failed (exit code ${b.code}): ${last.slice(0, 400)}; see the build log above and fix the Dockerfile or build arguments.`,
        { code: 'DockerBuildFailed', input: 'dockerfile' },
      );
    }
    built = true;
    const archive = join(work, 'image.tar');
    const s = await run(cli, ['save', '--output', archive, imageTag], env, { signal: options.signal });
    if (s.code !== 0) throw new UserError(`docker save failed (exit code ${s.code}): ${s.stderr.trim().slice(0, 400)}.`, { code: 'DockerSaveFailed' });
    const unpacked = join(work, 'archive');
    await fsp.mkdir(unpacked);
    await unpackArchive(archive, unpacked);
    await fsp.rm(archive, { force: true });
    const manifests = JSON.parse(await fsp.readFile(join(unpacked, 'manifest.json'), 'utf8')) as DockerArchiveManifest[];
    if (!Array.isArray(manifests) || manifests.length !== 1)
      throw new UserError(`The image exported by Docker holds ${Array.isArray(manifests) ? manifests.length : 'no'} images instead of one.`);
    const dm = manifests[0];
    const config = JSON.parse(await fsp.readFile(insideArchive(unpacked, dm.Config), 'utf8')) as ImageConfig & {
      container_config?: unknown;
      config?: ImageConfig['config'];
    };
    const diffIds = config.rootfs?.diff_ids ?? [];
    if (diffIds.length !== dm.Layers.length)
      throw new UserError(`The image exported by Docker has ${dm.Layers.length} layers but its config lists ${diffIds.length}.`);

    const layout = await OciLayout.create(staging);
    const layers: Descriptor[] = [];
    const summary: LayerSummary[] = [];
    for (let i = 0; i < dm.Layers.length; i++) {
      const path = insideArchive(unpacked, dm.Layers[i]);
      const size = (await fsp.stat(path)).size;
      const { encoding } = await chooseEncodingForFile(compression, path, size);
      const r = await writeTarLayer(layout, () => createReadStream(path, { highWaterMark: 1 << 20 }), size, encoding, {
        compression,
        format,
        logger,
        label: `layer ${i + 1}`,
        signal: options.signal,
      });
      if (r.diffId !== diffIds[i]) {
        throw new ChecksumMismatchError(
          `Layer ${i + 1} exported by Docker hashes to ${r.diffId}, not ${diffIds[i]} as its config says: the export is corrupt; retry.`,
        );
      }
      await fsp.rm(path, { force: true });
      layers.push({ mediaType: r.mediaType, digest: r.digest, size: r.size });
      summary.push({ role: 'built', mediaType: r.mediaType, digest: r.digest, size: r.size, diffId: r.diffId, encoding: r.encoding, seconds: r.seconds });
    }
    const { labels, annotations } = provenanceMetadata(options.provenance, created);
    config.config = { ...(config.config ?? {}), Labels: { ...(config.config?.Labels ?? {}), ...labels, ...(options.labels ?? {}) } };
    delete config.container_config;
    return await finishImage({ layout, staging, outputPath, format, config, layers, annotations, tags, imageName: options.imageName, summary, logger });
  } catch (err) {
    await fsp.rm(staging, { recursive: true, force: true });
    throw err;
  } finally {
    if (madeModelDir) await fsp.rm(modelDir, { recursive: true, force: true });
    await fsp.rm(work, { recursive: true, force: true });
    if (built) await run(cli, ['image', 'rm', imageTag], env).catch(() => undefined);
  }
}
