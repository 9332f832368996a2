#!/usr/bin/env node
// PushToACR push benchmark: an image with a 1 GiB random-bytes model layer
// (plus a busybox base and a small app layer), pushed to a fresh local
// registry (Debian docker-registry on 127.0.0.1) side by side by
//   - PushToACR: the real task bundle (dist/tasks/PushToACR/index.js) run as the agent runs it;
//   - `skopeo copy` from the same OCI layout;
//   - `docker push` of the same image loaded into a test Docker engine (the CLI process is measured;
//     the daemon does the work, so its RSS is not counted).
// Then the re-push cases with PushToACR and skopeo: unchanged image, and an
// app-only change: bytes and seconds. Each tool runs as its own process under
// /usr/bin/time (wall seconds, peak RSS). Median of --runs runs. Results are
// printed and written to docs/benchmarks.md under "## PushToACR".
//
// Usage: node scripts/build.mjs PushToACR && node bench/push.mjs [--size-mib 1024] [--runs 1] [--no-docker] [--no-doc]
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { tsImport } from 'tsx/esm/api';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const work = join(root, 'bench', '.work', 'push');
const args = process.argv.slice(2);
const flag = (n) => args.includes(n);
const option = (n, d) => {
  const i = args.indexOf(n);
  return i >= 0 && args[i + 1] !== undefined ? args[i + 1] : d;
};
const sizeMiB = Number(option('--size-mib', '1024'));
const runs = Number(option('--runs', '1'));
const MiB = 1024 * 1024;
const bundle = join(root, 'dist', 'tasks', 'PushToACR', 'index.js');

const { startRegistry } = await tsImport('../tests/helpers/registry.ts', import.meta.url);
const { buildTestImage } = await tsImport('../tests/integration/registry/fixture.ts', import.meta.url);

function timed(cmd, argv, env = {}) {
  const r = spawnSync('/usr/bin/time', ['-f', '__TIME__ %e %M', cmd, ...argv], { env: { ...process.env, ...env }, encoding: 'utf8', maxBuffer: 64 * MiB });
  const m = /__TIME__ ([\d.]+) (\d+)/.exec(r.stderr ?? '');
  if (r.status !== 0 || !m)
    throw new Error(`${cmd} ${argv.join(' ')} failed (${r.status}):\n${(r.stdout ?? '').slice(-2000)}\n${(r.stderr ?? '').slice(-2000)}`);
  return { seconds: Number(m[1]), rssMB: Number(m[2]) / 1024, stdout: r.stdout };
}

