#!/usr/bin/env node
// A/B of FetchModel engine variants against the same peers, in ONE run: each
// round runs every variant bundle and every peer once, in turn, against the
// same Azurite and s3rver (optionally through the WAN model), so load from
// the rest of the machine hits them alike. Reports, per tool, the median wall
// seconds, MB/s, client CPU seconds per GiB (user+sys from /usr/bin/time, far
// less sensitive to machine load than wall time) and the max peak RSS, then the
// ratio of each variant to the peers measured in the same rounds. Prints only;
// bench/fetch.mjs writes docs/benchmarks.md.
//
// Usage: node bench/fetch-ab.mjs --variant base=/path/to/FetchModel/index.js --variant new=dist/tasks/FetchModel/index.js
//          [--size-mib 256] [--runs 3] [--only azure|s3] [--wan RATE_MBPS,LATENCY_MS]
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, createReadStream, existsSync, mkdirSync, openSync, readFileSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BlobServiceClient } from '@azure/storage-blob';
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { startShapingProxy } from './lib/shaping-proxy.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const work = join(root, 'bench', '.work', 'fetch-ab');
const args = process.argv.slice(2);
const option = (name, def) => {
  const i = args.indexOf(name);
  return i >= 0 && args[i + 1] !== undefined ? args[i + 1] : def;
};
const variants = args.flatMap((a, i) => (a === '--variant' && args[i + 1] ? [args[i + 1].split(/=(.*)/s).slice(0, 2)] : []));
if (variants.length === 0) variants.push(['current', join(root, 'dist', 'tasks', 'FetchModel', 'index.js')]);
const sizeMiB = Number(option('--size-mib', '256'));
const runs = Number(option('--runs', '3'));
const only = option('--only', '');
const wanSpec = option('--wan', '');
const wan = wanSpec ? { rateMBps: Number(wanSpec.split(',')[0]), latencyMs: Number(wanSpec.split(',')[1] ?? 0) } : undefined;
const MiB = 1024 * 1024;
const ACCOUNT = 'devstoreaccount1';
const KEY = 'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==';
const children = [];
const closers = [];
process.on('exit', () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGTERM');
});

async function freePort() {
  return new Promise((res, rej) => {
    const s = net.createServer();
    s.once('error', rej);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => res(port));
    });
  });
}

