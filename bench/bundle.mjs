#!/usr/bin/env node
// BundleModelImage benchmark: a random-bytes model (1 GiB by default) put onto
// the same local busybox base image, side by side, by
//   - BundleModelImage, compression auto (model layer deferred: the default, no
//     blob written; and with writeModelBlob: the blob written), none (deferred:
//     one sha256 pass) and gzip: the real task bundle
//     (dist/tasks/BundleModelImage/index.js) run as the agent runs it;
//   - `umoci insert` (into a copy of the base OCI layout);
//   - `buildah bud` (vfs storage, chroot isolation) with a COPY Dockerfile,
//     then `buildah push` to an OCI layout (so it ends where we end);
//   - `docker build` (legacy builder, --no-cache) + `docker save`, against a
//     dockerd this script starts in a temp folder (stopped at the end).
// Also the machine's sha256 throughput on the same bytes (Node and sha256sum)
// and the plain file copy speed (the disk floor every tool pays).
// Each tool runs as its own process under /usr/bin/time (wall seconds, peak
// RSS of the process tree's largest process; the Docker daemon's own memory
// is not included). The median of --runs runs is reported, printed, and
// written to docs/benchmarks.md under the "BundleModelImage" heading (other
// sections of that file are kept).
//
// Usage: node scripts/build.mjs BundleModelImage && node bench/bundle.mjs
//          [--size-mib 1024] [--runs 3] [--skip docker,buildah,umoci,gzip] [--no-doc]
// The layout's size on disk (du) is reported for our rows: the agent holds the
// model file plus that.
import { spawn, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import {
  closeSync,
  copyFileSync,
  cpSync,
  createReadStream,
  existsSync,
  mkdirSync,
  openSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
// Outside the repository: buildah refuses image paths with a dot-led component such as bench/.work.
const work = join(os.tmpdir(), 'model-to-aks-bench-bundle');
const args = process.argv.slice(2);
const flag = (name) => args.includes(name);
const option = (name, def) => {
  const i = args.indexOf(name);
  return i >= 0 && args[i + 1] !== undefined ? args[i + 1] : def;
};
const sizeMiB = Number(option('--size-mib', '1024'));
const runs = Number(option('--runs', '3'));
const skip = new Set(option('--skip', '').split(',').filter(Boolean));
const bundlePath = join(root, 'dist', 'tasks', 'BundleModelImage', 'index.js');
const MiB = 1024 * 1024;
const bytes = sizeMiB * MiB;
let dockerd;
let loadStart = 0;

const log = (m) => console.log(m);
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
};

function have(cmd) {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}

/** Runs a command under /usr/bin/time; returns wall seconds and peak RSS (MB). */
function timed(cmd, cmdArgs, options = {}) {
  const timeFile = join(work, 'time.txt');
  rmSync(timeFile, { force: true });
  const r = spawnSync('/usr/bin/time', ['-o', timeFile, '-f', '%e %M', cmd, ...cmdArgs], { encoding: 'utf8', maxBuffer: 1 << 26, ...options });
  if (r.status !== 0) throw new Error(`${cmd} ${cmdArgs.join(' ')} failed (${r.status}): ${(r.stderr || r.stdout || '').slice(-2000)}`);
  const [secs, kb] = readFileSync(timeFile, 'utf8').trim().split('\n').pop().split(' ').map(Number);
  return { seconds: secs, rssMB: kb / 1024, stdout: r.stdout };
}

function taskEnv(inputs) {
  const env = { ...process.env };
  for (const k of Object.keys(env)) if (k.startsWith('INPUT_')) delete env[k];
  for (const [k, v] of Object.entries(inputs)) env[`INPUT_${k.toUpperCase()}`] = v;
  env.SYSTEM_DEBUG = 'false';
  env.AGENT_TEMPDIRECTORY = join(work, 'agent-temp');
  mkdirSync(env.AGENT_TEMPDIRECTORY, { recursive: true });
  return env;
}

function runTask(inputs) {
  const r = timed(process.execPath, [bundlePath], { env: taskEnv(inputs) });
  if (!/task\.complete result=Succeeded/.test(r.stdout)) throw new Error(`BundleModelImage failed:\n${r.stdout.slice(-3000)}`);
  return r;
}

async function writeRandomFile(path, size) {
  const fd = openSync(path, 'w');
  const chunk = 8 * MiB;
  for (let done = 0; done < size; done += chunk) writeSync(fd, randomBytes(Math.min(chunk, size - done)));
  closeSync(fd);
}

async function nodeSha256(path) {
  const started = process.hrtime.bigint();
  const h = createHash('sha256');
  for await (const c of createReadStream(path, { highWaterMark: 4 * MiB })) h.update(c);
  h.digest();
  return Number(process.hrtime.bigint() - started) / 1e9;
}

async function startDockerd() {
  const dir = '/tmp/bench-dkr';
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir);
  const logFd = openSync(join(dir, 'dockerd.log'), 'a');
  const child = spawn(
    'dockerd',
    [
      '--host',
      `unix://${dir}/docker.sock`,
      '--data-root',
      join(dir, 'data'),
      '--exec-root',
      join(dir, 'exec'),
      '--pidfile',
      join(dir, 'dockerd.pid'),
      '--iptables=false',
      '--ip6tables=false',
      '--bridge=none',
    ],
    { stdio: ['ignore', logFd, logFd] },
  );
  dockerd = { pid: child.pid, dir, env: { ...process.env, DOCKER_HOST: `unix://${dir}/docker.sock`, DOCKER_BUILDKIT: '0' } };
  for (let i = 0; i < 240; i++) {
    if (spawnSync('docker', ['version', '--format', '{{.Server.Version}}'], { env: dockerd.env, stdio: 'ignore' }).status === 0) return dockerd;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`dockerd did not start: ${readFileSync(join(dir, 'dockerd.log'), 'utf8').slice(-1000)}`);
}

