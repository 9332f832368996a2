#!/usr/bin/env tsx
/**
 * The whole build chain, the seed's way against ours, in one run on the same
 * machine, the same model (N MiB of random bytes in Azurite) and the same
 * loopback registry (Debian docker-registry):
 *
 *   seed: `az storage blob download` (Debian azure-cli) into the build context
 *         -> `docker build` (legacy builder) of the tutorial's Dockerfile
 *            (FROM a local base, ADD . /code/: the model is in the code's layer)
 *         -> `docker push`
 *   ours: FetchModel -> BundleModelImage -> PushToACR, the task bundles run as
 *         the agent runs them (scripts/lib/agent.ts)
 *
 * Rounds, in order, each chain with its own agent folders and repository:
 *   1. first build: empty agent, empty repository;
 *   2. app-only commit, fresh agent: the app changes, the agent's folders (and
 *      for the seed the engine's images and build cache, the base kept) are
 *      emptied, the registry holds the previous image;
 *   3. app-only commit, warm agent: the app changes again, the agent keeps
 *      everything from round 2.
 *
 * Per step: wall seconds, bytes downloaded from the store and uploaded to the
 * registry (counted by a byte-counting TCP proxy in front of each, the same for
 * both chains, so nobody's own report is trusted), and the disk the agent holds
 * after the step (agent folders, plus the Docker engine's data root for the
 * seed, less what the base image took before the round). Both chains read the
 * same base image: loaded into the engine for the seed, an OCI layout for ours;
 * neither is counted. Median of --runs repetitions of the three rounds (each
 * repetition on a fresh registry and an emptied engine). Results are printed
 * and written to docs/benchmarks.md under "## Chain".
 *
 * Ours runs with its defaults plus FetchModel's reuseRegistryConnection and
 * reuseRepository pointing at the registry PushToACR pushes to (the zero-byte
 * path for an app-only commit); --fetch-input reuseLayers=false measures it
 * without.
 *
 * Usage: npm run bench:chain -- [--size-mib 1024] [--runs 1] [--no-doc]
 *          [--fetch-input name=value ...] [--bundle-input name=value ...] [--push-input name=value ...]
 * Needs root (dockerd), docker.io, docker-registry, azure-cli, skopeo.
 */
import { spawn, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, cpSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BlobServiceClient } from '@azure/storage-blob';
import { runTask, type Endpoint } from '../scripts/lib/agent';
import { buildNodeBaseImage } from '../scripts/lib/node-base-image';
import { startAzurite } from '../tests/helpers/azurite';
import { dockerEngine, unavailableReason, type DockerEngine } from '../tests/helpers/docker-engine';
import { startRegistry } from '../tests/helpers/registry';

type StartProxy = (o: { targetPort: number; rateMBps?: number; latencyMs?: number }) => Promise<Proxy>;
interface Proxy {
  host: string;
  port: number;
  stats(): { connections: number; bytesUp: number; bytesDown: number };
  reset(): void;
  close(): Promise<void>;
}

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const work = join(root, 'bench', '.work', 'chain');
const args = process.argv.slice(2);
const flag = (n: string) => args.includes(n);
const option = (n: string, d: string) => {
  const i = args.indexOf(n);
  return i >= 0 && args[i + 1] !== undefined ? (args[i + 1] as string) : d;
};
const many = (n: string): Record<string, string> => {
  const out: Record<string, string> = {};
  args.forEach((a, i) => {
    if (a === n && args[i + 1]) {
      const [k, ...v] = (args[i + 1] as string).split('=');
      out[k as string] = v.join('=');
    }
  });
  return out;
};
const sizeMiB = Number(option('--size-mib', '1024'));
const runs = Number(option('--runs', '1'));
const MiB = 1024 * 1024;
const CONTAINER = 'models';
const BLOB = 'fraud/model.bin';

type Round = 'first build' | 'app-only commit, fresh agent' | 'app-only commit, warm agent';
const ROUNDS: Round[] = ['first build', 'app-only commit, fresh agent', 'app-only commit, warm agent'];
interface Step {
  name: string;
  seconds: number;
  down: number;
  up: number;
  disk: number;
}
type Sample = Record<Round, { seed: Step[]; ours: Step[] }>;

function du(paths: string[]): number {
  let n = 0;
  for (const p of paths) {
    if (!existsSync(p)) continue;
    const r = spawnSync('du', ['-sb', p], { encoding: 'utf8' });
    n += Number(/^(\d+)/.exec(r.stdout)?.[1] ?? 0);
  }
  return n;
}