async function waitForPort(port) {
  for (let i = 0; i < 600; i++) {
    const ok = await new Promise((r) => {
      const c = net.connect(port, '127.0.0.1', () => (c.destroy(), r(true)));
      c.on('error', () => r(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`nothing listens on ${port}`);
}

function server(argv, dir) {
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  children.push(spawn(process.execPath, argv, { cwd: dir, stdio: 'ignore' }));
}

function source(mib) {
  const file = join(work, `source-${mib}MiB.bin`);
  if (existsSync(file) && existsSync(`${file}.sha256`) && statSync(file).size === mib * MiB) return { file, sha256: readFileSync(`${file}.sha256`, 'utf8') };
  const h = createHash('sha256');
  const fd = openSync(file, 'w');
  for (let i = 0; i < mib; i++) {
    const b = randomBytes(MiB);
    h.update(b);
    writeSync(fd, b);
  }
  closeSync(fd);
  const sha256 = h.digest('hex');
  writeFileSync(`${file}.sha256`, sha256);
  return { file, sha256 };
}

function baseEnv(extra = {}) {
  const env = {};
  for (const [k, v] of Object.entries(process.env)) if (!/^(INPUT_|ENDPOINT_|SECRET_|AWS_|AZURE_STORAGE)/.test(k)) env[k] = v;
  return { ...env, ...extra };
}

/** Run a tool as its own process (asynchronously: the WAN proxy runs in this process's event loop). */
async function measure(label, cmd, argv, env, out, bytes, check) {
  rmSync(out, { recursive: true, force: true });
  const timeFile = join(work, 'time.txt');
  const t0 = process.hrtime.bigint();
  const r = await new Promise((done, fail) => {
    const p = spawn('/usr/bin/time', ['-f', '%M %U %S', '-o', timeFile, cmd, ...argv], { env });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d) => (stdout = (stdout + d).slice(-64 * 1024)));
    p.stderr.on('data', (d) => (stderr = (stderr + d).slice(-64 * 1024)));
    p.on('error', fail);
    p.on('close', (status) => done({ status, stdout, stderr }));
  });
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  if (r.status !== 0) throw new Error(`${label} failed (exit ${r.status}):\n${(r.stdout ?? '').slice(-2000)}\n${(r.stderr ?? '').slice(-2000)}`);
  const [rssKiB, user, sys] = readFileSync(timeFile, 'utf8').trim().split('\n').pop().split(' ').map(Number);
  check?.(r.stdout);
  const file = statSync(out).isDirectory() ? join(out, 'model.bin') : out;
  if (statSync(file).size !== bytes) throw new Error(`${label} wrote ${statSync(file).size} bytes, expected ${bytes}`);
  rmSync(out, { recursive: true, force: true });
  return { seconds, cpu: user + sys, rssMiB: rssKiB / 1024 };
}

async function shaped(port) {
  if (!wan) return port;
  const p = await startShapingProxy({ targetPort: port, ...wan });
  closers.push(p);
  console.log(`  ${p.describe()}`);
  return p.port;
}

function fetchModel(label, bundle, inputs, env, bytes, sha256) {
  const dest = join(work, 'out-fetchmodel');
  const taskEnv = baseEnv({ AGENT_TEMPDIRECTORY: join(work, 'agent-temp'), SYSTEM_DEFAULTWORKINGDIRECTORY: work, ...env });
  for (const [k, v] of Object.entries({ ...inputs, destination: dest })) taskEnv[`INPUT_${k.toUpperCase()}`] = v;
  return measure(label, process.execPath, [bundle], taskEnv, dest, bytes, (stdout) => {
    if (!stdout.includes('task.complete result=Succeeded') || !stdout.includes(sha256)) throw new Error(`${label} did not succeed:\n${stdout.slice(-2000)}`);
  });
}

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

async function round(tools, bytes) {
  const results = tools.map(() => []);
  for (let i = 0; i < runs; i++) {
    for (const [j, t] of tools.entries()) {
      const r = await t.run();
      console.log(
        `  ${t.label} run ${i + 1}: ${(bytes / 1e6 / r.seconds).toFixed(1)} MB/s, ${r.seconds.toFixed(2)} s, CPU ${r.cpu.toFixed(2)} s, RSS ${r.rssMiB.toFixed(0)} MiB`,
      );
      results[j].push(r);
    }
  }
  const gib = bytes / 1024 ** 3;
  return tools.map((t, j) => ({
    label: t.label,
    peer: Boolean(t.peer),
    seconds: median(results[j].map((r) => r.seconds)),
    mbps: bytes / 1e6 / median(results[j].map((r) => r.seconds)),
    cpuPerGiB: median(results[j].map((r) => r.cpu)) / gib,
    rssMiB: Math.max(...results[j].map((r) => r.rssMiB)),
  }));
}

function report(title, rows) {
  console.log(`\n${title}`);
  for (const r of rows)
    console.log(
      `  ${r.label.padEnd(28)} ${r.mbps.toFixed(1).padStart(7)} MB/s ${r.seconds.toFixed(2).padStart(7)} s  CPU ${r.cpuPerGiB.toFixed(2).padStart(6)} s/GiB  RSS ${r.rssMiB.toFixed(0).padStart(4)} MiB`,
    );
  for (const p of rows.filter((r) => r.peer))
    for (const v of rows.filter((r) => !r.peer)) console.log(`  ${v.label} vs ${p.label}: ${(v.mbps / p.mbps).toFixed(2)}x`);
}

async function main() {
  mkdirSync(join(work, 'agent-temp'), { recursive: true });
  const bytes = sizeMiB * MiB;
  const src = source(sizeMiB);
  const key = `models/ab/${sizeMiB}MiB/model.bin`;
  console.log(`${os.cpus().length} CPUs, load ${os.loadavg()[0].toFixed(1)}, ${sizeMiB} MiB, ${runs} rounds${wan ? `, WAN ${wanSpec}` : ''}`);
  if (only !== 's3') {
    const port = await freePort();
    server(
      [
        join(root, 'node_modules/azurite/dist/src/blob/main.js'),
        '--blobHost',
        '127.0.0.1',
        '--blobPort',
        String(port),
        '--skipApiVersionCheck',
        '--disableTelemetry',
        '--silent',
        '--location',
        join(work, 'azurite'),
      ],
      join(work, 'azurite'),
    );
    await waitForPort(port);
    const conn = (p) => `DefaultEndpointsProtocol=http;AccountName=${ACCOUNT};AccountKey=${KEY};BlobEndpoint=http://127.0.0.1:${p}/${ACCOUNT};`;
    const c = BlobServiceClient.fromConnectionString(conn(port)).getContainerClient('models');
    await c.createIfNotExists();
    await c.getBlockBlobClient(key).uploadFile(src.file, { blockSize: 64 * MiB, concurrency: 4 });
    const cs = conn(await shaped(port));
    const inputs = { provider: 'azureBlob', authType: 'connectionString', connectionString: cs, container: 'models', modelPath: key };
    const sdk = join(root, 'bench', '.work', 'ab-sdk-download.mjs');
    writeFileSync(
      sdk,
      "import { BlobServiceClient } from '@azure/storage-blob';\nconst [conn, key, out] = process.argv.slice(2);\n" +
        "await BlobServiceClient.fromConnectionString(conn).getContainerClient('models').getBlobClient(key).downloadToFile(out);\n",
    );
    const tools = variants.map(([label, bundle]) => ({ label, run: () => fetchModel(label, resolve(bundle), inputs, {}, bytes, src.sha256) }));
    const out = join(work, 'out-sdk.bin');
    tools.push({ label: 'SDK downloadToFile', peer: true, run: () => measure('sdk', process.execPath, [sdk, cs, key, out], baseEnv(), out, bytes) });
    report('Azurite', await round(tools, bytes));
  }
  if (only !== 'azure') {
    const port = await freePort();
    server(
      [
        join(root, 'node_modules/s3rver/bin/s3rver.js'),
        '--address',
        '127.0.0.1',
        '--port',
        String(port),
        '--directory',
        join(work, 's3rver'),
        '--silent',
        '--configure-bucket',
        'models',
      ],
      join(work, 's3rver'),
    );
    await waitForPort(port);
    const client = new S3Client({
      endpoint: `http://127.0.0.1:${port}`,
      region: 'us-east-1',
      forcePathStyle: true,
      credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
    });
    await client.send(new PutObjectCommand({ Bucket: 'models', Key: key, Body: createReadStream(src.file), ContentLength: bytes }));
    const endpoint = `http://127.0.0.1:${await shaped(port)}`;
    const awsEnv = { AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: 'S3RVER', AWS_REGION: 'us-east-1', AWS_EC2_METADATA_DISABLED: 'true' };
    const inputs = { provider: 's3', bucket: 'models', s3Endpoint: endpoint, forcePathStyle: 'true', region: 'us-east-1', modelPath: key };
    const tools = variants.map(([label, bundle]) => ({ label, run: () => fetchModel(label, resolve(bundle), inputs, awsEnv, bytes, src.sha256) }));
    const out = join(work, 'out-aws.bin');
    tools.push({
      label: 'aws s3 cp',
      peer: true,
      run: () =>
        measure(
          'aws',
          'aws',
          ['s3', 'cp', `s3://models/${key}`, out, '--endpoint-url', endpoint, '--only-show-errors', '--no-progress'],
          baseEnv(awsEnv),
          out,
          bytes,
        ),
    });
    report('s3rver', await round(tools, bytes));
  }
  for (const p of closers) await p.close();
  console.log(`load at the end: ${os.loadavg()[0].toFixed(1)}`);
}

main().then(
  () => process.exit(0),
  (e) => {
    console.error(e);
    process.exit(1);
  },
);
