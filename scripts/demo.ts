/**
 * `npm run demo`: the whole pipeline on this machine, no Azure subscription
 * and no internet. Starts Azurite, an S3 server, a local registry and a Docker
 * engine (where they can run), publishes two versions of the sample model,
 * and runs the five built task bundles as the agent would, passing output
 * variables from step to step (scripts/lib/chain.ts). Ends with a summary of
 * the chain and stops every service it started, also on failure or Ctrl-C.
 * State lives in .demo/ (gitignored); the Node base image is cached there.
 *
 * Environment: KUBECONFIG (deploy for real instead of renderOnly; the cluster
 * must be able to pull from the local registry), DEMO_VERBOSE=1 (print every
 * line the tasks print), DEMO_SKIP=registry,docker (leave those out).
 */
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Annotation } from '../shared/oci/types';
import { ChainError, runChain, type ChainResult } from './lib/chain';
import { startServices, type Services } from './lib/services';

const root = resolve(__dirname, '..');
const verbose = process.env.DEMO_VERBOSE === '1';
const started = Date.now();
const out = (line = '') => process.stdout.write(`${line}\n`);
const TASKS = ['FetchModel', 'BundleModelImage', 'TestModelImage', 'PushToACR', 'DeployToAKS'];

let services: Services | undefined;
let stopping: Promise<void> | undefined;
function stopAll(): Promise<void> {
  stopping ??= (async () => {
    if (!services) return;
    out('\nStopping the services started by the demo...');
    await services.stop();
    out('All services stopped.');
  })();
  return stopping;
}
// `on`, not `once`: Ctrl-C reaches this process twice (from the terminal and relayed by tsx),
// and a second, unhandled SIGINT would kill it before the services are stopped.
let interrupted = false;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    if (interrupted) return;
    interrupted = true;
    out(`\n${signal}: stopping.`);
    void stopAll().finally(() => process.exit(130));
  });
}

function summary(r: ChainResult, s: Services): void {
  const line = '-'.repeat(78);
  out(`\n${line}\nThe chain`);
  out(`  model      ${r.fetchAzure.modelUri}`);
  out(`             (also resolved from S3: ${r.fetchS3.modelUri})`);
  out(`  version    ${r.fetchAzure.modelVersion}   (published: ${r.models.map((m) => m.version).join(', ')})`);
  out(`  sha256     ${r.fetchAzure.modelSha256}`);
  out(`  image      ${r.bundle.imageDigest}   (layout ${r.bundle.imageLayout})`);
  out(
    `             annotations ${Annotation.ModelVersion}=${r.layoutAnnotations[Annotation.ModelVersion]}, ${Annotation.ModelSha256}=${r.layoutAnnotations[Annotation.ModelSha256]?.slice(0, 16)}...`,
  );
  if (r.test) {
    out(`  tested     passed=${r.test.passed}, ready in ${r.test.readySeconds} s, serving sha256 ${r.test.reportedModelSha256?.slice(0, 16)}...`);
    for (const l of r.testLines ?? []) out(`             ${l}`);
  } else {
    out('  tested     (skipped: no Docker engine)');
  }
  if (r.push) {
    out(`  pushed     ${r.push.imageRef}`);
    out(
      `             tags ${r.push.imageTags}; ${r.push.bytesUploaded} bytes uploaded, ${r.push.bytesSkipped} skipped${r.skopeoDigest ? '; skopeo agrees' : ''}`,
    );
  } else {
    out('  pushed     (skipped: no local registry)');
  }
  if (r.container) {
    out(`  running    /version -> ${JSON.stringify({ modelVersion: r.container.version.modelVersion, modelSha256: r.container.version.modelSha256 })}`);
    out(`             /score   -> ${JSON.stringify(r.container.score.predictions)} (expected ${r.container.expectedPrediction})`);
  } else {
    out('  running    (skipped: no Docker engine)');
  }
  out(
    `  deployment ${r.deployMode === 'renderOnly' ? `rendered only (no KUBECONFIG): ${r.deploy.renderedManifests}` : `revision ${r.deploy.revision}, endpoint ${r.deploy.serviceEndpoint || '(none)'}`}`,
  );
  out(`             image ${r.deploy.deployedImage}`);
  if (r.release) {
    out(`  release    classic release, no image input: ${r.release.rest.deployedImage} (from the build run; the record file agrees without the token)`);
  }
  out(`  model      modelChanged ${r.modelChanged.first} on the first run, ${r.modelChanged.again ?? '?'} on the next scheduled run (same model)`);
  out(line);
  out(`${r.checks.length} checks passed.`);
  // The services' own skips say why and how to enable; the chain's add what else was left out (e.g. the skopeo cross-check).
  const skips = [
    ...s.skipped.map((k) => `${k.what}: ${k.why}. Enable with: ${k.enable}`),
    ...r.skipped.filter((k) => !(s.skipped.length && /docker-registry|docker\.io/.test(k))),
  ];
  if (skips.length) {
    out('Skipped:');
    for (const k of skips) out(`  - ${k}`);
  }
}

