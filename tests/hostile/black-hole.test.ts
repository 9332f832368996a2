/**
 * The real task bundles against a black hole: an endpoint that accepts TCP
 * connections and never answers. Each task must fail (or, where the lookup is
 * optional, go on) with ONE line naming the endpoint, within a bound: under
 * 120 s with the default limits, a few seconds with a lowered networkTimeout.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as yaml from 'js-yaml';
import { startBlackHole, type BlackHole } from '../helpers/black-hole';
import { AZURITE_KEY } from '../helpers/azurite';
import { freePort } from '../helpers/net';
import { buildTestImage } from '../integration/registry/fixture';
import { runMock, type MockRun, type TaskSpec } from '../task/mock-task';

/** Error lines the task printed (task.issue type=error) and its final message. */
function errorLines(run: MockRun): string[] {
  return run.stdout.split(/\r?\n/).filter((l) => l.startsWith('##vso[task.issue type=error'));
}

async function timed(spec: TaskSpec): Promise<{ run: MockRun; seconds: number }> {
  const started = Date.now();
  const run = await runMock(spec);
  const seconds = (Date.now() - started) / 1000;
  // The task ran synchronously: let the black hole accept what the kernel queued meanwhile.
  await new Promise((resolve) => setTimeout(resolve, 200));
  console.log(`      ${spec.task}: ${run.succeeded ? 'succeeded' : 'failed'} after ${seconds.toFixed(1)} s: ${run.message}`);
  return { run, seconds };
}

function assertOneLineNaming(run: MockRun, endpoint: string): void {
  assert.equal(run.succeeded, false, run.stdout);
  assert.ok(run.message.includes(endpoint), `the failure does not name ${endpoint}: ${run.message}`);
  assert.ok(!/[\r\n]/.test(run.message), 'the failure is one line');
  assert.equal(errorLines(run).length, 1, `exactly one error line expected:\n${errorLines(run).join('\n')}`);
  assert.ok(!/\n\s+at /.test(run.visible), 'no stack trace without system.debug');
}