/** Runs a command without blocking the event loop (the counting proxies live in this process). */
function sh(cmd: string, argv: string[], env: NodeJS.ProcessEnv = process.env): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, argv, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    const keep = (b: Buffer) => (out = (out + b.toString('utf8')).slice(-4000));
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    const timer = setTimeout(() => child.kill('SIGKILL'), 1_800_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      if (code === 0) resolve();
      else reject(new Error(`${cmd} ${argv.slice(0, 3).join(' ')}... failed (${code}): ${out.trim().slice(-1500)}`));
    });
  });
}

function writeRandomFile(path: string, bytes: number): string {
  const fd = openSync(path, 'w');
  const hash = createHash('sha256');
  try {
    for (let left = bytes; left > 0;) {
      const chunk = randomBytes(Math.min(left, 8 * MiB));
      writeSync(fd, chunk);
      hash.update(chunk);
      left -= chunk.length;
    }
  } finally {
    closeSync(fd);
  }
  return hash.digest('hex');
}

/** The app: the sample's server plus a file that changes with every commit. */
function writeApp(dir: string, commit: number): void {
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  cpSync(join(root, 'samples', 'model-api', 'server.js'), join(dir, 'server.js'));
  writeFileSync(join(dir, 'COMMIT'), `commit ${commit}\n`);
}