async function main(): Promise<number> {
  const missing = TASKS.filter((t) => !existsSync(join(root, 'dist', 'tasks', t, 'index.js')));
  if (missing.length) {
    out(`The task bundles are not built (${missing.join(', ')}): run 'npm run demo' (it builds first) or 'npm run build'.`);
    return 1;
  }
  const demoDir = join(root, '.demo');
  const workDir = join(demoDir, 'run');
  rmSync(workDir, { recursive: true, force: true });
  mkdirSync(workDir, { recursive: true });
  out('Model to AKS: local demo of the five tasks (state in .demo/, services on 127.0.0.1)\n');
  out('> Starting local services');
  const skip = (process.env.DEMO_SKIP ?? '').split(',').map((x) => x.trim());
  services = await startServices({ log: (l) => out(`  ${l}`), stopDocker: true, registry: !skip.includes('registry'), docker: !skip.includes('docker') });
  for (const k of services.skipped) out(`  skipped: ${k.what} (${k.why}). Enable with: ${k.enable}`);
  const kubeconfig = process.env.KUBECONFIG?.split(':')[0];
  if (kubeconfig)
    out(`  KUBECONFIG is set: DeployToAKS applies to ${kubeconfig} (the cluster must be able to pull from ${services.registry?.host ?? 'the registry'}).`);
  else out('  KUBECONFIG is not set: DeployToAKS renders the manifests only (renderOnly).');
  out();
  const result = await runChain({
    root,
    workDir,
    baseImageCacheDir: join(demoDir, 'cache'),
    services,
    kubeconfigPath: kubeconfig,
    interrupted: () => interrupted,
    log: (line) => {
      if (!interrupted) out(line);
    },
    taskOutput: (task, line) => {
      if (interrupted) return;
      if (
        verbose ||
        /^(Resolved |Image manifest|Pushed|Summary|  (model|version|sha256|local):|Rendered |PASS |FAIL |Ready after |The container reports )/.test(line)
      )
        out(`    [${task}] ${line}`);
    },
  });
  if (result.deployMode === 'renderOnly') {
    out('\nRendered manifests (DeployToAKS renderOnly):');
    for (const l of result.renderedYaml.trimEnd().split('\n')) out(`    ${l}`);
  }
  summary(result, services);
  return 0;
}

main()
  .catch((err: unknown) => {
    if (err instanceof ChainError) out(`\nDemo failed at ${err.message}`);
    else out(`\nDemo failed: ${err instanceof Error ? err.message : String(err)}`);
    if (process.env.DEMO_VERBOSE === '1' && err instanceof Error) out(err.stack);
    return 1;
  })
  .then(async (code) => {
    await stopAll();
    out(`Done in ${((Date.now() - started) / 1000).toFixed(1)} s.`);
    process.exit(code);
  });
