/**
 * `npm run docs:summary-screenshot`: the four run summaries of a real local
 * run, rendered in headless Chromium, saved as docs/images/run-summary.png.
 *
 * Runs the chain of `npm run demo` (scripts/lib/chain.ts: the built task
 * bundles as the agent runs them, against Azurite, s3rver, Debian's
 * docker-registry and, for DeployToAKS, the fake Kubernetes API server of the
 * tests), takes the summaries the tasks uploaded (##vso task.addattachment
 * type=Distributedtask.Core.Summary), lays them out like a run's Extensions
 * tab (scripts/lib/summary-html.ts) and screenshots the page with Debian's
 * Chromium through playwright-core. The Markdown is written beside the image
 * (docs/images/run-summary.md) so the picture can be checked against it.
 *
 * Needs: docker-registry (PushToACR's target) and /usr/bin/chromium (or
 * CHROMIUM=<path>). No Docker engine: the image is not run here.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium } from 'playwright-core';
import { FakeApiServer } from '../tests/helpers/fake-apiserver';
import { runChain } from './lib/chain';
import { startServices, type Services } from './lib/services';
import { summaryPage } from './lib/summary-html';

const root = resolve(__dirname, '..');
const out = (line: string) => process.stdout.write(`${line}\n`);
const TITLES = ['Model (FetchModel)', 'Image (BundleModelImage)', 'Push (PushToACR)', 'Deployment (DeployToAKS)'];
const executablePath = process.env.CHROMIUM ?? '/usr/bin/chromium';

async function main(): Promise<void> {
  const work = mkdtempSync(join(tmpdir(), 'summary-screenshot-'));
  let services: Services | undefined;
  let api: FakeApiServer | undefined;
  try {
    out('> Starting Azurite, s3rver, docker-registry and a fake Kubernetes API server');
    services = await startServices({ registryAuth: true, docker: false, log: (l) => out(`  ${l}`) });
    if (!services.registry) throw new Error('docker-registry is needed for the PushToACR summary: sudo apt-get install -y docker-registry');
    api = await FakeApiServer.start({ lbIngress: { ip: '10.0.0.42' } });
    const kubeconfigPath = join(work, 'kubeconfig');
    writeFileSync(kubeconfigPath, api.kubeconfig(), { mode: 0o600 });
    out('> Running the four tasks');
    const result = await runChain({
      root,
      workDir: join(work, 'run'),
      baseImageCacheDir: join(tmpdir(), 'model-to-aks-node-base-cache'),
      services,
      kubeconfigPath,
      namespace: 'model-api',
      deployInputs: { statusPollIntervalMs: '200', serviceType: 'LoadBalancer', smokeTestPath: '/version' },
      log: (l) => out(`  ${l}`),
    });
    // One section per task (FetchModel runs twice in the chain, from Azure and from S3: the first is shown).
    const sections = TITLES.map((title) => {
      const s = result.summaries.find((x) => x.title === title);
      if (!s) throw new Error(`no run summary '${title}' was uploaded (got: ${result.summaries.map((x) => x.title).join(', ')})`);
      return s;
    });
    const images = join(root, 'docs', 'images');
    mkdirSync(images, { recursive: true });
    writeFileSync(join(images, 'run-summary.md'), sections.map((s) => `<!-- ${s.title} -->\n\n${s.markdown}`).join('\n'));
    const page = join(work, 'summary.html');
    writeFileSync(page, summaryPage(sections, 'Extensions tab of a run: the summaries the four tasks uploaded (npm run docs:summary-screenshot, a local run)'));
    out(`> Rendering in ${executablePath}`);
    const context = await chromium.launchPersistentContext(join(work, 'chromium-profile'), {
      executablePath,
      headless: true,
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
      viewport: { width: 1200, height: 800 },
      deviceScaleFactor: 1,
    });
    try {
      const tab = context.pages()[0] ?? (await context.newPage());
      await tab.goto(pathToFileURL(page).toString());
      const file = join(images, 'run-summary.png');
      await tab.screenshot({ path: file, fullPage: true });
      out(`Wrote ${file} and ${join(images, 'run-summary.md')}.`);
    } finally {
      await context.close();
    }
  } finally {
    await api?.stop();
    await services?.stop();
    rmSync(work, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  out(`Screenshot failed: ${err instanceof Error ? err.message : String(err)}`);
  process.exitCode = 1;
});
