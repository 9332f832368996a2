import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { addImagePullSecrets, expandManifestPatterns, parseManifests, substituteImages } from '../../../shared/k8s/manifests';
import type { KubeObject } from '../../../shared/k8s/types';
import { parseReference } from '../../../shared/oci/reference';

const D = `sha256:${'1'.repeat(64)}`;
const OLD = `sha256:${'2'.repeat(64)}`;

function pod(kind: string, containers: Record<string, unknown>): KubeObject {
  const spec = { ...containers };
  switch (kind) {
    case 'Pod':
      return { apiVersion: 'v1', kind, metadata: { name: 'x' }, spec };
    case 'CronJob':
      return { apiVersion: 'batch/v1', kind, metadata: { name: 'x' }, spec: { schedule: '* * * * *', jobTemplate: { spec: { template: { spec } } } } };
    default:
      return { apiVersion: 'apps/v1', kind, metadata: { name: 'x' }, spec: { template: { spec } } };
  }
}

describe('image substitution', () => {
  const target = parseReference(`myacr.azurecr.io:443/models/resnet@${D}`);
  const pinned = `myacr.azurecr.io:443/models/resnet@${D}`;
  const cases: { name: string; kind: string; image: string; list?: string; want: string }[] = [
    { name: 'tag is replaced by the digest', kind: 'Deployment', image: 'myacr.azurecr.io:443/models/resnet:latest', want: pinned },
    { name: 'no tag', kind: 'Deployment', image: 'myacr.azurecr.io:443/models/resnet', want: pinned },
    { name: 'digest-pinned old image', kind: 'Deployment', image: `myacr.azurecr.io:443/models/resnet@${OLD}`, want: pinned },
    { name: 'tag and digest', kind: 'StatefulSet', image: `myacr.azurecr.io:443/models/resnet:1@${OLD}`, want: pinned },
    { name: 'registry host is case-insensitive', kind: 'DaemonSet', image: 'MyAcr.AzureCR.io:443/models/resnet:2', want: pinned },
    { name: 'init container', kind: 'Deployment', list: 'initContainers', image: 'myacr.azurecr.io:443/models/resnet:1', want: pinned },
    { name: 'CronJob job template', kind: 'CronJob', image: 'myacr.azurecr.io:443/models/resnet:1', want: pinned },
    { name: 'bare Pod', kind: 'Pod', image: 'myacr.azurecr.io:443/models/resnet:1', want: pinned },
    { name: 'Job', kind: 'Job', image: 'myacr.azurecr.io:443/models/resnet:1', want: pinned },
    {
      name: 'other port is another registry',
      kind: 'Deployment',
      image: 'myacr.azurecr.io:5000/models/resnet:1',
      want: 'myacr.azurecr.io:5000/models/resnet:1',
    },
    { name: 'no port is another registry', kind: 'Deployment', image: 'myacr.azurecr.io/models/resnet:1', want: 'myacr.azurecr.io/models/resnet:1' },
    {
      name: 'repository prefix does not match',
      kind: 'Deployment',
      image: 'myacr.azurecr.io:443/models/resnet-gpu:1',
      want: 'myacr.azurecr.io:443/models/resnet-gpu:1',
    },
    { name: 'parent repository does not match', kind: 'Deployment', image: 'myacr.azurecr.io:443/models:1', want: 'myacr.azurecr.io:443/models:1' },
    { name: 'Docker Hub image untouched', kind: 'Deployment', image: 'nginx:1.27', want: 'nginx:1.27' },
    { name: 'invalid reference untouched', kind: 'Deployment', image: '${IMAGE}', want: '${IMAGE}' },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const obj = pod(c.kind, {
        [c.list ?? 'containers']: [{ name: 'c', image: c.image }],
        ...(c.list ? { containers: [{ name: 'main', image: 'busybox' }] } : {}),
      });
      const subs = substituteImages([obj], target);
      const spec =
        c.kind === 'Pod'
          ? obj.spec
          : c.kind === 'CronJob'
            ? (obj.spec as { jobTemplate: { spec: { template: { spec: Record<string, unknown> } } } }).jobTemplate.spec.template.spec
            : (obj.spec as { template: { spec: Record<string, unknown> } }).template.spec;
      const container = (spec?.[c.list ?? 'containers'] as { image: string }[])[0];
      assert.equal(container?.image, c.want);
      assert.equal(subs.length, c.want === pinned ? 1 : 0);
    });
  }

  it('several containers: only the matching ones change', () => {
    const obj = pod('Deployment', {
      containers: [
        { name: 'model', image: 'myacr.azurecr.io:443/models/resnet:1' },
        { name: 'sidecar', image: 'myacr.azurecr.io:443/tools/proxy:2' },
        { name: 'model2', image: 'myacr.azurecr.io:443/models/resnet:3' },
      ],
    });
    const subs = substituteImages([obj], target);
    assert.deepEqual(
      subs.map((s) => s.container),
      ['model', 'model2'],
    );
    const cs = (obj.spec as { template: { spec: { containers: { image: string }[] } } }).template.spec.containers;
    assert.deepEqual(
      cs.map((c) => c.image),
      [pinned, 'myacr.azurecr.io:443/tools/proxy:2', pinned],
    );
  });

  it('Docker Hub short names match their canonical form', () => {
    const hub = parseReference(`docker.io/library/nginx@${D}`);
    const obj = pod('Deployment', { containers: [{ name: 'c', image: 'nginx:1.27' }] });
    assert.equal(substituteImages([obj], hub).length, 1);
  });

  it('adds image pull secrets without duplicating existing ones', () => {
    const obj = pod('Deployment', { containers: [{ name: 'c', image: 'x' }], imagePullSecrets: [{ name: 'a' }] });
    addImagePullSecrets([obj], ['a', 'b']);
    assert.deepEqual((obj.spec as { template: { spec: { imagePullSecrets: unknown } } }).template.spec.imagePullSecrets, [{ name: 'a' }, { name: 'b' }]);
  });
});