describe('hostile: a black-hole endpoint (accepts, never answers)', function () {
  this.timeout(200_000);
  let hole: BlackHole;
  let work: string;

  before(async () => {
    hole = await startBlackHole();
    work = mkdtempSync(join(tmpdir(), 'black-hole-'));
  });
  after(async () => {
    await hole?.stop();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  const blobConnectionString = () =>
    `DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=${AZURITE_KEY};BlobEndpoint=${hole.url}/devstoreaccount1;`;

  it('FetchModel (Blob) fails naming the endpoint in under 120 s with the DEFAULT limits', async function () {
    this.timeout(150_000);
    const before = hole.connections;
    const { run, seconds } = await timed({
      task: 'FetchModel',
      inputs: {
        provider: 'azureBlob',
        authType: 'connectionString',
        connectionString: blobConnectionString(),
        container: 'models',
        modelPath: 'resnet/',
        destination: join(work, 'blob-default'),
      },
    });
    assertOneLineNaming(run, hole.host);
    assert.ok(seconds < 120, `took ${seconds.toFixed(1)} s`);
    assert.ok(hole.connections > before, 'the task did reach the black hole');
  });

  it('FetchModel (Blob) with networkTimeout 2 s fails within seconds, naming the input to raise', async () => {
    const { run, seconds } = await timed({
      task: 'FetchModel',
      inputs: {
        provider: 'azureBlob',
        authType: 'connectionString',
        connectionString: blobConnectionString(),
        container: 'models',
        modelPath: 'resnet/',
        destination: join(work, 'blob-fast'),
        networkTimeout: '2',
      },
    });
    assertOneLineNaming(run, hole.host);
    assert.match(run.message, /networkTimeout/);
    assert.ok(seconds < 30, `took ${seconds.toFixed(1)} s`);
  });

  it('FetchModel (S3) with networkTimeout 2 s fails within seconds naming the endpoint', async () => {
    const { run, seconds } = await timed({
      task: 'FetchModel',
      inputs: { provider: 's3', bucket: 'models', s3Endpoint: hole.url, modelPath: 'resnet/', destination: join(work, 's3-fast'), networkTimeout: '2' },
      env: { AWS_ACCESS_KEY_ID: 'AKIDBLACKHOLE', AWS_SECRET_ACCESS_KEY: 'black-hole-secret', AWS_EC2_METADATA_DISABLED: 'true' },
    });
    assertOneLineNaming(run, hole.host);
    assert.ok(seconds < 30, `took ${seconds.toFixed(1)} s`);
  });

  it('PushToACR with networkTimeout 2 s fails within seconds naming the registry', async () => {
    const image = await buildTestImage(join(work, 'layout'), { modelSize: 1024, base: false });
    const { run, seconds } = await timed({
      task: 'PushToACR',
      inputs: {
        imageLayout: image.layout.dir,
        registryType: 'serviceConnection',
        dockerRegistryConnection: 'hole',
        repository: 'models/scorer',
        tags: '1',
        networkTimeout: '2',
      },
      endpoints: {
        hole: { scheme: 'UsernamePassword', parameters: { registry: hole.url, username: 'u', password: 'black-hole-pw' }, data: { registrytype: 'Others' } },
      },
    });
    assertOneLineNaming(run, hole.host);
    assert.ok(seconds < 30, `took ${seconds.toFixed(1)} s`);
  });

  it('BundleModelImage with networkTimeout 2 s fails within seconds when the base image registry is a black hole', async () => {
    const model = join(work, 'model');
    mkdirSync(model, { recursive: true });
    writeFileSync(join(model, 'model.bin'), 'weights');
    const { run, seconds } = await timed({
      task: 'BundleModelImage',
      inputs: { baseImage: `${hole.host}/base/runtime:1`, modelPath: model, outputPath: join(work, 'image'), networkTimeout: '2' },
    });
    assertOneLineNaming(run, hole.host);
    assert.ok(seconds < 30, `took ${seconds.toFixed(1)} s`);
  });

  it('FetchModel (S3) against a server that drips a byte a second fails at networkDeadline', async function () {
    this.timeout(150_000);
    // In its own process: the task runs synchronously and would block a server in this one.
    const script = `require('http').createServer((q, s) => { s.writeHead(200, { 'Content-Type': 'application/xml' }); const t = setInterval(() => s.write(' '), 1000); s.on('close', () => clearInterval(t)); }).listen(0, '127.0.0.1', function () { console.log(this.address().port); })`;
    const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      const port = await new Promise<number>((resolve) => child.stdout?.once('data', (d: Buffer) => resolve(Number(d.toString().trim()))));
      const { run, seconds } = await timed({
        task: 'FetchModel',
        inputs: {
          provider: 's3',
          bucket: 'models',
          s3Endpoint: `http://127.0.0.1:${port}`,
          modelPath: 'resnet/',
          destination: join(work, 'drip'),
          networkTimeout: '5',
          networkDeadline: '1',
        },
        env: { AWS_ACCESS_KEY_ID: 'AKIDDRIP', AWS_SECRET_ACCESS_KEY: 'drip-secret', AWS_EC2_METADATA_DISABLED: 'true' },
      });
      assert.equal(run.succeeded, false);
      assert.match(run.message, /did not finish within 1 minute \(input 'networkDeadline'\)/);
      assert.equal(errorLines(run).length, 1);
      assert.ok(seconds >= 60 && seconds < 90, `took ${seconds.toFixed(1)} s`);
    } finally {
      child.kill();
    }
  });

  const deploySpec = (inputs: TaskSpec['inputs'], env: Record<string, string> = {}): TaskSpec => ({
    task: 'DeployToAKS',
    inputs: { appName: 'resnet', rolloutTimeoutSeconds: '30', networkTimeout: '2', ...inputs },
    variables: { 'Agent.TempDirectory': work, 'System.DefaultWorkingDirectory': work },
    env,
  });

  it('DeployToAKS with a kubeconfig whose server is the black hole fails within seconds naming it', async () => {
    const closed = await freePort(); // no registry there: the annotation lookup is refused at once
    const kc = join(work, 'kubeconfig.yaml');
    writeFileSync(
      kc,
      yaml.dump({
        apiVersion: 'v1',
        kind: 'Config',
        clusters: [{ name: 'hole', cluster: { server: `https://${hole.host}`, 'insecure-skip-tls-verify': true } }],
        users: [{ name: 'u', user: { token: 'black-hole-token' } }],
        contexts: [{ name: 'hole', context: { cluster: 'hole', user: 'u' } }],
        'current-context': 'hole',
      }),
    );
    const { run, seconds } = await timed(
      deploySpec({ connectionType: 'kubeconfig', kubeconfig: kc, image: `127.0.0.1:${closed}/models/resnet@sha256:${'a'.repeat(64)}` }),
    );
    assertOneLineNaming(run, hole.host);
    assert.ok(seconds < 30, `took ${seconds.toFixed(1)} s`);
  });

  it('DeployToAKS with the ARM endpoint at the black hole fails within seconds naming it', async () => {
    // The connection's URL is its Resource Manager endpoint (as the agent gives it); the token comes
    // from a managed identity endpoint (the Azure SDK's IDENTITY_ENDPOINT/IDENTITY_HEADER) that answers.
    const identity = http.createServer((req, res) => {
      req.resume();
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({
          access_token: 'entra-token',
          expires_on: String(Math.floor(Date.now() / 1000) + 3600),
          resource: 'https://management.azure.com',
          token_type: 'Bearer',
        }),
      );
    });
    await new Promise<void>((resolve) => identity.listen(0, '127.0.0.1', resolve));
    const port = (identity.address() as AddressInfo).port;
    try {
      const { run, seconds } = await timed({
        ...deploySpec(
          {
            connectionType: 'azureResourceManager',
            azureSubscription: 'azure',
            resourceGroup: 'rg',
            kubernetesCluster: 'aks',
            image: `127.0.0.1:1/models/resnet@sha256:${'a'.repeat(64)}`,
          },
          { IDENTITY_ENDPOINT: `http://127.0.0.1:${port}/msi/token`, IDENTITY_HEADER: 'h' },
        ),
        endpoints: {
          azure: {
            scheme: 'ManagedServiceIdentity',
            url: `https://${hole.host}/`,
            parameters: { tenantid: 't' },
            data: { subscriptionid: 'sub-1', environment: 'AzureCloud' },
          },
        },
      });
      assertOneLineNaming(run, hole.host);
      assert.ok(seconds < 30, `took ${seconds.toFixed(1)} s`);
    } finally {
      identity.close();
    }
  });

  it('DeployToAKS (renderOnly) gives up on an image registry that is a black hole and goes on with a warning naming it', async () => {
    const { run, seconds } = await timed(
      deploySpec({
        connectionType: 'kubeconfig',
        kubeconfig: join(work, 'unused.yaml'),
        renderOnly: 'true',
        image: `${hole.host}/models/resnet@sha256:${'a'.repeat(64)}`,
      }),
    );
    assert.ok(run.succeeded, run.stdout);
    const warnings = run.stdout.split(/\r?\n/).filter((l) => l.startsWith('##vso[task.issue type=warning') && l.includes(hole.host));
    assert.equal(warnings.length, 1, run.stdout);
    assert.ok(seconds < 30, `took ${seconds.toFixed(1)} s`);
  });
});
