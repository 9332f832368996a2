#!/usr/bin/env node
// FetchModel download benchmark: a random-bytes object (1 GiB by default) in
// Azurite and in s3rver, each downloaded side by side by
//   - FetchModel: the real task bundle (dist/tasks/FetchModel/index.js) run as
//     the agent runs it, with INPUT_* variables;
//   - from Azurite: `az storage blob download` and the Azure SDK's
//     BlobClient.downloadToFile();
//   - from s3rver: `aws s3 cp`.
// Each tool runs as its own process; wall time (process start to exit) gives
// the throughput, /usr/bin/time gives the peak RSS. The median of --runs runs
// is reported. Results are printed and written to docs/benchmarks.md under the
// "FetchModel" heading (other sections of that file are kept).
//
// Usage: node scripts/build.mjs FetchModel && node bench/fetch.mjs
//          [--size-mib 1024] [--runs 3] [--big] [--only azure|s3] [--no-doc] [--bundle path/index.js]
//          [--input name=value ...] (extra task inputs, for experiments)
//   --big  also downloads a 4 GiB object with FetchModel (both stores) to
//          check the task's peak RSS.
//   --wan RATE_MBPS,LATENCY_MS  every tool reaches the stores through the WAN
//          model (bench/lib/shaping-proxy.mjs: a per-connection rate cap in
//          MB/s and an added one-way latency, in user space); the results go
//          under "## FetchModel (WAN model)" with their own targets. E.g.
//          --wan 25,20: 25 MB/s per connection, 40 ms round trip.
import { spawn, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, createReadStream, existsSync, mkdirSync, openSync, readFileSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BlobServiceClient } from '@azure/storage-blob';
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const work = join(root, 'bench', '.work', 'fetch');
const args = process.argv.slice(2);
const flag = (name) => args.includes(name);
const option = (name, def) => {
  const i = args.indexOf(name);
  return i >= 0 && args[i + 1] !== undefined ? args[i + 1] : def;
};
const sizeMiB = Number(option('--size-mib', '1024'));
const runs = Number(option('--runs', '3'));
const only = option('--only', '');
// Skip the peers (az, SDK, aws): FetchModel only, for experiments.
const skipPeers = flag('--skip-peers');
// The task bundle to run (default: the one `node scripts/build.mjs FetchModel` writes).
const bundlePath = option('--bundle', join(root, 'dist', 'tasks', 'FetchModel', 'index.js'));
const MiB = 1024 * 1024;
const wanSpec = option('--wan', '');
const wan = wanSpec ? { rateMBps: Number(wanSpec.split(',')[0]), latencyMs: Number(wanSpec.split(',')[1] ?? 0) } : undefined;
if (wan && !(wan.rateMBps >= 0 && wan.latencyMs >= 0)) throw new Error(`--wan wants RATE_MBPS,LATENCY_MS (e.g. 25,20), not '${wanSpec}'`);
const heading = wan ? '## FetchModel (WAN model)' : '## FetchModel';
const ACCOUNT = 'devstoreaccount1';
const KEY = 'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==';
const started = [];

function log(m) {
  console.log(m);
}

async function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

