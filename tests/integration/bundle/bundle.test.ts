/**
 * BundleModelImage's library against independent real tools: umoci (unpack),
 * skopeo + Debian docker-registry (copy, inspect), a real Docker engine (load,
 * run), and Docker mode with a real `docker build`. Base images are built
 * locally from busybox-static; nothing comes from the internet.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { bundleImage, type BundleOptions } from '../../../shared/oci/bundle';
import { bundleWithDocker } from '../../../shared/oci/docker-build';
import { OciLayout } from '../../../shared/oci/layout';
import { pushImage } from '../../../shared/oci/registry/push';
import { Annotation, MediaType, type ImageIndex, type ImageManifest } from '../../../shared/oci/types';
import { buildBusyboxBase, buildMultiPlatformBase, busyboxAvailable, type BaseImageInfo } from '../../helpers/base-images';
import { dockerEngine, unavailableReason } from '../../helpers/docker-engine';
import { startRegistry, type TestRegistry } from '../../helpers/registry';
import { requirePrerequisite } from '../../helpers/prerequisite';

const sha256File = (p: string) => createHash('sha256').update(readFileSync(p)).digest('hex');

function listTree(root: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const n of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, n.name);
      out.push(relative(root, p) + (n.isDirectory() ? '/' : ''));
      if (n.isDirectory()) walk(p);
    }
  };
  walk(root);
  return out.sort();
}

describe('BundleModelImage library with real tools', function () {
  this.timeout(300000);
  let work: string;
  let base: BaseImageInfo;
  let modelSha: string;
  let registry: TestRegistry | undefined;

  function makeInputs(root: string): { model: string; app: string } {
    mkdirSync(join(root, 'model', 'tokenizer'), { recursive: true });
    writeFileSync(join(root, 'model', 'model.bin'), modelBytes);
    writeFileSync(join(root, 'model', 'tokenizer', 'vocab.txt'), 'a\nb\nc\n'.repeat(1000));
    mkdirSync(join(root, 'app', 'lib'), { recursive: true });
    writeFileSync(join(root, 'app', 'serve.sh'), '#!/bin/sh\ncd /models && sha256sum model.bin\n');
    chmodSync(join(root, 'app', 'serve.sh'), 0o755);
    writeFileSync(join(root, 'app', 'lib', 'util.py'), 'X = 1\n');
    writeFileSync(join(root, 'app', 'secret.env'), 'TOKEN=do-not-ship\n');
    writeFileSync(join(root, 'app', '.dockerignore'), '*.env\n.dockerignore\n');
    return { model: join(root, 'model'), app: join(root, 'app') };
  }
  let modelBytes: Buffer;

  before(async function () {
    requirePrerequisite(this, busyboxAvailable(), 'busybox (Debian busybox-static)');
    work = mkdtempSync(join(tmpdir(), 'bundle-it-'));
    base = await buildBusyboxBase(join(work, 'base'), '1');
    modelBytes = randomBytes(6 * 1024 * 1024 + 123);
    modelSha = createHash('sha256').update(modelBytes).digest('hex');
  });
  after(async () => {
    await registry?.stop();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  function options(inputs: { model: string; app: string }, out: string, extra: Partial<BundleOptions> = {}): BundleOptions {
    return {
      baseImage: base.spec,
      model: { path: inputs.model, destination: '/models' },
      app: { directory: inputs.app, destination: '/app' },
      entrypoint: ['/app/serve.sh'],
      env: [['MODEL_DIR', '/models']],
      workingDirectory: '/app',
      user: '65534',
      ports: ['8080/tcp'],
      labels: { 'org.example.team': 'ml' },
      provenance: {
        modelUri: 's3://models/resnet/3/',
        modelVersion: '3',
        modelSha256: modelSha,
        source: 'https://dev.azure.com/o/p/_git/r',
        revision: 'abc123',
        pipelineRunUrl: 'https://dev.azure.com/o/p/_build/results?buildId=7',
      },
      created: '2024-05-06T07:08:09Z',
      imageName: 'models/resnet',
      tags: ['7', 'latest'],
      outputPath: out,
      // These tests hand the layout to other OCI tools (umoci, skopeo, docker load): the complete layout they need.
      writeModelBlob: true,
      ...extra,
    };
  }

  it('umoci unpack yields exactly the expected files, model bytes and runtime config', async () => {
    const inputs = makeInputs(join(work, 'in1'));
    const out = join(work, 'out-umoci');
    const r = await bundleImage(options(inputs, out));
    const bundle = join(work, 'umoci-bundle');
    execFileSync('umoci', ['unpack', '--rootless', '--image', `${out}:7`, bundle], { stdio: 'pipe' });
    const rootfs = join(bundle, 'rootfs');
    const files = listTree(rootfs).filter((p) => !p.startsWith('bin/') && !p.startsWith('etc/') && !p.startsWith('tmp/'));
    assert.deepEqual(files, [
      'app/',
      'app/lib/',
      'app/lib/util.py',
      'app/serve.sh',
      'models/',
      'models/model.bin',
      'models/tokenizer/',
      'models/tokenizer/vocab.txt',
    ]);
    assert.ok(listTree(rootfs).includes('bin/sha256sum'), 'base layer unpacked too');
    assert.equal(sha256File(join(rootfs, 'models', 'model.bin')), modelSha);
    assert.equal(statSync(join(rootfs, 'app', 'serve.sh')).mode & 0o777, 0o755);
    assert.equal(statSync(join(rootfs, 'app', 'lib', 'util.py')).mode & 0o777, 0o644);
    assert.equal(statSync(join(rootfs, 'models', 'model.bin')).mode & 0o777, 0o644);
    const rt = JSON.parse(readFileSync(join(bundle, 'config.json'), 'utf8')) as {
      process: { args: string[]; env: string[]; cwd: string; user: { uid: number } };
    };
    assert.deepEqual(rt.process.args, ['/app/serve.sh']);
    assert.ok(rt.process.env.includes('MODEL_DIR=/models'));
    assert.ok(
      rt.process.env.some((e) => e.startsWith('PATH=')),
      'base env kept',
    );
    assert.equal(rt.process.cwd, '/app');
    assert.equal(rt.process.user.uid, 65534);
    // Layer order: base, model, app; the model layer is the stored-gzip kind (random bytes).
    const layout = await OciLayout.open(out);
    const found = await layout.findManifest('latest');
    assert.equal(found.descriptor.digest, r.manifestDigest);
    assert.equal(found.manifest.layers.length, 3);
    assert.equal(found.manifest.layers[1].digest, r.modelLayerDigest);
    assert.equal(found.manifest.layers[2].digest, r.appLayerDigest);
    assert.equal(r.layers[1].encoding, 'gzip-stored');
    assert.equal(r.layers[2].encoding, 'gzip');
    assert.equal(found.manifest.annotations?.[Annotation.ModelSha256], modelSha);
    assert.equal(found.manifest.annotations?.[Annotation.BaseDigest], base.manifestDigest);
    assert.equal(found.config.config?.Labels?.[Annotation.PipelineRun], 'https://dev.azure.com/o/p/_build/results?buildId=7');
    const index = JSON.parse(readFileSync(join(out, 'index.json'), 'utf8')) as ImageIndex;
    assert.deepEqual(
      index.manifests.map((m) => m.annotations?.[Annotation.RefName]),
      ['7', 'latest'],
    );
  });

  it('is reproducible: twice, from a second copy of the inputs, and app changes leave the model layer alone', async () => {
    const a = makeInputs(join(work, 'copyA'));
    const first = await bundleImage(options(a, join(work, 'rep1')));
    const again = await bundleImage(options(a, join(work, 'rep1')));
    assert.equal(again.manifestDigest, first.manifestDigest);
    // Another checkout: other timestamps and permission bits (group-writable), same content.
    const b = join(work, 'copyB');
    cpSync(join(work, 'copyA'), b, { recursive: true });
    utimesSync(join(b, 'model', 'model.bin'), 1111111111, 1111111111);
    chmodSync(join(b, 'app', 'lib', 'util.py'), 0o664);
    const second = await bundleImage(options({ model: join(b, 'model'), app: join(b, 'app') }, join(work, 'rep2')));
    assert.equal(second.manifestDigest, first.manifestDigest);
    // Only app code changes: same model layer, different app layer and image.
    writeFileSync(join(b, 'app', 'lib', 'util.py'), 'X = 2\n');
    const changed = await bundleImage(options({ model: join(b, 'model'), app: join(b, 'app') }, join(work, 'rep2')));
    assert.equal(changed.modelLayerDigest, first.modelLayerDigest);
    assert.notEqual(changed.appLayerDigest, first.appLayerDigest);
    assert.notEqual(changed.manifestDigest, first.manifestDigest);
    // The output folder holds only the new image (replaced, not merged).
    const blobs = readdirSync(join(work, 'rep2', 'blobs', 'sha256'));
    assert.ok(!blobs.includes(first.appLayerDigest?.slice(7) as string));
    assert.equal(readdirSync(work).filter((n) => n.includes('.partial-')).length, 0);
  });

  it('skopeo copies the layout to a real registry; skopeo inspect shows layers, labels and annotations', async () => {
    const inputs = makeInputs(join(work, 'in-reg'));
    const out = join(work, 'out-reg');
    const r = await bundleImage(options(inputs, out));
    registry = await startRegistry();
    execFileSync('skopeo', ['copy', '--insecure-policy', '--dest-tls-verify=false', `oci:${out}:7`, `docker://${registry.host}/models/resnet:7`], {
      stdio: 'pipe',
    });
    const inspect = JSON.parse(
      execFileSync('skopeo', ['inspect', '--tls-verify=false', `docker://${registry.host}/models/resnet:7`], { encoding: 'utf8' }),
    ) as { Digest: string; Layers: string[]; Labels: Record<string, string> };
    assert.equal(inspect.Digest, r.manifestDigest, 'the registry stores the manifest byte for byte');
    assert.deepEqual(
      inspect.Layers,
      r.layers.map((l) => l.digest),
    );
    assert.equal(inspect.Labels[Annotation.ModelSha256], modelSha);
    assert.equal(inspect.Labels[Annotation.ModelUri], 's3://models/resnet/3/');
    assert.equal(inspect.Labels['org.example.team'], 'ml');
    const raw = JSON.parse(
      execFileSync('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${registry.host}/models/resnet:7`], { encoding: 'utf8' }),
    ) as ImageManifest;
    assert.equal(raw.mediaType, MediaType.OciManifest);
    assert.equal(raw.annotations?.[Annotation.Revision], 'abc123');
    assert.equal(raw.annotations?.[Annotation.Source], 'https://dev.azure.com/o/p/_git/r');
    assert.equal(raw.annotations?.[Annotation.Created], '2024-05-06T07:08:09Z');
    assert.ok(raw.layers.every((l) => l.mediaType === MediaType.OciLayerGzip));
  });

  it('pulls its base from the registry, from a multi-platform index, by tag and by digest', async () => {
    registry ??= await startRegistry();
    const multi = await buildMultiPlatformBase(join(work, 'multi'), 'multi');
    execFileSync(
      'skopeo',
      ['copy', '--all', '--insecure-policy', '--dest-tls-verify=false', `oci:${multi.layoutDir}:multi`, `docker://${registry.host}/base/busybox:multi`],
      { stdio: 'pipe' },
    );
    const inputs = makeInputs(join(work, 'in-pull'));
    const byTag = await bundleImage(options(inputs, join(work, 'out-pull-tag'), { baseImage: `${registry.host}/base/busybox:multi` }));
    assert.equal(byTag.baseDigest, multi.manifests['linux/amd64']);
    const byDigest = await bundleImage(options(inputs, join(work, 'out-pull-digest'), { baseImage: `${registry.host}/base/busybox@${multi.indexDigest}` }));
    assert.equal(byDigest.baseDigest, multi.manifests['linux/amd64']);
    const arm = await bundleImage(
      options(inputs, join(work, 'out-pull-arm'), {
        baseImage: `${registry.host}/base/busybox:multi`,
        platform: { os: 'linux', architecture: 'arm64', variant: 'v8' },
      }),
    );
    assert.equal(arm.baseDigest, multi.manifests['linux/arm64/v8']);
    await assert.rejects(
      bundleImage(
        options(inputs, join(work, 'out-pull-none'), { baseImage: `${registry.host}/base/busybox:multi`, platform: { os: 'linux', architecture: 's390x' } }),
      ),
      /s390x/,
    );
    await assert.rejects(
      bundleImage(options(inputs, join(work, 'out-pull-missing'), { baseImage: `${registry.host}/base/missing:1` })),
      (e: unknown) => e instanceof Error && /not found|does not exist|unknown/i.test(e.message),
    );
  });

  describe('with a real Docker engine', () => {
    before(async function () {
      requirePrerequisite(this, Boolean(await dockerEngine()), `a Docker engine (${unavailableReason()})`);
    });

    it('loads and runs the image: the container prints the model sha256 (OCI via skopeo, Docker schema 2 via a registry pull)', async () => {
      const engine = (await dockerEngine())!;
      const inputs = makeInputs(join(work, 'in-docker'));
      registry ??= await startRegistry();
      for (const imageFormat of ['oci', 'docker'] as const) {
        const out = join(work, `out-run-${imageFormat}`);
        const r = await bundleImage(options(inputs, out, { imageFormat }));
        let name = `bundle/${imageFormat}:7`;
        if (imageFormat === 'oci') {
          engine.loadOciLayout(out, '7', name);
        } else {
          // skopeo's oci: transport only reads OCI-typed manifests; a registry and the engine take Docker schema 2 as is.
          assert.equal(r.manifestMediaType, MediaType.DockerManifest);
          await pushImage({
            layout: await OciLayout.open(out),
            source: '7',
            registry: registry.host,
            repository: 'bundle/docker',
            tags: ['7'],
            insecure: true,
          });
          name = `${registry.host}/bundle/docker:7`;
          engine.docker(['pull', name]);
          const pulledDigest = engine.docker(['image', 'inspect', '--format', '{{index .RepoDigests 0}}', name]).trim();
          assert.ok(pulledDigest.endsWith(r.manifestDigest), pulledDigest);
        }
        const printed = engine.docker(['run', '--rm', '--network', 'none', name]).trim();
        assert.equal(printed, `${modelSha}  model.bin`);
        const user = engine.docker(['run', '--rm', '--network', 'none', '--entrypoint', 'id', name, '-u']).trim();
        assert.equal(user, '65534');
        const labels = JSON.parse(engine.docker(['image', 'inspect', '--format', '{{json .Config.Labels}}', name])) as Record<string, string>;
        assert.equal(labels[Annotation.ModelSha256], modelSha);
      }
    });

    it('Docker mode builds a Dockerfile with the engine and exports an OCI layout skopeo and the engine accept', async () => {
      const engine = (await dockerEngine())!;
      engine.loadOciLayout(base.layoutDir, base.tag, 'local/busybox:1');
      const ctx = join(work, 'docker-ctx');
      mkdirSync(ctx, { recursive: true });
      writeFileSync(
        join(ctx, 'Dockerfile'),
        'FROM local/busybox:1\nARG MODEL_PATH\nCOPY ${MODEL_PATH} /models/model.bin\nRUN echo built > /built.txt\nCMD ["sh", "-c", "cat /built.txt && sha256sum /models/model.bin"]\n',
      );
      writeFileSync(join(work, 'docker-model.bin'), modelBytes);
      const out = join(work, 'out-docker-mode');
      const r = await bundleWithDocker({
        dockerfile: join(ctx, 'Dockerfile'),
        model: { path: join(work, 'docker-model.bin') },
        provenance: { modelSha256: modelSha },
        labels: { 'org.example.team': 'ml' },
        tags: ['d1'],
        outputPath: out,
        env: engine.env,
      });
      assert.ok(r.layers.length >= 3);
      const inspect = JSON.parse(execFileSync('skopeo', ['inspect', `oci:${out}:d1`], { encoding: 'utf8' })) as {
        Digest: string;
        Labels: Record<string, string>;
      };
      assert.equal(inspect.Digest, r.manifestDigest);
      assert.equal(inspect.Labels[Annotation.ModelSha256], modelSha);
      engine.loadOciLayout(out, 'd1', 'bundle/dockermode:d1');
      const printed = engine.docker(['run', '--rm', '--network', 'none', 'bundle/dockermode:d1']).trim().split('\n');
      assert.deepEqual(printed, ['built', `${modelSha}  /models/model.bin`]);
      // The model copy was removed from the build context afterwards.
      assert.deepEqual(readdirSync(ctx), ['Dockerfile']);
    });

    it('Docker mode fails with one clear sentence when no engine is reachable', async () => {
      writeFileSync(join(work, 'Dockerfile.none'), 'FROM scratch\n');
      await assert.rejects(
        bundleWithDocker({
          dockerfile: join(work, 'Dockerfile.none'),
          outputPath: join(work, 'out-none'),
          env: { ...process.env, DOCKER_HOST: `unix://${work}/nothing.sock` },
        }),
        (e: unknown) => e instanceof Error && /needs a reachable Docker engine/.test(e.message) && !e.message.includes('\n'),
      );
    });
  });
});