function pushToAcr(layoutDir, registryHost, repository, tag) {
  const env = {
    INPUT_IMAGELAYOUT: layoutDir,
    INPUT_REGISTRYTYPE: 'serviceConnection',
    INPUT_DOCKERREGISTRYCONNECTION: 'bench',
    INPUT_REPOSITORY: repository,
    INPUT_TAGS: tag,
    ENDPOINT_AUTH_bench: JSON.stringify({ scheme: 'UsernamePassword', parameters: { registry: registryHost, username: '', password: '' } }),
    ENDPOINT_DATA_bench_REGISTRYTYPE: 'Others',
    AGENT_TEMPDIRECTORY: join(work, 'agent-tmp'),
  };
  const r = timed(process.execPath, [bundle], env);
  const out = {};
  for (const m of r.stdout.matchAll(/##vso\[task\.setvariable variable=([^;\]]+);[^\]]*\](.*)/g)) out[m[1]] = m[2].trim();
  if (!out.imageDigest) throw new Error(`PushToACR did not set imageDigest:\n${r.stdout.slice(-3000)}`);
  return { ...r, bytes: Number(out.bytesUploaded), digest: out.imageDigest };
}

function skopeoCopy(layoutDir, registryHost, repository, tag) {
  return timed('skopeo', ['copy', '--insecure-policy', '--dest-tls-verify=false', `oci:${layoutDir}:latest`, `docker://${registryHost}/${repository}:${tag}`]);
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function main() {
  if (!existsSync(bundle)) spawnSync(process.execPath, [join(root, 'scripts', 'build.mjs'), 'PushToACR'], { stdio: 'inherit' });
  rmSync(work, { recursive: true, force: true });
  mkdirSync(join(work, 'agent-tmp'), { recursive: true });
  console.log(`Building the test image (${sizeMiB} MiB model layer)...`);
  const v1 = await buildTestImage(join(work, 'v1'), { modelSize: sizeMiB * MiB, modelSeed: 'bench' });
  const v2 = await buildTestImage(join(work, 'v2'), { modelSize: sizeMiB * MiB, modelSeed: 'bench', app: '#!/bin/sh\necho app v2\n' });
  const imageBytes = [v1.config, ...v1.manifest.layers].reduce((n, d) => n + d.size, 0) + v1.manifestSize;
  const rows = [];

  const measure = async (name, fn) => {
    const samples = [];
    for (let i = 0; i < runs; i++) {
      const registry = await startRegistry();
      try {
        samples.push(await fn(registry, i));
      } finally {
        await registry.stop();
      }
    }
    const row = { name, seconds: median(samples.map((s) => s.seconds)), rssMB: median(samples.map((s) => s.rssMB)) };
    row.mbps = imageBytes / 1e6 / row.seconds;
    rows.push(row);
    console.log(`${name}: ${row.seconds.toFixed(2)} s, ${row.mbps.toFixed(0)} MB/s, peak RSS ${row.rssMB.toFixed(0)} MB`);
    return samples;
  };

  await measure('PushToACR', async (registry) => {
    const r = pushToAcr(v1.layout.dir, registry.host, 'bench/model', '1');
    if (r.digest !== v1.manifestDigest) throw new Error(`digest mismatch ${r.digest}`);
    return r;
  });
  await measure('skopeo copy (OCI layout -> registry)', async (registry) => skopeoCopy(v1.layout.dir, registry.host, 'bench/model', '1'));

  let dockerNote = 'not run (--no-docker)';
  if (!flag('--no-docker')) {
    const { dockerEngine, unavailableReason } = await tsImport('../tests/helpers/docker-engine.ts', import.meta.url);
    const engine = await dockerEngine();
    if (!engine) {
      dockerNote = `not run: Docker engine unavailable (${unavailableReason()})`;
    } else {
      engine.loadOciLayout(v1.layout.dir, 'latest', 'bench/model:1');
      await measure('docker push (engine-loaded image)', async (registry, i) => {
        const ref = `${registry.host}/bench/model:${i + 1}`;
        engine.docker(['tag', 'bench/model:1', ref]);
        const r = timed('docker', ['push', ref], engine.env);
        engine.docker(['rmi', ref]);
        return r;
      });
      dockerNote = 'docker re-gzips each layer while pushing (the pushed digests differ from the layout)';
    }
  }

  // Re-push cases on one registry.
  const registry = await startRegistry();
  const repush = [];
  try {
    pushToAcr(v1.layout.dir, registry.host, 'bench/model', 'first');
    skopeoCopy(v1.layout.dir, registry.host, 'bench/skopeo', 'first');
    const same = pushToAcr(v1.layout.dir, registry.host, 'bench/model', 'again');
    repush.push({ name: 'PushToACR, unchanged image', seconds: same.seconds, bytes: same.bytes });
    const app = pushToAcr(v2.layout.dir, registry.host, 'bench/model', 'app2');
    repush.push({ name: 'PushToACR, app-only change', seconds: app.seconds, bytes: app.bytes, expected: v2.app.size + v2.config.size + v2.manifestSize });
    const sSame = skopeoCopy(v1.layout.dir, registry.host, 'bench/skopeo', 'again');
    repush.push({ name: 'skopeo copy, unchanged image', seconds: sSame.seconds });
    const sApp = skopeoCopy(v2.layout.dir, registry.host, 'bench/skopeo', 'app2');
    repush.push({ name: 'skopeo copy, app-only change', seconds: sApp.seconds });
  } finally {
    await registry.stop();
  }
  for (const r of repush) console.log(`${r.name}: ${r.seconds.toFixed(2)} s${r.bytes !== undefined ? `, ${r.bytes} bytes uploaded` : ''}`);

  const ours = rows[0];
  const peers = rows.slice(1);
  const fastestPeer = peers.reduce((a, b) => (b.seconds < a.seconds ? b : a));
  const ratio = fastestPeer.seconds / ours.seconds;
  const appChange = repush.find((r) => r.name === 'PushToACR, app-only change');
  const appFraction = appChange.bytes / (sizeMiB * MiB);
  const cpu = os.cpus();
  const lines = [
    '## PushToACR',
    '',
    `Written by \`npm run bench:push\` (bench/push.mjs) on ${new Date().toISOString().slice(0, 10)}: an image with a ${sizeMiB} MiB random-bytes model layer (uncompressed tar), a busybox-static base layer and a small app layer (${(imageBytes / MiB).toFixed(0)} MiB in all), pushed to a fresh local registry (Debian docker-registry 2.8 on 127.0.0.1, filesystem storage) for every run; ${runs} run(s) each, median wall time of the tool process; ${cpu.length} cores (${(cpu[0]?.model ?? '').split(' ').slice(0, 2).join(' ')}), ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB RAM, Node ${process.version}. Registry and client share the machine. Peak RSS is the tool's own process (docker: the CLI; ${dockerNote}).`,
    '',
    '| Tool | Seconds | MB/s | Peak RSS (MB) | Time vs PushToACR |',
    '| --- | ---: | ---: | ---: | ---: |',
    ...rows.map((r) => `| ${r.name} | ${r.seconds.toFixed(2)} | ${r.mbps.toFixed(0)} | ${r.rssMB.toFixed(0)} | ${(r.seconds / ours.seconds).toFixed(2)}x |`),
    '',
    'Re-push to the same registry (after a first push of the unchanged image):',
    '',
    '| Case | Seconds | Bytes uploaded |',
    '| --- | ---: | ---: |',
    ...repush.map((r) => `| ${r.name} | ${r.seconds.toFixed(2)} | ${r.bytes !== undefined ? r.bytes : 'n/a'} |`),
    '',
    `- PushToACR vs the fastest peer (${fastestPeer.name}): ${ratio.toFixed(2)}x faster (target 1.2x): ${ratio >= 1.2 ? 'met' : 'NOT met'}`,
    `- app-only change: ${appChange.bytes} bytes uploaded = ${(appFraction * 100).toFixed(4)}% of the model's bytes (target under 1%): ${appFraction < 0.01 ? 'met' : 'NOT met'}; exactly the app layer + config + manifest: ${appChange.bytes === appChange.expected ? 'yes' : 'no'}`,
    '',
  ];
  const text = lines.join('\n');
  console.log(`\n${text}`);
  if (!flag('--no-doc')) {
    const docPath = join(root, 'docs', 'benchmarks.md');
    const doc = existsSync(docPath) ? readFileSync(docPath, 'utf8') : '# Benchmarks\n';
    const re = /## PushToACR\n[\s\S]*?(?=\n## |$)/;
    const next = re.test(doc) ? doc.replace(re, text.trimEnd() + '\n') : `${doc.trimEnd()}\n\n${text}`;
    writeFileSync(docPath, next.endsWith('\n') ? next : `${next}\n`);
    console.log(`Updated ${docPath}`);
  }
  rmSync(work, { recursive: true, force: true });
}

await main();
process.exit(0);
