import assert from 'node:assert/strict';
import { InputError, UserError } from '../../../shared/errors';
import { buildConfig, buildManifest, canonicalJson, convertLayerMediaType, mergeEnv } from '../../../shared/oci/image';
import { parseCommand, parseKeyValues, parsePlatform, parsePorts } from '../../../shared/inputs/parse';
import { parseOciBase } from '../../../shared/oci/bundle';
import { provenanceMetadata } from '../../../shared/oci/provenance';
import { validateTags } from '../../../shared/oci/write-image';
import { Annotation, MediaType, type ImageConfig } from '../../../shared/oci/types';

const base: ImageConfig = {
  architecture: 'amd64',
  os: 'linux',
  config: { Env: ['PATH=/bin', 'LANG=C'], Cmd: ['sh'], ExposedPorts: { '22/tcp': {} }, Labels: { from: 'base' } },
  rootfs: { type: 'layers', diff_ids: ['sha256:' + 'a'.repeat(64)] },
  history: [{ created_by: 'base' }],
};

describe('oci/image', () => {
  it('canonical JSON sorts keys at every level and drops undefined', () => {
    assert.equal(canonicalJson({ b: 1, a: { d: [{ z: 1, y: 2 }], c: undefined } }), '{"a":{"d":[{"y":2,"z":1}]},"b":1}');
  });

  it('builds a config on top of the base: env merged, ports, labels, entrypoint clears base cmd, diff_ids and history appended', () => {
    const cfg = buildConfig(
      base,
      {
        platform: { os: 'linux', architecture: 'amd64' },
        entrypoint: ['/app/serve'],
        env: [
          ['LANG', 'C.UTF-8'],
          ['MODEL_DIR', '/models'],
        ],
        ports: ['8080/tcp'],
        user: '65534',
        workingDirectory: '/app',
        labels: { mine: 'yes' },
        created: '2024-01-02T03:04:05Z',
      },
      [
        { diffId: 'sha256:' + 'b'.repeat(64), createdBy: 'model' },
        { diffId: 'sha256:' + 'c'.repeat(64), createdBy: 'app' },
      ],
    );
    assert.deepEqual(cfg.config?.Env, ['PATH=/bin', 'LANG=C.UTF-8', 'MODEL_DIR=/models']);
    assert.deepEqual(cfg.config?.Entrypoint, ['/app/serve']);
    assert.equal(cfg.config?.Cmd, undefined);
    assert.deepEqual(cfg.config?.ExposedPorts, { '22/tcp': {}, '8080/tcp': {} });
    assert.deepEqual(cfg.config?.Labels, { from: 'base', mine: 'yes' });
    assert.equal(cfg.config?.User, '65534');
    assert.equal(cfg.config?.WorkingDir, '/app');
    assert.equal(cfg.rootfs.diff_ids.length, 3);
    assert.deepEqual(
      cfg.history?.map((h) => h.created_by),
      ['base', 'model', 'app'],
    );
    assert.equal(cfg.created, '2024-01-02T03:04:05Z');
    // cmd without entrypoint keeps base entrypoint semantics
    const cfg2 = buildConfig(base, { platform: { os: 'linux', architecture: 'amd64' }, cmd: ['x'], created: 'c' }, []);
    assert.deepEqual(cfg2.config?.Cmd, ['x']);
  });

  it('refuses a base image of another platform', () => {
    assert.throws(
      () => buildConfig(base, { platform: { os: 'linux', architecture: 'arm64' }, created: 'c' }, []),
      (e: unknown) => e instanceof UserError && e.input === 'platform',
    );
  });

  it('builds OCI or Docker manifests, never mixed, converting base layer media types', () => {
    const layers = [
      { mediaType: MediaType.DockerLayerGzip, digest: 'sha256:' + '1'.repeat(64), size: 1 },
      { mediaType: MediaType.OciLayer, digest: 'sha256:' + '2'.repeat(64), size: 2 },
    ];
    const oci = buildManifest('oci', { mediaType: MediaType.OciConfig, digest: 'sha256:' + '3'.repeat(64), size: 3 }, layers, { k: 'v' });
    assert.equal(oci.mediaType, MediaType.OciManifest);
    assert.equal(oci.config.mediaType, MediaType.OciConfig);
    assert.deepEqual(
      oci.layers.map((l) => l.mediaType),
      [MediaType.OciLayerGzip, MediaType.OciLayer],
    );
    assert.deepEqual(oci.annotations, { k: 'v' });
    const docker = buildManifest('docker', { mediaType: MediaType.DockerConfig, digest: 'sha256:' + '3'.repeat(64), size: 3 }, layers, { k: 'v' });
    assert.equal(docker.mediaType, MediaType.DockerManifest);
    assert.equal(docker.config.mediaType, MediaType.DockerConfig);
    assert.deepEqual(
      docker.layers.map((l) => l.mediaType),
      [MediaType.DockerLayerGzip, MediaType.DockerLayer],
    );
    assert.equal(docker.annotations, undefined);
    assert.throws(() => convertLayerMediaType(MediaType.OciLayerZstd, 'docker'), /zstd/);
    assert.throws(() => convertLayerMediaType('application/x-weird', 'oci'), /unsupported media type/);
  });

  it('parses env and labels lines', () => {
    assert.deepEqual(parseKeyValues(['A=1', 'B=x=y', 'C='], 'env', 'env'), [
      ['A', '1'],
      ['B', 'x=y'],
      ['C', ''],
    ]);
    assert.throws(
      () => parseKeyValues(['NOEQUALS'], 'env', 'env'),
      (e: unknown) => e instanceof InputError && e.input === 'env' && /KEY=VALUE/.test(e.message),
    );
    assert.throws(() => parseKeyValues(['1BAD=x'], 'env', 'env'), InputError);
    assert.throws(
      () => parseKeyValues(['=x'], 'labels', 'labels'),
      (e: unknown) => e instanceof InputError && e.input === 'labels',
    );
    assert.deepEqual(parseKeyValues(['org.example.team=ml'], 'labels', 'labels'), [['org.example.team', 'ml']]);
  });

  it('parses ports', () => {
    assert.deepEqual(parsePorts(['8080', '53/udp, 9090/TCP']), ['53/udp', '8080/tcp', '9090/tcp']);
    assert.throws(
      () => parsePorts(['http']),
      (e: unknown) => e instanceof InputError && e.input === 'ports',
    );
    assert.throws(() => parsePorts(['70000']), InputError);
  });

  it('parses commands as JSON arrays or shell-like strings', () => {
    assert.deepEqual(parseCommand('["python", "-m", "serve"]', 'cmd'), ['python', '-m', 'serve']);
    assert.deepEqual(parseCommand(`python -c 'print(1 + 2)' "a b"`, 'cmd'), ['python', '-c', 'print(1 + 2)', 'a b']);
    assert.equal(parseCommand('  ', 'cmd'), undefined);
    assert.throws(() => parseCommand('[1,2]', 'entrypoint'), InputError);
    assert.throws(() => parseCommand('echo "unclosed', 'cmd'), /unclosed/);
  });

  it('parses platforms, tags and oci: base specs', () => {
    assert.deepEqual(parsePlatform(undefined), { os: 'linux', architecture: 'amd64' });
    assert.deepEqual(parsePlatform('linux/arm64/v8'), { os: 'linux', architecture: 'arm64', variant: 'v8' });
    assert.throws(() => parsePlatform('amd64'), InputError);
    assert.deepEqual(validateTags(['1', ' 1 ', 'latest']), ['1', 'latest']);
    assert.deepEqual(validateTags([]), ['latest']);
    assert.throws(() => validateTags(['bad tag']), InputError);
    assert.deepEqual(parseOciBase('oci:/x/y:1.0'), { path: '/x/y', refName: '1.0' });
    assert.deepEqual(parseOciBase('oci:/x/y'), { path: '/x/y' });
    assert.deepEqual(parseOciBase('oci:./a.b/c'), { path: './a.b/c' });
    assert.deepEqual(parseOciBase('oci:C:\\x\\y'), { path: 'C:\\x\\y' });
  });

  it('records provenance as labels and annotations with the documented keys', () => {
    const { labels, annotations } = provenanceMetadata(
      {
        modelUri: 's3://b/m',
        modelVersion: '3',
        modelSha256: 'AB'.repeat(32),
        source: 'https://git/x',
        revision: 'abc',
        pipelineRunUrl: 'https://dev.azure.com/o/p/_build/results?buildId=1',
      },
      '2024-01-01T00:00:00Z',
      { name: 'oci:/b:1', digest: 'sha256:' + 'f'.repeat(64) },
    );
    assert.equal(annotations[Annotation.ModelSha256], 'ab'.repeat(32));
    assert.equal(annotations[Annotation.ModelUri], 's3://b/m');
    assert.equal(annotations[Annotation.Created], '2024-01-01T00:00:00Z');
    assert.equal(annotations[Annotation.BaseDigest], 'sha256:' + 'f'.repeat(64));
    assert.equal(annotations[Annotation.Revision], 'abc');
    assert.equal(labels[Annotation.PipelineRun], 'https://dev.azure.com/o/p/_build/results?buildId=1');
    assert.equal(annotations[Annotation.PipelineRun], undefined);
    assert.equal(labels[Annotation.ModelVersion], '3');
  });

  it('merges env keeping base order', () => {
    assert.deepEqual(mergeEnv(undefined, []), undefined);
    assert.deepEqual(mergeEnv(['A=1'], [['A', '2']]), ['A=2']);
  });
});
