/**
 * End to end: the whole pipeline with the built task bundles run as the agent
 * runs them (scripts/lib/chain.ts, the same code as `npm run demo`), against
 * real local services: Azurite and s3rver hold two versions of the sample
 * model, BundleModelImage builds onto a local Node base image, PushToACR
 * pushes to Debian's docker-registry (Basic auth), a real Docker engine runs
 * the pushed image, and DeployToAKS applies to the fake Kubernetes API server
 * through a kubeconfig file. Each link is asserted here independently of the
 * chain's own checks.
 */
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import tar from 'tar-stream';
import { join } from 'node:path';
import { runTask } from '../../scripts/lib/agent';
import { ensureFreshBundle } from '../../scripts/lib/fresh-bundle';
import { runChain, type ChainResult } from '../../scripts/lib/chain';
import { sampleModel } from '../../scripts/lib/sample-model';
import { onPath, startServices, type Services } from '../../scripts/lib/services';
import { OciLayout } from '../../shared/oci/layout';
import { Annotation } from '../../shared/oci/types';
import { FakeApiServer } from '../helpers/fake-apiserver';
import { freePort } from '../helpers/registry';
import { missingPrerequisite, requirePrerequisite } from '../helpers/prerequisite';

const root = join(__dirname, '..', '..');
const TASKS = ['FetchModel', 'BundleModelImage', 'TestModelImage', 'PushToACR', 'DeployToAKS'];