async function waitForPort(port, timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise((resolve) => {
      const c = net.connect(port, '127.0.0.1', () => {
        c.destroy();
        resolve(true);
      });
      c.on('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`nothing listens on port ${port}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Start a server process; remember its own PID to stop it. */
function startServer(name, argv, cwd) {
  const proc = spawn(process.execPath, argv, { cwd, stdio: 'ignore' });
  started.push({ name, pid: proc.pid, proc });
  return proc;
}

function stopServers() {
  for (const s of started) {
    if (s.proc.exitCode === null && s.proc.signalCode === null) {
      try {
        process.kill(s.pid, 'SIGTERM');
      } catch {
        // already gone
      }
    }
  }
}
process.on('exit', stopServers);
process.on('SIGINT', () => process.exit(130));

function ensureSource(mib) {
  const file = join(work, `source-${mib}MiB.bin`);
  const shaFile = `${file}.sha256`;
  if (existsSync(file) && existsSync(shaFile) && statSync(file).size === mib * MiB) return { file, sha256: readFileSync(shaFile, 'utf8').trim() };
  log(`Creating ${mib} MiB of random bytes in ${file} ...`);
  const h = createHash('sha256');
  const fd = openSync(file, 'w');
  for (let i = 0; i < mib; i += 4) {
    const b = randomBytes(Math.min(4, mib - i) * MiB);
    h.update(b);
    writeSync(fd, b);
  }
  closeSync(fd);
  const sha256 = h.digest('hex');
  writeFileSync(shaFile, sha256);
  return { file, sha256 };
}

function which(cmd) {
  return spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;
}

/** Run a command as its own process; wall time and peak RSS (KiB from /usr/bin/time). */
function measure(label, cmd, argv, env, outFile, expectBytes) {
  rmSync(outFile, { recursive: true, force: true });
  const timeFile = join(work, 'time.txt');
  const t0 = process.hrtime.bigint();
  const r = spawnSync('/usr/bin/time', ['-f', '%M %U %S', '-o', timeFile, cmd, ...argv], { env, encoding: 'utf8', maxBuffer: 64 * MiB });
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  if (r.status !== 0) {
    throw new Error(`${label} failed (exit ${r.status}):\n${(r.stdout ?? '').slice(-3000)}\n${(r.stderr ?? '').slice(-3000)}`);
  }
  const [rssKiB, user, sys] = readFileSync(timeFile, 'utf8').trim().split('\n').pop().split(' ').map(Number);
  if (!existsSync(outFile)) throw new Error(`${label} wrote no ${outFile}:\n${(r.stdout ?? '').slice(-3000)}\n${(r.stderr ?? '').slice(-2000)}`);
  const size = statSync(outFile).size;
  if (size !== expectBytes) throw new Error(`${label} wrote ${size} bytes, expected ${expectBytes}`);
  return { seconds, rssMiB: rssKiB / 1024, cpuSeconds: user + sys, stdout: r.stdout };
}

function sha256File(file) {
  const r = spawnSync('sha256sum', [file], { encoding: 'utf8' });
  return r.stdout.split(' ')[0];
}

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

/**
 * Run every tool `n` times, round by round (A B C, A B C, ...), so that load
 * from anything else on the machine hits all tools alike; median seconds, max RSS.
 */
function interleave(tools, n, bytes) {
  const results = tools.map(() => []);
  for (let i = 0; i < n; i++) {
    tools.forEach((t, j) => {
      const r = t.run();
      if (t.out) rmSync(t.out, { force: true });
      log(
        `  ${t.label} run ${i + 1}: ${(bytes / 1e6 / r.seconds).toFixed(1)} MB/s, ${r.seconds.toFixed(2)} s, CPU ${r.cpuSeconds.toFixed(2)} s, peak RSS ${r.rssMiB.toFixed(0)} MiB`,
      );
      results[j].push(r);
    });
  }
  return tools.map((t, j) => {
    const rs = results[j];
    const seconds = median(rs.map((r) => r.seconds));
    return {
      label: t.label,
      seconds,
      mbps: bytes / 1e6 / seconds,
      cpuSeconds: median(rs.map((r) => r.cpuSeconds)),
      rssMiB: Math.max(...rs.map((r) => r.rssMiB)),
    };
  });
}

/** Run `fn` `n` times; median seconds, max RSS. */
function repeat(label, n, bytes, fn) {
  const results = [];
  for (let i = 0; i < n; i++) {
    const r = fn();
    log(
      `  ${label} run ${i + 1}: ${(bytes / 1e6 / r.seconds).toFixed(1)} MB/s, ${r.seconds.toFixed(2)} s, CPU ${r.cpuSeconds.toFixed(2)} s, peak RSS ${r.rssMiB.toFixed(0)} MiB`,
    );
    results.push(r);
  }
  const seconds = median(results.map((r) => r.seconds));
  return {
    label,
    seconds,
    mbps: bytes / 1e6 / seconds,
    cpuSeconds: median(results.map((r) => r.cpuSeconds)),
    rssMiB: Math.max(...results.map((r) => r.rssMiB)),
  };
}

function baseEnv() {
  const env = {};
  for (const [k, v] of Object.entries(process.env)) if (!/^(INPUT_|ENDPOINT_|SECRET_|AWS_|AZURE_STORAGE)/.test(k)) env[k] = v;
  return env;
}

// Extra task inputs for experiments, e.g. --input concurrency=4 --input blockSizeMiB=16.
const extraInputs = Object.fromEntries(args.flatMap((a, i) => (a === '--input' && args[i + 1] ? [args[i + 1].split(/=(.*)/s).slice(0, 2)] : [])));

function taskEnv(inputs, extra = {}) {
  mkdirSync(join(work, 'agent-temp'), { recursive: true }); // task-lib writes its vault key there
  const env = { ...baseEnv(), AGENT_TEMPDIRECTORY: join(work, 'agent-temp'), SYSTEM_DEFAULTWORKINGDIRECTORY: work, ...extra };
  for (const [k, v] of Object.entries({ ...inputs, ...extraInputs })) env[`INPUT_${k.toUpperCase()}`] = v;
  return env;
}

function fetchModelRun(label, inputs, extraEnv, bytes, sha256, checkSha) {
  const bundle = bundlePath;
  const dest = join(work, 'out-fetchmodel');
  rmSync(dest, { recursive: true, force: true }); // no cache hit: always a real download
  const name = inputs.modelPath.split('/').pop();
  const r = measure(label, process.execPath, [bundle], taskEnv({ ...inputs, destination: dest }, extraEnv), join(dest, name), bytes);
  if (!r.stdout.includes('task.complete result=Succeeded')) throw new Error(`${label} did not succeed:\n${r.stdout.slice(-3000)}`);
  if (!r.stdout.includes(sha256)) throw new Error(`${label}: modelSha256 not reported as ${sha256}`);
  if (checkSha && sha256File(join(dest, name)) !== sha256) throw new Error(`${label}: downloaded bytes differ`);
  rmSync(dest, { recursive: true, force: true });
  return r;
}

async function startAzurite() {
  const port = await freePort();
  const dir = join(work, 'azurite');
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const main = join(root, 'node_modules', 'azurite', 'dist', 'src', 'blob', 'main.js');
  startServer(
    'azurite',
    [main, '--blobHost', '127.0.0.1', '--blobPort', String(port), '--skipApiVersionCheck', '--disableTelemetry', '--silent', '--location', dir],
    dir,
  );
  await waitForPort(port);
  const endpoint = `http://127.0.0.1:${port}/${ACCOUNT}`;
  return { port, endpoint, connectionString: `DefaultEndpointsProtocol=http;AccountName=${ACCOUNT};AccountKey=${KEY};BlobEndpoint=${endpoint};` };
}

async function startS3rver() {
  const port = await freePort();
  const dir = join(work, 's3rver');
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const bin = join(root, 'node_modules', 's3rver', 'bin', 's3rver.js');
  startServer('s3rver', [bin, '--address', '127.0.0.1', '--port', String(port), '--directory', dir, '--silent', '--configure-bucket', 'models'], dir);
  await waitForPort(port);
  return { port, endpoint: `http://127.0.0.1:${port}` };
}

async function uploadAzure(az, file, key) {
  const container = BlobServiceClient.fromConnectionString(az.connectionString).getContainerClient('models');
  await container.createIfNotExists();
  await container.getBlockBlobClient(key).uploadFile(file, { blockSize: 64 * MiB, concurrency: 4 });
}

function s3Client(s3) {
  return new S3Client({
    endpoint: s3.endpoint,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
}

async function uploadS3(s3, file, key) {
  const size = statSync(file).size;
  await s3Client(s3).send(new PutObjectCommand({ Bucket: 'models', Key: key, Body: createReadStream(file), ContentLength: size }));
}

const proxies = [];
/**
 * The same server seen through the WAN model: every URL points at a shaping
 * proxy in front of it. The proxy runs as its own process (the tools run under
 * spawnSync, which blocks this process's event loop).
 */
async function shaped(server) {
  const port = await freePort();
  const script = join(root, 'bench', 'lib', 'shaping-proxy.mjs');
  const argv = [
    script,
    '--target',
    `127.0.0.1:${server.port}`,
    '--port',
    String(port),
    '--rate-mbps',
    String(wan.rateMBps),
    '--latency-ms',
    String(wan.latencyMs),
  ];
  startServer('shaping-proxy', argv, root);
  await waitForPort(port);
  const describe = `WAN model: ${wan.rateMBps > 0 ? `${wan.rateMBps} MB/s per connection per direction` : 'no rate cap'}, ${wan.latencyMs} ms one-way latency (${2 * wan.latencyMs} ms RTT)`;
  proxies.push({ describe: () => describe });
  log(`  ${describe} in front of 127.0.0.1:${server.port}`);
  const swap = (text) => text.replaceAll(`127.0.0.1:${server.port}`, `127.0.0.1:${port}`);
  const out = { ...server, port, endpoint: swap(server.endpoint) };
  if (server.connectionString) out.connectionString = swap(server.connectionString);
  return out;
}

function machine() {
  const cpu = os.cpus()[0]?.model ?? 'unknown CPU';
  return { nproc: os.cpus().length, cpu, memGiB: (os.totalmem() / 1024 ** 3).toFixed(1), node: process.version, kernel: os.release() };
}

function writeDoc(section) {
  const docPath = join(root, 'docs', 'benchmarks.md');
  mkdirSync(dirname(docPath), { recursive: true });
  let text = existsSync(docPath) ? readFileSync(docPath, 'utf8') : '# Benchmarks\n';
  const start = text.search(new RegExp(`^${heading.replace(/[()]/g, '\\$&')}$`, 'm'));
  if (start >= 0) {
    const rest = text.slice(start + 1);
    const next = rest.search(/^## /m);
    text = text.slice(0, start) + section + (next >= 0 ? `\n${rest.slice(next)}` : '');
  } else {
    text = `${text.trimEnd()}\n\n${section}`;
  }
  writeFileSync(docPath, text.endsWith('\n') ? text : `${text}\n`);
  log(`Results written to ${docPath}`);
}

async function main() {
  if (!existsSync(bundlePath)) throw new Error(`No task bundle at ${bundlePath}: build the task first (node scripts/build.mjs FetchModel).`);
  mkdirSync(work, { recursive: true });
  const bytes = sizeMiB * MiB;
  const src = ensureSource(sizeMiB);
  const key = `models/bench/${sizeMiB}MiB/model.bin`;
  const rows = [];
  const notes = [];
  const m = machine();
  log(`Machine: ${m.nproc} CPUs (${m.cpu}), ${m.memGiB} GiB RAM, Node ${m.node}`);

  let az;
  let s3;
  if (only !== 's3') {
    az = await startAzurite();
    log(`Uploading ${sizeMiB} MiB to Azurite ...`);
    await uploadAzure(az, src.file, key);
    if (wan) az = await shaped(az);
    const azInputs = { provider: 'azureBlob', authType: 'connectionString', connectionString: az.connectionString, container: 'models', modelPath: key };
    const tools = [
      { label: 'FetchModel (Azurite)', run: () => fetchModelRun('FetchModel (Azurite)', azInputs, {}, bytes, src.sha256, true) },
      // Informational: fewer parallel ranges suit a server on the same 2 CPUs.
      {
        label: 'FetchModel concurrency=2 (Azurite)',
        run: () => fetchModelRun('FetchModel concurrency=2 (Azurite)', { ...azInputs, concurrency: '2' }, {}, bytes, src.sha256, true),
      },
    ];
    if (!skipPeers) {
      const sdkScript = join(work, 'sdk-download.mjs');
      // Inside the repository, so the bare import resolves to our node_modules.
      writeFileSync(
        sdkScript,
        "import { BlobServiceClient } from '@azure/storage-blob';\nconst [conn, key, out] = process.argv.slice(2);\n" +
          "await BlobServiceClient.fromConnectionString(conn).getContainerClient('models').getBlobClient(key).downloadToFile(out);\n",
      );
      const sdkOut = join(work, 'out-sdk.bin');
      tools.push({
        label: 'SDK downloadToFile (Azurite)',
        run: () => measure('SDK downloadToFile', process.execPath, [sdkScript, az.connectionString, key, sdkOut], baseEnv(), sdkOut, bytes),
        out: sdkOut,
      });
      if (which('az')) {
        const azOut = join(work, 'out-az.bin');
        tools.push({
          label: 'az storage blob download (Azurite)',
          run: () =>
            measure(
              'az storage blob download',
              'az',
              [
                'storage',
                'blob',
                'download',
                '--connection-string',
                az.connectionString,
                '-c',
                'models',
                '-n',
                key,
                '-f',
                azOut,
                '--only-show-errors',
                '-o',
                'none',
              ],
              { ...baseEnv(), AZURE_CORE_COLLECT_TELEMETRY: 'false' },
              azOut,
              bytes,
            ),
          out: azOut,
        });
      } else {
        notes.push('`az` (Debian azure-cli) is not installed: the az CLI comparison was not run.');
      }
    }
    for (const r of interleave(tools, runs, bytes)) rows.push({ store: 'Azurite', ...r });
  }

  if (only !== 'azure') {
    s3 = await startS3rver();
    log(`Uploading ${sizeMiB} MiB to s3rver ...`);
    await uploadS3(s3, src.file, key);
    if (wan) s3 = await shaped(s3);
    const s3Inputs = { provider: 's3', bucket: 'models', s3Endpoint: s3.endpoint, forcePathStyle: 'true', region: 'us-east-1', modelPath: key };
    const awsEnv = { AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: 'S3RVER', AWS_REGION: 'us-east-1', AWS_EC2_METADATA_DISABLED: 'true' };
    const tools = [
      { label: 'FetchModel (s3rver)', run: () => fetchModelRun('FetchModel (s3rver)', s3Inputs, awsEnv, bytes, src.sha256, true) },
      {
        label: 'FetchModel concurrency=2 (s3rver)',
        run: () => fetchModelRun('FetchModel concurrency=2 (s3rver)', { ...s3Inputs, concurrency: '2' }, awsEnv, bytes, src.sha256, true),
      },
    ];
    if (!skipPeers) {
      if (which('aws')) {
        const awsOut = join(work, 'out-aws.bin');
        tools.push({
          label: 'aws s3 cp (s3rver)',
          run: () =>
            measure(
              'aws s3 cp',
              'aws',
              ['s3', 'cp', `s3://models/${key}`, awsOut, '--endpoint-url', s3.endpoint, '--only-show-errors', '--no-progress'],
              { ...baseEnv(), ...awsEnv },
              awsOut,
              bytes,
            ),
          out: awsOut,
        });
      } else {
        notes.push('`aws` (awscli) is not installed: the aws s3 cp comparison was not run.');
      }
    }
    for (const r of interleave(tools, runs, bytes)) rows.push({ store: 's3rver', ...r });
  }

  const big = [];
  if (flag('--big')) {
    const bigSrc = ensureSource(4096);
    const bigKey = 'models/bench/4096MiB/model.bin';
    if (az) {
      log('Uploading 4 GiB to Azurite ...');
      await uploadAzure(az, bigSrc.file, bigKey);
      const inputs = { provider: 'azureBlob', authType: 'connectionString', connectionString: az.connectionString, container: 'models', modelPath: bigKey };
      big.push({
        store: 'Azurite',
        ...repeat('FetchModel 4 GiB (Azurite)', 1, 4096 * MiB, () => fetchModelRun('FetchModel 4 GiB (Azurite)', inputs, {}, 4096 * MiB, bigSrc.sha256, false)),
      });
    }
    if (s3) {
      log('Uploading 4 GiB to s3rver ...');
      await uploadS3(s3, bigSrc.file, bigKey);
      const inputs = { provider: 's3', bucket: 'models', s3Endpoint: s3.endpoint, forcePathStyle: 'true', region: 'us-east-1', modelPath: bigKey };
      const awsEnv = { AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: 'S3RVER', AWS_REGION: 'us-east-1' };
      big.push({
        store: 's3rver',
        ...repeat('FetchModel 4 GiB (s3rver)', 1, 4096 * MiB, () =>
          fetchModelRun('FetchModel 4 GiB (s3rver)', inputs, awsEnv, 4096 * MiB, bigSrc.sha256, false),
        ),
      });
    }
  }

  // Ratios and targets.
  const find = (store, prefix) => rows.find((r) => r.store === store && r.label.startsWith(prefix));
  const load = os.loadavg()[0].toFixed(1);
  const targets = [];
  const ratio = (store, peer, min) => {
    const a = find(store, 'FetchModel');
    const b = find(store, peer);
    if (!a || !b) return;
    const x = a.mbps / b.mbps;
    targets.push({ text: `FetchModel vs ${peer} (${store}): ${x.toFixed(2)}x (target >= ${min.toFixed(1)}x)`, met: x >= min });
  };
  if (wan) {
    ratio('Azurite', 'SDK downloadToFile', 4.0);
    ratio('s3rver', 'aws s3 cp', 1.3);
  } else {
    ratio('Azurite', 'az storage blob download', 2.0);
    ratio('Azurite', 'SDK downloadToFile', 1.0);
    ratio('s3rver', 'aws s3 cp', 1.0);
  }
  for (const r of [...rows.filter((x) => x.label.startsWith('FetchModel')), ...big]) {
    const variant = r.label.includes('concurrency=2') ? ', concurrency=2' : '';
    targets.push({
      text: `FetchModel peak RSS, ${r.label.includes('4 GiB') ? '4 GiB' : `${sizeMiB} MiB`}${variant} from ${r.store}: ${r.rssMiB.toFixed(0)} MiB (target < 200 MB = 190.7 MiB)`,
      met: r.rssMiB * MiB < 200e6,
    });
  }

  log('');
  log('Results (median of runs; MB = 10^6 bytes):');
  for (const r of [...rows, ...big])
    log(
      `  ${r.label.padEnd(40)} ${r.mbps.toFixed(1).padStart(7)} MB/s  ${r.seconds.toFixed(2).padStart(6)} s  CPU ${r.cpuSeconds.toFixed(2).padStart(6)} s  peak RSS ${r.rssMiB.toFixed(0)} MiB`,
    );
  for (const t of targets) log(`  ${t.met ? 'MET   ' : 'MISSED'} ${t.text}`);
  for (const n of notes) log(`  note: ${n}`);

  if (!flag('--no-doc')) {
    const date = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
    const lines = [
      heading,
      '',
      ...(wan
        ? [
            `Every tool reached the stores through the WAN model (bench/lib/shaping-proxy.mjs): ${proxies[0]?.describe()}.`,
            'It is a model, not a measurement of a cloud: a user-space TCP proxy that caps each connection and adds latency,',
            'as cloud object stores cap a single connection well below what parallel ranges reach; no loss, no congestion control.',
            '',
          ]
        : []),
      `Run: ${date} with \`node bench/fetch.mjs${args.length ? ` ${args.join(' ')}` : ''}\` (\`npm run bench:fetch\`).`,
      `Machine: ${m.nproc} CPUs (${m.cpu}), ${m.memGiB} GiB RAM, Linux ${m.kernel}, Node ${m.node}.`,
      '',
      `Object: ${sizeMiB} MiB of random bytes; servers (Azurite with on-disk storage, s3rver) run on the same machine as the client,`,
      'so client and server share the CPUs. Each tool runs as its own process; time is process start to exit (median of',
      `${runs} runs, the tools taking turns round by round), peak RSS is the maximum resident set size reported by`,
      '/usr/bin/time, client CPU is user+system time of the tool process. FetchModel is the task bundle run',
      'with INPUT_* variables like the agent runs it (defaults: 8 parallel 8 MiB ranges, sha256 computed while downloading,',
      'checked against the published checksum when there is one), into an empty destination (no cache hit).',
      '',
      '| Store | Tool | MB/s | Seconds | Client CPU s | Peak RSS (MiB) |',
      '|---|---|---:|---:|---:|---:|',
      ...[...rows, ...big].map(
        (r) =>
          `| ${r.store} | ${r.label.replace(/ \((Azurite|s3rver)\)$/, '')} | ${r.mbps.toFixed(1)} | ${r.seconds.toFixed(2)} | ${r.cpuSeconds.toFixed(2)} | ${r.rssMiB.toFixed(0)} |`,
      ),
      '',
      'Targets:',
      '',
      ...targets.map((t) => `- ${t.met ? 'Met' : '**MISSED**'}: ${t.text}`),
      ...(notes.length ? ['', ...notes.map((n) => `- Note: ${n}`)] : []),
      '',
      `Load average when the run ended: ${load} on ${m.nproc} CPUs (other work on the machine shares the CPUs with the servers and the`,
      'tools; the rounds are interleaved so that it hits every tool alike, but single runs still vary by up to 2x).',
      'A ratio within about 20% of its target is within run-to-run noise here: treat it as neither clearly met nor missed.',
      '',
      'Reading the numbers: with the server on the same 2 CPUs, throughput tracks the client CPU each tool burns per byte.',
      'FetchModel does more per byte than the peers: it computes sha256 (about 1 s of CPU per GiB; the SDK and `aws s3 cp`',
      'compute no hash of the whole object), and with 8 parallel ranges each socket delivers smaller reads, each passing',
      "through the SDK's stream layers (more chunks, more garbage); compare the `concurrency=2` rows. Against remote",
      'storage (Azure, S3), where one connection is limited by latency rather than CPU, the parallel ranges are what makes',
      'FetchModel fast; on this machine they cost CPU the co-located server needs. Peak RSS stays bounded (1 MiB write',
      'buffer per range, in-order hashing by reading finished blocks back from the page cache) and does not grow with the',
      'object size (compare the 1 GiB and 4 GiB rows).',
      '',
    ];
    writeDoc(lines.join('\n'));
  }
}

main()
  .then(() => {
    stopServers();
    process.exit(0);
  })
  .catch((err) => {
    console.error(err instanceof Error ? err.message : err);
    stopServers();
    process.exit(1);
  });