describe('manifest parsing', () => {
  it('reads multi-document YAML, skips empty documents and flattens Lists', () => {
    const text = `# comment\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n---\n---\napiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: Secret\n  metadata: {name: s}\n`;
    const objs = parseManifests(text, 'app.yaml');
    assert.deepEqual(
      objs.map((o) => `${o.object.kind}/${o.object.metadata?.name}`),
      ['ConfigMap/a', 'Secret/s'],
    );
    assert.equal(objs[0]?.source, 'app.yaml:2');
  });

  it('invalid YAML names the file and line', () => {
    const text = 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n---\napiVersion: v1\nkind: Service\nmetadata:\n  name: b\n   bad: indent\n';
    assert.throws(
      () => parseManifests(text, 'k8s/app.yaml'),
      (err: Error & { input?: string }) => {
        assert.match(err.message, /^Invalid YAML in k8s\/app\.yaml at line 10, column \d+: .+; fix the manifest\.$/);
        assert.equal(err.input, 'manifests');
        return true;
      },
    );
  });

  it('a document without kind names its file and starting line', () => {
    assert.throws(
      () => parseManifests('apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\nfoo: bar\n', 'x.yaml'),
      /The document at x\.yaml:5 is not a Kubernetes object/,
    );
  });

  it('an object without a name is refused', () => {
    assert.throws(
      () => parseManifests('apiVersion: v1\nkind: ConfigMap\nmetadata: {generateName: a-}\n', 'x.yaml'),
      /ConfigMap at x\.yaml:1 has no metadata\.name/,
    );
  });

  it('expands files, folders and globs; a pattern without match is an error', () => {
    const dir = mkdtempSync(join(tmpdir(), 'manifests-'));
    try {
      mkdirSync(join(dir, 'k8s', 'sub'), { recursive: true });
      for (const f of ['k8s/a.yaml', 'k8s/b.yml', 'k8s/sub/c.json', 'k8s/readme.md']) writeFileSync(join(dir, f), '{}');
      assert.deepEqual(expandManifestPatterns(['k8s/*.yaml'], dir), [join(dir, 'k8s/a.yaml')]);
      assert.deepEqual(expandManifestPatterns(['k8s/**/*.{yaml,yml,json}'], dir), [
        join(dir, 'k8s/a.yaml'),
        join(dir, 'k8s/b.yml'),
        join(dir, 'k8s/sub/c.json'),
      ]);
      assert.deepEqual(expandManifestPatterns(['k8s'], dir), [join(dir, 'k8s/a.yaml'), join(dir, 'k8s/b.yml'), join(dir, 'k8s/sub/c.json')]);
      assert.throws(() => expandManifestPatterns(['deploy/*.yaml'], dir), /Pattern 'deploy\/\*\.yaml' given in 'manifests' matches no file/);
      assert.throws(() => expandManifestPatterns(['nope.yaml'], dir), /Manifest 'nope\.yaml' given in 'manifests' does not exist/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