describe('end to end: FetchModel -> BundleModelImage -> TestModelImage -> PushToACR -> docker run -> DeployToAKS', function () {
  this.timeout(600_000);
  let services: Services | undefined;
  let apiServer: FakeApiServer | undefined;
  let workDir = '';
  let result: ChainResult;

  before(async function () {
    // Built (when stale) before the services start, so that no link's time includes a build.
    for (const t of TASKS) ensureFreshBundle(t, root);
    workDir = mkdtempSync(join(tmpdir(), 'e2e-pipeline-'));
    services = await startServices({ registryAuth: true });
    apiServer = await FakeApiServer.start();
    const kubeconfigPath = join(workDir, 'kubeconfig');
    writeFileSync(kubeconfigPath, apiServer.kubeconfig(), { mode: 0o600 });
    result = await runChain({
      root,
      workDir: join(workDir, 'run'),
      baseImageCacheDir: join(tmpdir(), 'model-to-aks-node-base-cache'),
      services,
      kubeconfigPath,
      namespace: 'models-e2e',
      deployInputs: { statusPollIntervalMs: '100' },
    });
  });

  after(async () => {
    await apiServer?.stop();
    await services?.stop();
    if (workDir) rmSync(workDir, { recursive: true, force: true });
  });

  const expected = sampleModel('1.1.0');
  // FetchModel's folder digest written out by hand: one "path sha256\n" line for the one file.
  const expectedFolderSha = createHash('sha256')
    .update(`model.json ${createHash('sha256').update(expected.body).digest('hex')}\n`)
    .digest('hex');

  it('FetchModel resolves the newest of two published versions from Azure Blob Storage and from S3', () => {
    assert.equal(result.fetchAzure.modelVersion, '1.1.0');
    assert.equal(result.fetchS3.modelVersion, '1.1.0');
    assert.match(result.fetchAzure.modelUri ?? '', /\/devstoreaccount1\/models\/diabetes\/1\.1\.0\/$/);
    assert.equal(result.fetchS3.modelUri, 's3://models/diabetes/1.1.0/');
    assert.equal(result.fetchAzure.modelSha256, expectedFolderSha);
    assert.equal(result.fetchS3.modelSha256, expectedFolderSha);
    assert.deepEqual(readFileSync(join(result.fetchAzure.modelPath as string, 'model.json')), expected.body);
    assert.deepEqual(readFileSync(join(result.fetchS3.modelPath as string, 'model.json')), expected.body);
  });

  it("BundleModelImage's image carries the model uri/version/sha256 as annotations and labels, and holds the model under /models", async () => {
    const layout = await OciLayout.open(result.bundle.imageLayout as string);
    const found = await layout.findManifest('101');
    assert.equal(found.descriptor.digest, result.bundle.imageDigest);
    const a = found.manifest.annotations ?? {};
    assert.equal(a[Annotation.ModelUri], result.fetchAzure.modelUri);
    assert.equal(a[Annotation.ModelVersion], '1.1.0');
    assert.equal(a[Annotation.ModelSha256], result.fetchAzure.modelSha256);
    const labels = found.config.config?.Labels ?? {};
    assert.equal(labels[Annotation.ModelSha256], result.fetchAzure.modelSha256);
    assert.ok(
      found.manifest.layers.some((l) => l.digest === result.bundle.modelLayerDigest),
      'model layer is in the manifest',
    );
    assert.deepEqual(found.config.config?.Cmd, ['/app/server.js']);
    assert.deepEqual(found.config.config?.Entrypoint, ['/usr/local/bin/node']);
    // The model layer holds exactly the fetched bytes at /models/model.json.
    const files = new Map<string, Buffer>();
    const extract = tar.extract();
    extract.on('entry', (header, stream, next) => {
      const chunks: Buffer[] = [];
      stream.on('data', (c: unknown) => {
        chunks.push(c as Buffer);
      });
      stream.on('end', () => {
        if (header.type === 'file') files.set(header.name, Buffer.concat(chunks));
        next();
      });
    });
    await pipeline(Readable.from(layout.openBlob(result.bundle.modelLayerDigest as string)), createGunzip(), extract);
    assert.deepEqual([...files.keys()], ['models/model.json']);
    assert.deepEqual(files.get('models/model.json'), expected.body);
  });

  it('TestModelImage runs the layout in the Docker engine before the push: every check passes, the fetched model is served', function () {
    requirePrerequisite(this, Boolean(services?.docker), 'a Docker engine (root and Debian docker.io)');
    const test = result.test as Record<string, string>;
    assert.equal(test.passed, 'true');
    assert.equal(test.reportedModelSha256, expectedFolderSha);
    assert.equal(test.reportedModelVersion, '1.1.0');
    assert.deepEqual(
      (JSON.parse(test.checkResults as string) as Array<{ name: string; passed: boolean }>).map((c) => [c.name, c.passed]),
      [
        ['health', true],
        ['model identity', true],
        ['prediction', true],
        ['malformed input is refused', true],
      ],
    );
  });

  it('PushToACR reports the digest the registry and skopeo see, and the pushed manifest keeps the annotations', function () {
    requirePrerequisite(this, Boolean(services?.registry), 'docker-registry (Debian docker-registry)');
    const push = result.push as Record<string, string>;
    assert.equal(push.imageDigest, result.bundle.imageDigest);
    assert.equal(push.imageRef, `${services?.registry?.host}/samples/model-api@${result.bundle.imageDigest}`);
    assert.deepEqual(push.imageTags?.split(',').sort(), ['101', 'latest', 'model-1.1.0']);
    assert.equal(result.registryDigest, push.imageDigest);
    assert.equal(result.registryAnnotations?.[Annotation.ModelSha256], result.fetchAzure.modelSha256);
    assert.equal(result.registryAnnotations?.[Annotation.ModelVersion], '1.1.0');
    requirePrerequisite(this, onPath('skopeo'), 'skopeo (Debian skopeo)');
    // Asked here again, independently of the chain: by tag and by the model version tag.
    const reg = services?.registry;
    for (const tag of ['latest', 'model-1.1.0']) {
      const r = spawnSync(
        'skopeo',
        ['inspect', '--tls-verify=false', '--creds', `${reg?.username}:${reg?.password}`, `docker://${reg?.host}/samples/model-api:${tag}`],
        { encoding: 'utf8' },
      );
      assert.equal(r.status, 0, r.stderr);
      const info = JSON.parse(r.stdout) as { Digest: string; Labels: Record<string, string> };
      assert.equal(info.Digest, push.imageDigest);
      assert.equal(info.Labels[Annotation.ModelVersion], '1.1.0');
    }
    assert.equal(result.skopeoDigest, push.imageDigest);
  });

  it("the running container's /version serves FetchModel's version and sha256, and /score uses those weights", function () {
    requirePrerequisite(
      this,
      Boolean(services?.docker && services.registry),
      'a Docker engine and docker-registry (Debian docker.io, docker-registry; as root)',
    );
    const c = result.container;
    assert.ok(c, 'the container ran');
    assert.equal(c.version.modelSha256, result.fetchAzure.modelSha256);
    assert.equal(c.version.modelVersion, result.fetchAzure.modelVersion);
    assert.equal(c.version.modelUri, result.fetchAzure.modelUri);
    assert.equal(c.version.modelKind, 'folder');
    assert.equal(c.score.predictions[0], c.expectedPrediction);
    // The older version's weights would give another answer: the prediction identifies the model.
    const older = sampleModel('1.0.0');
    const row = [0.03, 0.06, 0.02, 0.02];
    let y = older.intercept;
    row.forEach((v, i) => (y += (older.coefficients[i] as number) * v));
    assert.notEqual(Math.round(y * 1e6) / 1e6, c.score.predictions[0]);
  });

  it("Docker mode: the sample Dockerfile builds an image whose /version serves FetchModel's sha256", async function () {
    const engine = services?.docker;
    if (!engine || !onPath('skopeo')) missingPrerequisite(this, 'a Docker engine and skopeo (Debian docker.io, skopeo; as root)');
    // The app folder is copied: Docker mode writes the model into the build context (.bundle-model/).
    const context = join(workDir, 'docker-app');
    cpSync(join(root, 'samples', 'model-api'), context, { recursive: true });
    engine.loadOciLayout(result.base.layoutDir, result.base.tag, 'e2e/node-base:1');
    mkdirSync(join(workDir, 'agent-temp-docker'), { recursive: true });
    const run = await runTask({
      task: 'BundleModelImage',
      root,
      inputs: {
        mode: 'docker',
        dockerfile: join(context, 'Dockerfile'),
        buildContext: context,
        buildArgs: `BASE_IMAGE=e2e/node-base:1\nMODEL_VERSION=${result.fetchAzure.modelVersion}`,
        modelPath: result.fetchAzure.modelPath,
        modelUri: result.fetchAzure.modelUri,
        modelVersion: result.fetchAzure.modelVersion,
        modelSha256: result.fetchAzure.modelSha256,
        tags: 'docker-mode',
        outputPath: join(workDir, 'docker-image'),
      },
      variables: { 'Agent.TempDirectory': join(workDir, 'agent-temp-docker') },
      env: { DOCKER_HOST: engine.host, DOCKER_BUILDKIT: '0' },
    });
    assert.equal(run.result, 'Succeeded', `${run.message}\n${run.log.slice(-15).join('\n')}`);
    const layout = await OciLayout.open(run.outputs.imageLayout as string);
    const found = await layout.findManifest('docker-mode');
    assert.equal(found.manifest.annotations?.[Annotation.ModelSha256], result.fetchAzure.modelSha256);
    engine.loadOciLayout(run.outputs.imageLayout as string, 'docker-mode', 'e2e/model-api:docker-mode');
    const port = await freePort();
    const id = engine.docker(['run', '-d', '--network', 'host', '-e', `PORT=${port}`, '-e', 'HOST=127.0.0.1', 'e2e/model-api:docker-mode']).trim();
    try {
      let version: Record<string, unknown> | undefined;
      const deadline = Date.now() + 30_000;
      while (!version) {
        try {
          const res = await fetch(`http://127.0.0.1:${port}/version`);
          if (res.ok) version = (await res.json()) as Record<string, unknown>;
        } catch {
          if (Date.now() > deadline) throw new Error(`the Docker-mode container did not answer: ${engine.docker(['logs', id])}`);
          await new Promise((r) => setTimeout(r, 200));
        }
      }
      assert.equal(version.modelSha256, result.fetchAzure.modelSha256);
      assert.equal(version.modelVersion, result.fetchAzure.modelVersion);
      assert.equal(version.modelKind, 'folder');
    } finally {
      engine.docker(['rm', '-f', id]);
    }
  });

  it('DeployToAKS applies the pushed digest with the model identity to the cluster', () => {
    assert.equal(result.deployMode, 'kubeconfig');
    const image = (result.push?.imageRef ?? result.deploy.deployedImage) as string;
    assert.equal(result.deploy.deployedImage, image);
    assert.ok(result.deploy.revision, 'a revision is reported');
    const dep = apiServer?.get('apps/v1', 'deployments', 'models-e2e', 'model-api') as unknown as {
      metadata: { annotations?: Record<string, string> };
      spec: { template: { metadata: { annotations?: Record<string, string> }; spec: { containers: Array<{ image: string }> } } };
    };
    assert.ok(dep, 'the Deployment exists on the API server');
    assert.equal(dep.spec.template.spec.containers[0]?.image, image);
    const annotations = { ...(dep.metadata.annotations ?? {}), ...(dep.spec.template.metadata.annotations ?? {}) };
    assert.ok(Object.values(annotations).includes(result.fetchAzure.modelSha256 as string), `model sha256 among ${JSON.stringify(annotations)}`);
    assert.ok(apiServer?.get('v1', 'services', 'models-e2e', 'model-api'), 'the Service exists');
    // The run's page under the chain's organization (the fake Azure DevOps server) and project.
    assert.match(annotations['azure-pipelines/runuri'] ?? '', /^https?:\/\/[^/]+\/contoso\/Models\/_build\/results\?buildId=101$/);
  });

  it('each task uploads its run summary, and they read as one chain: model -> image -> registry -> deployment', () => {
    const byTitle = (title: string) => result.summaries.find((s) => s.title === title)?.markdown ?? '';
    const sha = (result.fetchAzure.modelSha256 as string).slice(0, 12);
    const digest = (result.bundle.imageDigest as string).replace('sha256:', '').slice(0, 12);
    assert.match(byTitle('Model (FetchModel)'), new RegExp(`\\*\\*model diabetes \`1\\.1\\.0\` \\(\`sha256:${sha}…\`\\)\\*\\*`));
    assert.ok(byTitle('Image (BundleModelImage)').includes(`**image \`sha256:${digest}…\`**`));
    if (result.push) assert.ok(byTitle('Push (PushToACR)').includes(`| **Pinned reference** | \`${result.push.imageRef}\``));
    const deployment = byTitle('Deployment (DeployToAKS)');
    assert.match(deployment, /^### Deployment succeeded: revision \d+/);
    assert.ok(deployment.includes(`sha256:${sha}…`), 'the deployment summary names the model it runs');
  });

  it('a classic release: DeployToAKS with no image input deploys what the build recorded (REST API, else the record file), with the model', function () {
    requirePrerequisite(this, Boolean(services?.registry), 'docker-registry (Debian docker-registry)');
    const release = result.release;
    assert.ok(release, 'the classic release leg ran');
    assert.equal(release.rest.deployedImage, result.push?.imageRef);
    assert.equal(release.file.deployedImage, result.push?.imageRef);
  });

  it('FetchModel: modelChanged true on the first run, false on the next run of the pipeline with the same model', () => {
    assert.deepEqual(result.modelChanged, { first: 'true', again: 'false' });
  });
});
