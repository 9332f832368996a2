#!/usr/bin/env node
// PushToACR push benchmark: an image with a 1 GiB random-bytes model layer
// (plus a busybox base and a small app layer), pushed to a fresh local
// registry (Debian docker-registry on 127.0.0.1) side by side by
//   - PushToACR: the real task bundle (dist/tasks/PushToACR/index.js) run as the agent runs it;
//   - `skopeo copy` from the same OCI layout;
//   - `docker push` of the same image loaded into a test Docker engine (the CLI process is measured;
//     the daemon does the work, so its RSS is not counted);
//   - the floor: a monolithic `curl -T` PUT of the model layer's blob (POST for the upload
//     session, one PUT with the whole blob and its digest) to the same registry;
//   - PushToACR with the previous default chunk size (64 MiB), to show what request count costs;
//   - a layout written by BundleModelImage from a model file with the model layer deferred
//     (no blob in the layout: PushToACR produces it from the model file while uploading and
//     verifies its digest), against the same image with the blob written and `curl -T` of that blob.
// Then the re-push cases with PushToACR and skopeo: unchanged image, and an
// app-only change: bytes and seconds. Each tool runs as its own process under
// /usr/bin/time (wall seconds, peak RSS). Median of --runs runs. Results are
// printed and written to docs/benchmarks.md under "## PushToACR".
//
// Usage: node scripts/build.mjs PushToACR && node bench/push.mjs [--size-mib 1024] [--runs 3] [--no-docker] [--no-doc]
import { spawnSync } from 'node:child_process';
import { createWriteStream, existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { pipeline } from 'node:stream/promises';
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
const runs = Number(option('--runs', '3'));
const MiB = 1024 * 1024;
const bundle = join(root, 'dist', 'tasks', 'PushToACR', 'index.js');

const { startRegistry } = await tsImport('../tests/helpers/registry.ts', import.meta.url);
const { buildTestImage, randomStream } = await tsImport('../tests/integration/registry/fixture.ts', import.meta.url);
const { bundleImage } = await tsImport('../shared/oci/bundle.ts', import.meta.url);

function timed(cmd, argv, env = {}) {
  const r = spawnSync('/usr/bin/time', ['-f', '__TIME__ %e %M', cmd, ...argv], { env: { ...process.env, ...env }, encoding: 'utf8', maxBuffer: 64 * MiB });
  const m = /__TIME__ ([\d.]+) (\d+)/.exec(r.stderr ?? '');
  if (r.status !== 0 || !m)
    throw new Error(`${cmd} ${argv.join(' ')} failed (${r.status}):\n${(r.stdout ?? '').slice(-2000)}\n${(r.stderr ?? '').slice(-2000)}`);
  return { seconds: Number(m[1]), rssMB: Number(m[2]) / 1024, stdout: r.stdout };
}

function pushToAcr(layoutDir, registryHost, repository, tag, extra = {}) {
  const env = {
    ...extra,
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

/** The floor: POST for an upload session, then one `curl -T` PUT of the whole blob with its digest (what a monolithic upload costs). */
function curlPut(blobPath, registryHost, repository, digest) {
  const script = [
    'set -e',
    `loc=$(curl -sS -o /dev/null -D - -X POST "http://${registryHost}/v2/${repository}/blobs/uploads/" | tr -d '\\r' | sed -n 's/^[Ll]ocation: //p')`,
    `case "$loc" in http*) ;; *) loc="http://${registryHost}$loc";; esac`,
    `case "$loc" in *\\?*) sep='&';; *) sep='?';; esac`,
    `code=$(curl -sS -o /dev/null -w '%{http_code}' -T "${blobPath}" -H 'Content-Type: application/octet-stream' "$loc\${sep}digest=${digest.replace(':', '%3A')}")`,
    '[ "$code" = 201 ] || { echo "PUT answered $code" >&2; exit 1; }',
  ].join('\n');
  return timed('sh', ['-c', script]);
}

function skopeoCopy(layoutDir, registryHost, repository, tag) {
  return timed('skopeo', ['copy', '--insecure-policy', '--dest-tls-verify=false', `oci:${layoutDir}:latest`, `docker://${registryHost}/${repository}:${tag}`]);
}

let loadStart = 0;
const duBytes = (dir) => Number(spawnSync('du', ['-sb', dir], { encoding: 'utf8' }).stdout.split(/\s/)[0]);
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** Kept under the generated figures (the script rewrites the whole section). */
const NOTES = [
  "Where the time went, and what changed (2026-12-01). (1) Request count: with the earlier default of 64 MiB chunks a 1 GiB layer took 16 PATCH requests, and each one costs the registry a fixed amount of work (docker-registry resumes the upload session and its saved hash state per request); in single runs 16 chunks were about 2.5 s slower than 4 (64 MiB 9.4 / 7.7 s, 256 MiB 6.9 / 6.7 s, one PUT 6.5 / 7.2 s, `curl -T` 9.8 / 7.0 s), so the default chunk is now 256 MiB (a broken connection re-sends at most one chunk; `chunkSizeMiB` still sets it). That effect is not stable: in the last full run below, after the read-path change, 64 MiB and 256 MiB chunks took the same time (7.17 / 7.19 s); the read path was the larger cost. (2) Read path: a CPU profile of a 512 MiB push showed V8's garbage collector taking 1.7 s of the 3 s of CPU the task used (a fresh 1 MiB Buffer per piece read from the file); the bytes are now read into four reused 1 MiB buffers, each refilled once the socket is done with it: CPU for the same push fell from 2.0 s to 1.0 s (user + system) and the collector's share from 1.7 s to 0.04 s. On a machine whose cores are shared with the registry (and today with other work), CPU per byte is what decides the wall time. (3) Fixed cost: starting Node and loading the task bundle is about 0.1 s on a quiet machine but took about 1-1.5 s under today's load (an empty `node -e \"\"` took 0.9-1.1 s), against curl's few milliseconds. A deferred model layer adds the stored-gzip framing (one copy) and the sha256 that verifies it, on the main thread; the registry verifies the digest again on its side. Its reader first opened the model file for every MiB it produced (in a profile, as much CPU as the sha256); it now opens each file once per request.",
];

async function main() {
  loadStart = os.loadavg()[0];
  if (!existsSync(bundle)) spawnSync(process.execPath, [join(root, 'scripts', 'build.mjs'), 'PushToACR'], { stdio: 'inherit' });
  rmSync(work, { recursive: true, force: true });
  mkdirSync(join(work, 'agent-tmp'), { recursive: true });
  console.log(`Building the test image (${sizeMiB} MiB model layer)...`);
  const v1 = await buildTestImage(join(work, 'v1'), { modelSize: sizeMiB * MiB, modelSeed: 'bench' });
  const v2 = await buildTestImage(join(work, 'v2'), { modelSize: sizeMiB * MiB, modelSeed: 'bench', app: '#!/bin/sh\necho app v2\n' });
  const imageBytes = [v1.config, ...v1.manifest.layers].reduce((n, d) => n + d.size, 0) + v1.manifestSize;
  const rows = [];

  // Every case is planned first, then run round by round (each case once per round, each on a fresh
  // registry), so that load from other work on the machine hits every case alike.
  const planned = [];
  const measure = (name, fn, bytes = imageBytes, group = rows) => planned.push({ name, fn, bytes, group, samples: [] });
  const runPlanned = async () => {
    for (let i = 0; i < runs; i++) {
      for (const p of planned) {
        const registry = await startRegistry();
        try {
          const sample = await p.fn(registry, i);
          p.samples.push(sample);
          console.log(`  round ${i + 1}: ${p.name}: ${sample.seconds.toFixed(2)} s`);
        } finally {
          await registry.stop();
        }
      }
    }
    for (const p of planned) {
      const row = { name: p.name, seconds: median(p.samples.map((x) => x.seconds)), rssMB: median(p.samples.map((x) => x.rssMB)) };
      row.mbps = p.bytes / 1e6 / row.seconds;
      row.all = p.samples.map((x) => x.seconds.toFixed(1)).join(' / ');
      p.group.push(row);
      console.log(`${p.name}: ${row.seconds.toFixed(2)} s, ${row.mbps.toFixed(0)} MB/s, peak RSS ${row.rssMB.toFixed(0)} MB`);
    }
  };

  await measure('PushToACR', async (registry) => {
    const r = pushToAcr(v1.layout.dir, registry.host, 'bench/model', '1');
    if (r.digest !== v1.manifestDigest) throw new Error(`digest mismatch ${r.digest}`);
    return r;
  });
  await measure(`PushToACR, chunkSizeMiB 64 (the previous default)`, async (registry) =>
    pushToAcr(v1.layout.dir, registry.host, 'bench/model', '1', { INPUT_CHUNKSIZEMIB: '64' }),
  );
  await measure(
    'curl -T (the model layer blob alone, one PUT)',
    async (registry) => curlPut(v1.layout.blobPath(v1.model.digest), registry.host, 'bench/curl', v1.model.digest),
    v1.model.size,
  );
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

  // A layout from BundleModelImage with the model layer deferred (the default), the same image with the blob written, and the curl floor.
  console.log('Bundling the model file into a deferred and a written layout...');
  const modelDir = join(work, 'model');
  mkdirSync(modelDir, { recursive: true });
  const modelFile = join(modelDir, 'model.bin');
  await pipeline(randomStream('bench-deferred', sizeMiB * MiB), createWriteStream(modelFile));
  const bundleOptions = { baseImage: 'scratch', model: { path: modelFile }, tags: ['latest'], created: '1970-01-01T00:00:00Z' };
  const deferred = await bundleImage({ ...bundleOptions, outputPath: join(work, 'deferred') });
  const written = await bundleImage({ ...bundleOptions, outputPath: join(work, 'written'), writeModelBlob: true });
  if (deferred.manifestDigest !== written.manifestDigest) throw new Error('deferred and written layouts differ');
  const storedBlob = join(work, 'written', 'blobs', 'sha256', written.modelLayerDigest.slice(7));
  const storedSize = statSync(storedBlob).size;
  const dRows = [];
  const dMeasure = (name, fn) => measure(name, fn, storedSize, dRows);
  await dMeasure('curl -T (the stored-gzip model blob, one PUT)', async (registry) =>
    curlPut(storedBlob, registry.host, 'bench/curl', written.modelLayerDigest),
  );
  await dMeasure('PushToACR, model layer deferred (streamed from the model file, verified)', async (registry) => {
    const r = pushToAcr(join(work, 'deferred'), registry.host, 'bench/deferred', '1');
    if (r.digest !== deferred.manifestDigest) throw new Error(`digest mismatch ${r.digest}`);
    return r;
  });
  await dMeasure('PushToACR, same image with the blob written', async (registry) => pushToAcr(join(work, 'written'), registry.host, 'bench/written', '1'));
  const disk = { model: statSync(modelFile).size, deferred: duBytes(join(work, 'deferred')), written: duBytes(join(work, 'written')) };
  await runPlanned();

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
  const curl = rows.find((r) => r.name.startsWith('curl -T'));
  const old64 = rows.find((r) => r.name.includes('previous default'));
  const peers = rows.filter((r) => r.name.startsWith('skopeo') || r.name.startsWith('docker'));
  const fastestPeer = peers.reduce((a, b) => (b.seconds < a.seconds ? b : a));
  const ratio = fastestPeer.seconds / ours.seconds;
  const vsCurl = ours.seconds / curl.seconds;
  const dCurl = dRows.find((r) => r.name.startsWith('curl -T'));
  const dOurs = dRows.find((r) => r.name.includes('deferred'));
  const dWritten = dRows.find((r) => r.name.includes('blob written'));
  const dVsCurl = dOurs.seconds / dCurl.seconds;
  const appChange = repush.find((r) => r.name === 'PushToACR, app-only change');
  const appFraction = appChange.bytes / (sizeMiB * MiB);
  const cpu = os.cpus();
  const load = os.loadavg()[0];
  const lines = [
    '## PushToACR',
    '',
    `Written by \`npm run bench:push\` (bench/push.mjs) on ${new Date().toISOString().slice(0, 10)}: an image with a ${sizeMiB} MiB random-bytes model layer (uncompressed tar), a busybox-static base layer and a small app layer (${(imageBytes / MiB).toFixed(0)} MiB in all), pushed to a fresh local registry (Debian docker-registry 2.8 on 127.0.0.1, filesystem storage) for every run; ${runs} run(s) each, median wall time of the tool process; ${cpu.length} cores (${(cpu[0]?.model ?? '').split(' ').slice(0, 2).join(' ')}), ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB RAM, Node ${process.version}. Registry and client share the machine. Peak RSS is the tool's own process (docker: the CLI; ${dockerNote}). Load average (1 min) at start ${loadStart.toFixed(1)}, at the end ${load.toFixed(1)} on ${cpu.length} cores: the machine was shared with other work, so every figure is noisy and the medians matter more than any single run.`,
    '',
    '| Tool | Seconds (median) | Runs (s) | MB/s | Peak RSS (MB) | Time vs PushToACR |',
    '| --- | ---: | ---: | ---: | ---: | ---: |',
    ...rows.map(
      (r) => `| ${r.name} | ${r.seconds.toFixed(2)} | ${r.all} | ${r.mbps.toFixed(0)} | ${r.rssMB.toFixed(0)} | ${(r.seconds / ours.seconds).toFixed(2)}x |`,
    ),
    '',
    `The model layer deferred by BundleModelImage (the default: no blob in the layout, ${sizeMiB} MiB model file, stored-gzip layer of ${(storedSize / MiB).toFixed(1)} MiB, scratch base, no app), streamed from the model file and verified while it uploads, against the same image with the blob written (writeModelBlob) and \`curl -T\` of that blob:`,
    '',
    '| Tool | Seconds (median) | Runs (s) | MB/s | Peak RSS (MB) | Time vs curl -T |',
    '| --- | ---: | ---: | ---: | ---: | ---: |',
    ...dRows.map(
      (r) => `| ${r.name} | ${r.seconds.toFixed(2)} | ${r.all} | ${r.mbps.toFixed(0)} | ${r.rssMB.toFixed(0)} | ${(r.seconds / dCurl.seconds).toFixed(2)}x |`,
    ),
    '',
    `Agent disk after bundling: the model file ${(disk.model / MiB).toFixed(1)} MiB plus the deferred layout ${(disk.deferred / MiB).toFixed(2)} MiB (${((disk.model + disk.deferred) / disk.model).toFixed(3)}x the model); with writeModelBlob the layout is ${(disk.written / MiB).toFixed(1)} MiB (${((disk.model + disk.written) / disk.model).toFixed(3)}x the model).`,
    '',
    'Re-push to the same registry (after a first push of the unchanged image):',
    '',
    '| Case | Seconds | Bytes uploaded |',
    '| --- | ---: | ---: |',
    ...repush.map((r) => `| ${r.name} | ${r.seconds.toFixed(2)} | ${r.bytes !== undefined ? r.bytes : 'n/a'} |`),
    '',
    `- PushToACR vs a monolithic \`curl -T\` PUT of the model blob alone: ${vsCurl.toFixed(2)}x its time (target at most 1.15x): ${vsCurl <= 1.15 ? 'met' : 'NOT met'}; with the previous 64 MiB chunks: ${(old64.seconds / curl.seconds).toFixed(2)}x`,
    `- PushToACR with the model layer deferred vs \`curl -T\` of the same blob: ${dVsCurl.toFixed(2)}x (target at most 1.15x): ${dVsCurl <= 1.15 ? 'met' : 'NOT met'}; the written blob: ${(dWritten.seconds / dCurl.seconds).toFixed(2)}x`,
    `- agent disk for a bundled model: ${((disk.model + disk.deferred) / disk.model).toFixed(3)}x the model (target at most 1x the model plus the app): ${disk.deferred < 1 * MiB + 0.01 * disk.model ? 'met' : 'NOT met'}`,
    `- PushToACR vs the fastest peer (${fastestPeer.name}): ${ratio.toFixed(2)}x faster (target 1.2x): ${ratio >= 1.2 ? 'met' : 'NOT met'}`,
    `- app-only change: ${appChange.bytes} bytes uploaded = ${(appFraction * 100).toFixed(4)}% of the model's bytes (target under 1%): ${appFraction < 0.01 ? 'met' : 'NOT met'}; exactly the app layer + config + manifest: ${appChange.bytes === appChange.expected ? 'yes' : 'no'}`,
    '',
    ...NOTES,
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
