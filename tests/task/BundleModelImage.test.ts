/**
 * BundleModelImage as the agent runs it (runMock): the real bundle reads
 * inputs, variables and a service connection as on an agent; success outputs
 * and each bad input's one-line failure.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { OciLayout } from '../../shared/oci/layout';
import { Annotation } from '../../shared/oci/types';
import { buildBusyboxBase, busyboxAvailable, type BaseImageInfo } from '../helpers/base-images';
import { startRegistry, type TestRegistry } from '../helpers/registry';
import { ensureBuilt, runMock, type MockRun, type TaskSpec, summaryOf } from './mock-task';
import { requirePrerequisite } from '../helpers/prerequisite';

describe('BundleModelImage task', function () {
  this.timeout(180000);
  let work: string;
  let base: BaseImageInfo;
  let modelSha: string;
  let registry: TestRegistry | undefined;

  before(async function () {
    requirePrerequisite(this, busyboxAvailable(), 'busybox (Debian busybox-static)');
    ensureBuilt('BundleModelImage');
    work = mkdtempSync(join(tmpdir(), 'bundle-task-'));
    base = await buildBusyboxBase(join(work, 'base'), '1');
    mkdirSync(join(work, 'model'));
    const bytes = randomBytes(512 * 1024);
    modelSha = createHash('sha256').update(bytes).digest('hex');
    writeFileSync(join(work, 'model', 'model.onnx'), bytes);
    mkdirSync(join(work, 'app'));
    writeFileSync(join(work, 'app', 'serve.py'), 'print("hi")\n');
    // A git checkout with a known commit time, as Build.SourcesDirectory.
    mkdirSync(join(work, 'src'));
    const git = (...args: string[]) =>
      execFileSync('git', ['-C', join(work, 'src'), ...args], {
        stdio: 'pipe',
        env: {
          ...process.env,
          GIT_COMMITTER_DATE: '2024-03-04T05:06:07+02:00',
          GIT_AUTHOR_DATE: '2024-03-04T05:06:07+02:00',
          GIT_AUTHOR_NAME: 't',
          GIT_AUTHOR_EMAIL: 't@e',
          GIT_COMMITTER_NAME: 't',
          GIT_COMMITTER_EMAIL: 't@e',
        },
      });
    git('init', '-q');
    writeFileSync(join(work, 'src', 'f'), 'x');
    git('add', 'f');
    git('commit', '-q', '-m', 'c');
  });
  after(async () => {
    await registry?.stop();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  const variables = () => ({
    'Build.BuildId': '42',
    'Build.SourcesDirectory': join(work, 'src'),
    'Build.Repository.Uri': 'https://dev.azure.com/org/proj/_git/repo',
    'Build.SourceVersion': 'deadbeef',
    'System.CollectionUri': 'https://dev.azure.com/org/',
    'System.TeamProject': 'proj',
    'Build.ArtifactStagingDirectory': join(work, 'staging'),
  });

  function spec(inputs: TaskSpec['inputs'], extra: Partial<TaskSpec> = {}): TaskSpec {
    return {
      task: 'BundleModelImage',
      inputs: { baseImage: base.spec, modelPath: join(work, 'model'), appDirectory: join(work, 'app'), ...inputs },
      variables: variables(),
      ...extra,
    };
  }

  function assertFailure(r: MockRun, pattern: RegExp): void {
    assert.equal(r.succeeded, false, r.stdout);
    if (process.env.TEST_SHOW_MESSAGES) console.log(`      -> ${r.message}`);
    assert.match(r.message, pattern);
    assert.ok(!r.message.includes('\n') && !/\n\s+at /.test(r.visible), 'one line, no stack trace');
    assert.ok(!r.message.startsWith('Unexpected error'), r.message);
  }

  it('bundles with defaults from pipeline variables and sets the outputs', async () => {
    const r = await runMock(
      spec({
        entrypoint: '["python", "/app/serve.py"]',
        env: 'MODEL_DIR=/models\nLOG_LEVEL=info',
        ports: '8080',
        labels: 'org.example.team=ml',
        modelUri: 's3://models/resnet/3/',
        modelVersion: '3',
        modelSha256: modelSha.toUpperCase(),
        imageName: 'models/resnet',
      }),
    );
    assert.ok(r.succeeded, r.stdout);
    const out = join(work, 'staging', 'image');
    assert.equal(r.outputs.imageLayout, out);
    assert.equal(r.outputs.imageTags, '42');
    assert.match(r.outputs.imageDigest, /^sha256:[0-9a-f]{64}$/);
    assert.match(r.outputs.modelLayerDigest, /^sha256:[0-9a-f]{64}$/);
    assert.ok(r.stdout.includes('media type'), 'layer summary table');
    const found = await (await OciLayout.open(out)).findManifest('42');
    assert.equal(found.descriptor.digest, r.outputs.imageDigest);
    assert.equal(found.manifest.layers[1].digest, r.outputs.modelLayerDigest);
    assert.equal(found.config.created, '2024-03-04T03:06:07Z', 'created = commit time in UTC');
    const labels = found.config.config?.Labels ?? {};
    assert.equal(labels[Annotation.PipelineRun], 'https://dev.azure.com/org/proj/_build/results?buildId=42');
    assert.equal(labels[Annotation.ModelSha256], modelSha);
    assert.equal(labels['org.example.team'], 'ml');
    assert.equal(found.manifest.annotations?.[Annotation.Revision], 'deadbeef');
    assert.equal(found.manifest.annotations?.[Annotation.Source], 'https://dev.azure.com/org/proj/_git/repo');
    assert.deepEqual(found.config.config?.Entrypoint, ['python', '/app/serve.py']);
    assert.deepEqual(Object.keys(found.config.config?.ExposedPorts ?? {}), ['8080/tcp']);
    const summary = summaryOf(r, 'Image (BundleModelImage)');
    assert.ok(summary.includes(`| **Image digest** | \`${r.outputs.imageDigest}\` |`), summary);
    assert.match(summary, /\| 2 \| \*\*model\*\* ◆ \| resnet `3` at `\/models?` \|/);
    assert.ok(summary.includes('| **Tags** | `42` |'));
    // Same inputs again: same digest.
    const again = await runMock(
      spec({
        entrypoint: '["python", "/app/serve.py"]',
        env: 'MODEL_DIR=/models\nLOG_LEVEL=info',
        ports: '8080',
        labels: 'org.example.team=ml',
        modelUri: 's3://models/resnet/3/',
        modelVersion: '3',
        modelSha256: modelSha,
        imageName: 'models/resnet',
      }),
    );
    assert.equal(again.outputs.imageDigest, r.outputs.imageDigest);
  });

  it('pulls a private base image through a Docker registry service connection (Basic auth)', async () => {
    registry = await startRegistry({ mode: 'htpasswd', users: { puller: 'pa55-word' } });
    execFileSync(
      'skopeo',
      [
        'copy',
        '--insecure-policy',
        '--dest-tls-verify=false',
        '--dest-creds',
        'puller:pa55-word',
        `oci:${base.layoutDir}:${base.tag}`,
        `docker://${registry.host}/base/busybox:1`,
      ],
      { stdio: 'pipe' },
    );
    const endpoint = {
      scheme: 'UsernamePassword',
      parameters: { registry: `http://${registry.host}`, username: 'puller', password: 'pa55-word' },
      data: { registrytype: 'Others' },
    };
    const ok = await runMock(
      spec(
        { baseImage: `${registry.host}/base/busybox:1`, baseRegistryConnection: 'reg', outputPath: join(work, 'out-private') },
        { endpoints: { reg: endpoint } },
      ),
    );
    assert.ok(ok.succeeded, ok.stdout);
    assert.ok(!ok.visible.includes('pa55-word'), 'password never printed');
    const bad = await runMock(
      spec(
        { baseImage: `${registry.host}/base/busybox:1`, baseRegistryConnection: 'reg', outputPath: join(work, 'out-private2') },
        { endpoints: { reg: { ...endpoint, parameters: { ...endpoint.parameters, password: 'wrong' } } } },
      ),
    );
    assertFailure(bad, /denied|unauthori[sz]ed|credentials|rejected|authenticat/i);
  });

  const failures: Array<[string, () => TaskSpec, RegExp]> = [
    ['base image not found (OCI layout)', () => spec({ baseImage: `oci:${join(tmpdir(), 'no-such-layout')}:1` }), /Base image .* was not found.*baseImage/],
    ['base image tag not in the layout', () => spec({ baseImage: `${base.spec.replace(/:1$/, '')}:nope` }), /no image named 'nope'/],
    ['model path missing', () => spec({ modelPath: join(tmpdir(), 'no-such-model') }), /modelPath.*does not exist/],
    ['app directory missing', () => spec({ appDirectory: join(tmpdir(), 'no-such-app') }), /App directory .* does not exist/],
    ['invalid env syntax', () => spec({ env: 'JUSTAWORD' }), /Input 'env' has an invalid line 'JUSTAWORD'/],
    ['invalid ports', () => spec({ ports: '80/http' }), /Input 'ports' must list ports like 8080.*\(got '80\/http'\)/],
    ['invalid labels', () => spec({ labels: 'no equals sign' }), /Input 'labels' has an invalid line/],
    ['invalid platform', () => spec({ platform: 'amd64' }), /Input 'platform' must be os\/architecture/],
    ['invalid modelSha256', () => spec({ modelSha256: 'xyz' }), /modelSha256.*64 hexadecimal/],
    ['invalid compression', () => spec({ compression: 'zstd' }), /Input 'compression' must be one of auto, gzip, none/],
    ['output path not writable', () => spec({ outputPath: join(work, 'a-file', 'image') }), /Output path .* is not writable/],
    ['symlink escaping the app directory', () => spec({ appDirectory: join(work, 'evil-app') }), /Symbolic link .*escape-link.* outside/],
    [
      'malformed .dockerignore pattern',
      () => spec({ appDirectory: join(work, 'bad-ignore-app') }),
      /Exclusion file '.*bad-ignore-app\/\.dockerignore' line 3: pattern '\[a-' is malformed/,
    ],
    [
      'docker mode without an engine',
      () => spec({ mode: 'docker', dockerfile: join(work, 'Dockerfile') }, { env: { DOCKER_HOST: `unix://${join(tmpdir(), 'no-docker-here.sock')}` } }),
      /Docker mode needs a reachable Docker engine/,
    ],
  ];

  describe('fails with one clear line on bad input', () => {
    before(() => {
      writeFileSync(join(work, 'a-file'), 'not a folder');
      mkdirSync(join(work, 'evil-app'), { recursive: true });
      if (!existsSync(join(work, 'evil-app', 'escape-link'))) symlinkSync('../../../../etc/passwd', join(work, 'evil-app', 'escape-link'));
      writeFileSync(join(work, 'Dockerfile'), 'FROM scratch\n');
      mkdirSync(join(work, 'bad-ignore-app'), { recursive: true });
      writeFileSync(join(work, 'bad-ignore-app', 'serve.py'), '');
      writeFileSync(join(work, 'bad-ignore-app', '.dockerignore'), '# secrets\n**.env\n[a-\n');
    });
    for (const [name, make, pattern] of failures) {
      it(name, async () => {
        assertFailure(await runMock(make()), pattern);
      });
    }
  });
});