function stopDockerd() {
  if (!dockerd) return;
  try {
    process.kill(dockerd.pid, 'SIGTERM');
  } catch {
    // gone
  }
  spawnSync('sh', [
    '-c',
    `i=0; while kill -0 ${dockerd.pid} 2>/dev/null && [ $i -lt 150 ]; do sleep 0.1; i=$((i+1)); done; kill -9 ${dockerd.pid} 2>/dev/null; grep -o ' ${dockerd.dir}/[^ ]*' /proc/mounts | sort -r | xargs -r -n1 umount -l; rm -rf ${dockerd.dir}`,
  ]);
  dockerd = undefined;
}

function writeDoc(markdown) {
  const path = join(root, 'docs', 'benchmarks.md');
  mkdirSync(dirname(path), { recursive: true });
  let text = existsSync(path) ? readFileSync(path, 'utf8') : '# Benchmarks\n';
  const start = text.search(/^## BundleModelImage\b.*$/m);
  if (start >= 0) {
    const rest = text.slice(start + 1);
    const next = rest.search(/^## /m);
    text = text.slice(0, start) + markdown + (next >= 0 ? '\n' + rest.slice(next) : '');
  } else {
    text = text.replace(/\n*$/, '\n\n') + markdown;
  }
  writeFileSync(path, text.replace(/\n*$/, '\n'));
}

async function main() {
  if (!existsSync(bundlePath)) throw new Error(`${bundlePath} is missing: run node scripts/build.mjs BundleModelImage first`);
  rmSync(work, { recursive: true, force: true });
  mkdirSync(work, { recursive: true });
  loadStart = os.loadavg()[0];
  log(`BundleModelImage benchmark: ${sizeMiB} MiB random model, ${runs} run(s) each, ${os.cpus().length} cores, Node ${process.version}`);

  // Inputs: the model, and a busybox-static base image written by the task itself (scratch + a rootfs folder at /).
  const model = join(work, 'model.bin');
  await writeRandomFile(model, bytes);
  const rootfs = join(work, 'rootfs');
  mkdirSync(join(rootfs, 'bin'), { recursive: true });
  copyFileSync('/bin/busybox', join(rootfs, 'bin', 'busybox'));
  for (const a of ['sh', 'sha256sum', 'cat', 'ls']) symlinkSync('busybox', join(rootfs, 'bin', a));
  const base = join(work, 'base');
  runTask({ baseImage: 'scratch', modelPath: rootfs, modelDestination: '/', tags: '1', outputPath: base, cmd: 'sh', compression: 'gzip' });

  const results = [];
  const disk = new Map();
  const measure = async (name, prepare, run, cleanup) => {
    const secs = [];
    const rss = [];
    for (let i = 0; i < runs; i++) {
      if (prepare) await prepare(i);
      const r = await run(i);
      secs.push(r.seconds);
      rss.push(r.rssMB);
      if (cleanup) await cleanup(i);
      log(`  ${name} run ${i + 1}: ${r.seconds.toFixed(2)} s, ${r.rssMB.toFixed(0)} MB RSS`);
    }
    const s = median(secs);
    results.push({ name, seconds: s, mbps: bytes / 1e6 / s, rssMB: Math.max(...rss) });
  };

  // The floor: sha256 of the same bytes, and one plain copy of the file.
  const nodeShaSecs = [];
  for (let i = 0; i < runs; i++) nodeShaSecs.push(await nodeSha256(model));
  const shaNode = median(nodeShaSecs);
  const shaCli = median(Array.from({ length: runs }, () => timed('sha256sum', [model]).seconds));
  const copySecs = median(
    Array.from({ length: runs }, (_, i) => {
      const r = timed('cp', [model, join(work, `copy-${i}.bin`)]).seconds;
      rmSync(join(work, `copy-${i}.bin`), { force: true });
      return r;
    }),
  );

  const variants = [
    { name: 'BundleModelImage (auto)', compression: 'auto' },
    { name: 'BundleModelImage (auto, writeModelBlob)', compression: 'auto', writeModelBlob: 'true' },
    { name: 'BundleModelImage (none)', compression: 'none' },
    { name: 'BundleModelImage (gzip)', compression: 'gzip' },
  ].filter((v) => !(v.compression === 'gzip' && skip.has('gzip')));
  for (const v of variants) {
    const out = join(work, 'out-ours');
    await measure(
      v.name,
      null,
      () =>
        runTask({
          baseImage: `oci:${base}:1`,
          modelPath: model,
          tags: 'bench',
          outputPath: out,
          compression: v.compression,
          writeModelBlob: v.writeModelBlob ?? 'false',
        }),
      () => {
        disk.set(v.name, Number(spawnSync('du', ['-sb', out], { encoding: 'utf8' }).stdout.split(/\s/)[0]));
        rmSync(out, { recursive: true, force: true });
      },
    );
  }

  if (!skip.has('umoci') && have('umoci')) {
    await measure(
      'umoci insert',
      () => cpSync(base, join(work, 'umoci'), { recursive: true }),
      () => timed('umoci', ['insert', '--rootless', '--image', `${join(work, 'umoci')}:1`, '--tag', 'bench', model, '/models/model.bin']),
      () => rmSync(join(work, 'umoci'), { recursive: true, force: true }),
    );
  } else log('  (umoci skipped)');

  if (!skip.has('buildah') && have('buildah')) {
    const ctx = join(work, 'buildah-ctx');
    mkdirSync(ctx, { recursive: true });
    copyFileSync(model, join(ctx, 'model.bin'));
    writeFileSync(join(ctx, 'Dockerfile'), `FROM oci:${base}:1\nCOPY model.bin /models/model.bin\n`);
    const store = ['--storage-driver', 'vfs', '--root', join(work, 'buildah-root'), '--runroot', join(work, 'buildah-run')];
    await measure(
      'buildah bud + push (vfs, chroot)',
      null,
      () => {
        const b = timed('buildah', [...store, 'bud', '--isolation', 'chroot', '-q', '-t', 'bench:1', ctx]);
        const p = timed('buildah', [...store, 'push', '-q', 'bench:1', `oci:${join(work, 'buildah-out')}:1`]);
        return { seconds: b.seconds + p.seconds, rssMB: Math.max(b.rssMB, p.rssMB) };
      },
      () => {
        spawnSync('buildah', [...store, 'rmi', '--all', '--force'], { stdio: 'ignore' });
        rmSync(join(work, 'buildah-out'), { recursive: true, force: true });
      },
    );
    rmSync(join(work, 'buildah-root'), { recursive: true, force: true });
    rmSync(ctx, { recursive: true, force: true });
  } else log('  (buildah skipped: apt-get install -y buildah)');

  if (!skip.has('docker') && have('dockerd') && process.getuid?.() === 0) {
    const d = await startDockerd();
    try {
      const archive = join(work, 'base-docker.tar');
      spawnSync('skopeo', ['copy', '--insecure-policy', `oci:${base}:1`, `docker-archive:${archive}:bench/base:1`], { stdio: 'ignore' });
      spawnSync('docker', ['load', '-i', archive], { env: d.env, stdio: 'ignore' });
      const ctx = join(work, 'docker-ctx');
      mkdirSync(ctx, { recursive: true });
      copyFileSync(model, join(ctx, 'model.bin'));
      writeFileSync(join(ctx, 'Dockerfile'), 'FROM bench/base:1\nCOPY model.bin /models/model.bin\n');
      await measure(
        'docker build (legacy) + docker save',
        null,
        () => {
          const b = timed('docker', ['build', '--no-cache', '-q', '-t', 'bench/img:1', ctx], { env: d.env });
          const s = timed('docker', ['save', '-o', join(work, 'docker-out.tar'), 'bench/img:1'], { env: d.env });
          return { seconds: b.seconds + s.seconds, rssMB: Math.max(b.rssMB, s.rssMB) };
        },
        () => {
          spawnSync('docker', ['image', 'rm', 'bench/img:1'], { env: d.env, stdio: 'ignore' });
          rmSync(join(work, 'docker-out.tar'), { force: true });
        },
      );
      rmSync(ctx, { recursive: true, force: true });
    } finally {
      stopDockerd();
    }
  } else log('  (docker skipped: needs root and dockerd)');

  // Report.
  const ours = results.find((r) => r.name === 'BundleModelImage (auto)');
  const peers = results.filter((r) => !r.name.startsWith('BundleModelImage'));
  const fastestPeer = peers.length ? peers.reduce((a, b) => (a.seconds < b.seconds ? a : b)) : undefined;
  const shaMBps = bytes / 1e6 / shaNode;
  const rows = results.map(
    (r) =>
      `| ${r.name} | ${r.seconds.toFixed(2)} | ${r.mbps.toFixed(0)} | ${r.rssMB.toFixed(0)} | ${(r.seconds / ours.seconds).toFixed(2)}x | ${disk.has(r.name) ? ((bytes + disk.get(r.name)) / bytes).toFixed(3) + 'x' : 'n/a'} |`,
  );
  const none = results.find((r) => r.name === 'BundleModelImage (none)');
  const written = results.find((r) => r.name === 'BundleModelImage (auto, writeModelBlob)');
  const checks = [
    fastestPeer
      ? `- auto vs the fastest peer (${fastestPeer.name}): ${(fastestPeer.seconds / ours.seconds).toFixed(2)}x faster (target 1.5x): ${fastestPeer.seconds / ours.seconds >= 1.5 ? 'met' : 'NOT met'}`
      : '- no peer ran',
    `- auto vs sha256 in Node on the same bytes (${shaMBps.toFixed(0)} MB/s): ${(ours.mbps / shaMBps).toFixed(2)} of it (target at least 0.5): ${ours.mbps >= shaMBps / 2 ? 'met' : 'NOT met'}`,
    `- auto vs a plain \`cp\` of the model file (${(bytes / 1e6 / copySecs).toFixed(0)} MB/s; cp copies in the kernel, without reading the bytes into a process): ${(ours.mbps / (bytes / 1e6 / copySecs)).toFixed(2)} of it`,
    `- peak RSS of auto: ${ours.rssMB.toFixed(0)} MB (target under 200 MB): ${ours.rssMB < 200 ? 'met' : 'NOT met'}`,
    `- cold bundle vs one sha256 pass over the model in Node (${shaNode.toFixed(2)} s): auto (deferred, two hashes on two threads, nothing written) ${(ours.seconds / shaNode).toFixed(2)}x; none (deferred, one hash: digest = diff_id) ${none ? (none.seconds / shaNode).toFixed(2) + 'x' : 'n/a'}; auto with writeModelBlob (two hashes and a full write, the earlier default) ${written ? (written.seconds / shaNode).toFixed(2) + 'x' : 'n/a'}. These include the task process start and the base image copy.`,
    `- agent disk (model file + layout) with auto: ${((bytes + (disk.get(ours.name) ?? 0)) / bytes).toFixed(3)}x the model (target at most 1x the model plus the app); with writeModelBlob ${written ? ((bytes + (disk.get(written.name) ?? 0)) / bytes).toFixed(3) + 'x' : 'n/a'}`,
  ];
  const md = [
    '## BundleModelImage',
    '',
    `Written by \`npm run bench:bundle\` (bench/bundle.mjs) on ${new Date().toISOString().slice(0, 10)}: a ${sizeMiB} MiB random-bytes model onto the same local busybox-static base, ${runs} run(s) each, median wall time; ${os.cpus().length} cores (${os.cpus()[0]?.model ?? '?'}), ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB RAM, Node ${process.version}. Every tool writes the full image (our OCI layout, umoci's layout, buildah's push to an OCI layout, docker's save tarball), except that BundleModelImage's default (auto, none) records the model layer as deferred instead of writing a second copy of the model (PushToACR produces it from the model file while uploading; writeModelBlob writes it). Peak RSS is the largest process of each tool (for docker, the CLI; the daemon is not counted). Load average (1 min) at start ${loadStart.toFixed(1)}, at end ${os.loadavg()[0].toFixed(1)}: other work on the machine slows every tool alike, but it slows the CPU-bound ones (gzip, sha256) most.`,
    '',
    '| Tool | Seconds | MB/s | Peak RSS (MB) | Time vs auto | Agent disk (model + layout) / model |',
    '| --- | ---: | ---: | ---: | ---: | ---: |',
    ...rows,
    '',
    `Machine floor on the same bytes: sha256 in Node ${shaMBps.toFixed(0)} MB/s, \`sha256sum\` ${(bytes / 1e6 / shaCli).toFixed(0)} MB/s, \`cp\` of the file ${(bytes / 1e6 / copySecs).toFixed(0)} MB/s.`,
    '',
    ...checks,
    '',
  ].join('\n');
  log('');
  log(md);
  if (!flag('--no-doc')) writeDoc(md);
  // The memory bound is a hard requirement (the speed targets depend on the machine and its load).
  if (ours.rssMB >= 200) {
    console.error(`FAILED: BundleModelImage (auto) peaked at ${ours.rssMB.toFixed(0)} MB RSS (limit 200 MB)`);
    process.exitCode = 1;
  }
}

main()
  .catch((err) => {
    console.error(err.stack ?? String(err));
    process.exitCode = 1;
  })
  .finally(() => {
    stopDockerd();
    if (!flag('--keep')) rmSync(work, { recursive: true, force: true });
  });