async function main(): Promise<void> {
  const skip = (why: string) => {
    console.error(`bench:chain cannot run: ${why}`);
    process.exit(2);
  };
  for (const bin of ['az', 'docker-registry', 'skopeo']) if (spawnSync('sh', ['-c', `command -v ${bin}`]).status !== 0) skip(`${bin} is not installed`);
  const engine: DockerEngine | undefined = await dockerEngine();
  if (!engine) return skip(`no Docker engine (${unavailableReason()})`);
  rmSync(work, { recursive: true, force: true });
  mkdirSync(work, { recursive: true });
  // bench/lib is plain ES modules shared with the .mjs benchmarks.
  const { startShapingProxy } = (await import(join(root, 'bench', 'lib', 'shaping-proxy.mjs'))) as { startShapingProxy: StartProxy };

  console.log(`Model: ${sizeMiB} MiB of random bytes`);
  const modelFile = join(work, 'model.bin');
  const modelSha256 = writeRandomFile(modelFile, sizeMiB * MiB);
  const azurite = await startAzurite();
  const store = await startShapingProxy({ targetPort: Number(new URL(azurite.blobEndpoint).port) });
  const blobEndpoint = azurite.blobEndpoint.replace(/127\.0\.0\.1:\d+/, store.host);
  const connectionString = azurite.connectionString.replace(azurite.blobEndpoint, blobEndpoint);
  const service = BlobServiceClient.fromConnectionString(azurite.connectionString);
  await service.getContainerClient(CONTAINER).createIfNotExists();
  await service
    .getContainerClient(CONTAINER)
    .getBlockBlobClient(BLOB)
    .uploadFile(modelFile, { metadata: { sha256: modelSha256 }, blockSize: 8 * MiB, concurrency: 4 });
  rmSync(modelFile);

  const base = await buildNodeBaseImage({ cacheDir: join(root, 'bench', '.work', 'base-cache') });
  const dataRoot = join(engine.dir, 'data');
  const env = { ...engine.env, DOCKER_BUILDKIT: '0' };

  const fetchInputs = many('--fetch-input');
  const bundleInputs = many('--bundle-input');
  const pushInputs = many('--push-input');
  const samples: Sample[] = [];

  for (let run = 0; run < runs; run++) {
    const registry = await startRegistry();
    const reg = await startShapingProxy({ targetPort: Number(registry.host.split(':')[1]) });
    // The seed's engine starts empty but for the base image.
    await sh('docker', ['system', 'prune', '-af'], env);
    engine.loadOciLayout(base.layoutDir, base.tag, 'bench/base:1');
    const sample = {} as Sample;
    const seedAgent = join(work, 'seed-agent');
    const oursAgent = join(work, 'ours-agent');
    rmSync(seedAgent, { recursive: true, force: true });
    rmSync(oursAgent, { recursive: true, force: true });
    try {
      for (const [ri, round] of ROUNDS.entries()) {
        const commit = ri + 1;
        const fresh = round !== 'app-only commit, warm agent';
        console.log(`\n[run ${run + 1}/${runs}] ${round}`);

        // --- the seed ---
        if (fresh) {
          rmSync(seedAgent, { recursive: true, force: true });
          const images = listImages(engine).filter((i) => i !== 'bench/base:1');
          if (images.length > 0) await sh('docker', ['image', 'rm', '-f', ...images], env);
          await sh('docker', ['image', 'prune', '-f'], env);
          await sh('docker', ['builder', 'prune', '-af'], env);
        }
        const seedBaseline = du([dataRoot]);
        const ctx = join(seedAgent, 's');
        mkdirSync(ctx, { recursive: true });
        writeApp(join(seedAgent, 'app'), commit);
        cpSync(join(seedAgent, 'app'), ctx, { recursive: true });
        mkdirSync(join(ctx, 'model'), { recursive: true });
        writeFileSync(join(ctx, 'Dockerfile'), 'FROM bench/base:1\nADD . /code/\nWORKDIR /code\nCMD ["/usr/local/bin/node", "/code/server.js"]\n');
        const seedSteps: Step[] = [];
        const seedStep = async (name: string, fn: () => Promise<void>) => {
          store.reset();
          reg.reset();
          const t = performance.now();
          await fn();
          const seconds = (performance.now() - t) / 1000;
          const disk = du([seedAgent]) + du([dataRoot]) - seedBaseline;
          seedSteps.push({ name, seconds, down: store.stats().bytesDown, up: reg.stats().bytesUp, disk });
          console.log(`  seed ${name}: ${seconds.toFixed(2)} s`);
        };
        const ref = `${reg.host}/seed/app:${commit}`;
        await seedStep('az storage blob download', () =>
          sh(
            'az',
            [
              'storage',
              'blob',
              'download',
              '--connection-string',
              connectionString,
              '-c',
              CONTAINER,
              '-n',
              BLOB,
              '-f',
              join(ctx, 'model', 'model.bin'),
              '--no-progress',
              '--only-show-errors',
              '-o',
              'none',
            ],
            { ...process.env, AZURE_CONFIG_DIR: join(seedAgent, 'azure'), AZURE_CORE_COLLECT_TELEMETRY: 'false' },
          ),
        );
        await seedStep('docker build', () => sh('docker', ['build', '-q', '-t', ref, ctx], env));
        await seedStep('docker push', () => sh('docker', ['push', '-q', ref], env));

        // --- ours ---
        if (fresh) rmSync(oursAgent, { recursive: true, force: true });
        mkdirSync(join(oursAgent, 'tmp'), { recursive: true });
        writeApp(join(oursAgent, 'app'), commit);
        const variables = {
          'Agent.TempDirectory': join(oursAgent, 'tmp'),
          'Build.BuildId': String(commit),
          'Build.ArtifactStagingDirectory': join(oursAgent, 'staging'),
          'Pipeline.Workspace': oursAgent,
          'System.DefaultWorkingDirectory': oursAgent,
        };
        const endpoints: Record<string, Endpoint> = {
          reg: { scheme: 'UsernamePassword', parameters: { registry: reg.host, username: '', password: '' }, data: { registrytype: 'Others' } },
        };
        const oursSteps: Step[] = [];
        let outputs: Record<string, string> = {};
        const oursStep = async (name: string, task: string, inputs: Record<string, string>) => {
          store.reset();
          reg.reset();
          const t = performance.now();
          const r = await runTask({ task, root, inputs, variables, endpoints, env: { AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' } });
          const seconds = (performance.now() - t) / 1000;
          if (r.result !== 'Succeeded' && r.result !== 'SucceededWithIssues')
            throw new Error(`${task} ${r.result}: ${r.message}\n${r.log.slice(-15).join('\n')}`);
          outputs = { ...outputs, ...r.outputs };
          oursSteps.push({ name, seconds, down: store.stats().bytesDown, up: reg.stats().bytesUp, disk: du([oursAgent]) });
          console.log(`  ours ${name}: ${seconds.toFixed(2)} s`);
        };
        await oursStep('FetchModel', 'FetchModel', {
          provider: 'azureBlob',
          authType: 'connectionString',
          connectionString,
          container: CONTAINER,
          modelPath: BLOB,
          destination: join(oursAgent, 'model'),
          requireChecksum: 'true',
          // The zero-byte path (docs/layer-reuse.md): a model layer the registry already holds is not downloaded.
          reuseRegistryConnection: 'reg',
          reuseRepository: 'ours/app',
          ...fetchInputs,
        });
        await oursStep('BundleModelImage', 'BundleModelImage', {
          mode: 'daemonless',
          baseImage: base.spec,
          modelPath: outputs.modelPath ?? '',
          modelDestination: '/models',
          appDirectory: join(oursAgent, 'app'),
          appDestination: '/code',
          cmd: '["/usr/local/bin/node", "/code/server.js"]',
          modelUri: outputs.modelUri ?? '',
          modelVersion: outputs.modelVersion ?? '',
          modelSha256: outputs.modelSha256 ?? '',
          imageName: 'ours/app',
          outputPath: join(oursAgent, 'staging', 'image'),
          ...bundleInputs,
        });
        await oursStep('PushToACR', 'PushToACR', {
          imageLayout: outputs.imageLayout ?? '',
          registryType: 'serviceConnection',
          dockerRegistryConnection: 'reg',
          repository: 'ours/app',
          tags: String(commit),
          ...pushInputs,
        });
        if (outputs.modelSha256 !== modelSha256) throw new Error(`FetchModel's modelSha256 ${outputs.modelSha256} is not the model's ${modelSha256}`);
        sample[round] = { seed: seedSteps, ours: oursSteps };
      }
    } finally {
      await reg.close();
      await registry.stop();
    }
    samples.push(sample);
  }
  await store.close();
  await azurite.stop();
  report(samples);
  rmSync(work, { recursive: true, force: true });
}

function listImages(engine: DockerEngine): string[] {
  return engine
    .docker(['image', 'ls', '--format', '{{.Repository}}:{{.Tag}}'])
    .split('\n')
    .map((s) => s.trim())
    .filter((s) => s && !s.includes('<none>'));
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
const mib = (n: number) => (n / MiB).toFixed(n < MiB ? 2 : 0);

function report(samples: Sample[]): void {
  const cpu = os.cpus();
  const lines = [
    '## Chain',
    '',
    `Written by \`npm run bench:chain\` (bench/chain.ts) on ${new Date().toISOString().slice(0, 10)}: a ${sizeMiB} MiB random-bytes model in Azurite, the seed's chain (\`az storage blob download\` -> \`docker build\` (legacy builder, \`FROM\` a local base, \`ADD . /code/\` with the model in the context) -> \`docker push\`) against ours (FetchModel -> BundleModelImage -> PushToACR, the task bundles run as the agent runs them), to the same loopback registry (Debian docker-registry 2.8). ${runs} repetition(s), median per step. ${cpu.length} cores (${(cpu[0]?.model ?? '').split(' ').slice(0, 2).join(' ')}), ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB RAM, Node ${process.version}; load average at the end ${os.loadavg()[0]?.toFixed(1)} (store, registry, engine and tools share the machine). Bytes are counted by a TCP proxy in front of the store and the registry (down: store to agent; up: agent to registry, requests included). Disk is what the agent holds after the step (agent folders; for the seed also the engine's data root less the base image).`,
    '',
    '| Round | Chain | Step | Seconds | MiB down | MiB up | Agent disk MiB |',
    '| --- | --- | --- | ---: | ---: | ---: | ---: |',
  ];
  const totals: Array<{ round: Round; seed: number; ours: number }> = [];
  for (const round of ROUNDS) {
    const total = { round, seed: 0, ours: 0 };
    for (const chain of ['seed', 'ours'] as const) {
      const names = (samples[0] as Sample)[round][chain].map((s) => s.name);
      let sum = 0;
      names.forEach((name, i) => {
        const pick = (k: keyof Omit<Step, 'name'>) => median(samples.map((s) => (s[round][chain][i] as Step)[k]));
        const seconds = pick('seconds');
        sum += seconds;
        lines.push(`| ${round} | ${chain} | ${name} | ${seconds.toFixed(2)} | ${mib(pick('down'))} | ${mib(pick('up'))} | ${mib(pick('disk'))} |`);
      });
      lines.push(`| ${round} | ${chain} | **total** | **${sum.toFixed(2)}** | | | |`);
      total[chain] = sum;
    }
    totals.push(total);
  }
  const target: Record<Round, number> = { 'first build': 6, 'app-only commit, fresh agent': 30, 'app-only commit, warm agent': 30 };
  lines.push('', 'Ratios (seed total / ours total):', '');
  for (const t of totals) {
    const ratio = t.seed / t.ours;
    lines.push(
      `- ${t.round}: seed ${t.seed.toFixed(1)} s, ours ${t.ours.toFixed(1)} s: ${ratio.toFixed(1)}x (target >= ${target[t.round]}x): ${ratio >= target[t.round] ? 'met' : '**NOT met**'}`,
    );
  }
  const text = lines.join('\n') + '\n';
  console.log(`\n${text}`);
  if (!flag('--no-doc')) {
    const docPath = join(root, 'docs', 'benchmarks.md');
    const doc = existsSync(docPath) ? readFileSync(docPath, 'utf8') : '# Benchmarks\n';
    const re = /## Chain\n[\s\S]*?(?=\n## |$)/;
    const next = re.test(doc) ? doc.replace(re, text) : doc.replace(/^# Benchmarks\n/, `# Benchmarks\n\n${text}`);
    writeFileSync(docPath, next.endsWith('\n') ? next : `${next}\n`);
    console.log(`Updated ${docPath}`);
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err instanceof Error ? err.message : err);
    process.exit(1);
  },
);
