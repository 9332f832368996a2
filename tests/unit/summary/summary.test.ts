/**
 * The run summaries' content: what each task shows on the run's Extensions
 * tab, from the results the library returns; values that could break the
 * Markdown (a `|` in a URI, HTML in an error) stay text.
 */
import assert from 'node:assert/strict';
import type { FetchModelResult } from '../../../shared/fetch/fetch-model';
import type { DeployReport } from '../../../shared/k8s/deploy';
import type { PushResult } from '../../../shared/oci/registry/push';
import type { BundleResult } from '../../../shared/oci/write-image';
import { bundleSummary, chainLine, deploySummary, fetchSummary, pushSummary } from '../../../shared/summary';
import { code, text } from '../../../shared/summary/markdown';

const SHA = 'ab'.repeat(32);
const IMG = `sha256:${'cd'.repeat(32)}`;
const CFG = `sha256:${'12'.repeat(32)}`;
const BASE = `sha256:${'34'.repeat(32)}`;
const MODEL = `sha256:${'56'.repeat(32)}`;
const APP = `sha256:${'78'.repeat(32)}`;
const URI = 'https://models.blob.core.windows.net/models/resnet/1.4.0/model.onnx';
const REF = `contoso.azurecr.io/scorer@${IMG}`;

const fetched = (over: Partial<FetchModelResult> = {}): FetchModelResult => ({
  modelPath: '/agent/_work/_temp/model/model.onnx',
  modelUri: URI,
  modelVersion: '1.4.0',
  modelSha256: SHA,
  modelSizeBytes: 512 * 1024 * 1024,
  kind: 'file',
  files: [{ path: 'model.onnx', size: 512 * 1024 * 1024, sha256: SHA }] as unknown as FetchModelResult['files'],
  cached: false,
  verified: true,
  verification: 'sha256 matches the blob metadata sha256',
  reason: 'highest version among 3 (semver)',
  seconds: 4,
  bytesDownloaded: 512 * 1024 * 1024,
  ...over,
});

describe('run summaries', () => {
  it('FetchModel: model, version, sha256, verified how, size, speed, cache miss', () => {
    const md = fetchSummary(fetched());
    assert.match(md, /^### Model model\.onnx `1\.4\.0`/);
    assert.ok(md.includes(`| **Model** | \`${URI}\` |`), md);
    assert.ok(md.includes(`| **sha256** | \`${SHA}\` |`));
    assert.ok(md.includes('| **Verified** | sha256 matches the blob metadata sha256 |'));
    assert.ok(md.includes('| **Size** | 512 MiB in 1 file |'));
    assert.ok(md.includes('| **Download** | 4.0 s, 134.2 MB/s |'), md);
    assert.ok(md.includes('| **Cache** | miss |'));
    assert.ok(md.includes('| **Why this version** | highest version among 3 (semver) |'));
    assert.match(md, /\*\*model model\.onnx `1\.4\.0` \(`sha256:abababababab…`\)\*\* → image → registry → deployment/);
  });

  it('FetchModel: a cache hit says nothing was downloaded; an unverified model says so', () => {
    const hit = fetchSummary(fetched({ cached: true, seconds: 0.2 }));
    assert.ok(hit.includes('| **Cache** | **hit** |'));
    assert.ok(hit.includes('nothing downloaded: the destination already held this version'));
    const unverified = fetchSummary(fetched({ verified: false, verification: 'no checksum published' }));
    assert.match(unverified, /^### Model model\.onnx `1\.4\.0` \(not verified\)/);
    assert.ok(unverified.includes('| **Verified** | **no**: no checksum published |'));
  });

  const bundled: BundleResult = {
    layoutPath: '/agent/_work/1/a/image',
    manifestDigest: IMG,
    manifestSize: 1200,
    manifestMediaType: 'application/vnd.oci.image.manifest.v1+json',
    configDigest: CFG,
    modelLayerDigest: MODEL,
    appLayerDigest: APP,
    baseDigest: BASE,
    tags: ['101', 'latest'],
    layers: [
      { role: 'base', mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: BASE, size: 30 * 1024 * 1024 },
      { role: 'model', mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: MODEL, size: 512 * 1024 * 1024 },
      { role: 'app', mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: APP, size: 4096 },
    ],
  };

  it('BundleModelImage: every layer with its size and what it holds, the model layer marked, the digest', () => {
    const md = bundleSummary(bundled, {
      baseImage: 'python:3.12-slim',
      modelDestination: '/model',
      appDestination: '/app',
      model: { uri: URI, version: '1.4.0', sha256: SHA },
    });
    assert.match(md, /^### Image `sha256:cdcdcdcdcdcd…`/);
    assert.ok(md.includes('| 1 | base | base image `python:3.12-slim` | 30.0 MiB | `sha256:343434343434…` |'), md);
    assert.ok(md.includes('| 2 | **model** ◆ | model.onnx `1.4.0` at `/model` | 512 MiB | `sha256:565656565656…` |'), md);
    assert.ok(md.includes('| 3 | app | the application at `/app` | 4.0 KiB | `sha256:787878787878…` |'));
    assert.ok(md.includes(`| **Image digest** | \`${IMG}\` |`));
    assert.ok(md.includes('| **Tags** | `101`, `latest` |'));
    assert.ok(md.includes('542 MiB in 3 layers'));
    assert.match(md, /model model\.onnx `1\.4\.0` \(`sha256:abababababab…`\) → \*\*image `sha256:cdcdcdcdcdcd…`\*\* → registry → deployment/);
  });

  const pushed: PushResult = {
    digest: IMG,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    size: 1200,
    reference: REF,
    tags: ['101', 'model-1.4.0'],
    bytesUploaded: 512 * 1024 * 1024 + 2000 + 1200,
    bytesSkipped: 30 * 1024 * 1024 + 4096,
    blobs: [
      {
        digest: CFG,
        size: 2000,
        mediaType: 'application/vnd.oci.image.config.v1+json',
        action: 'uploaded',
        seconds: 0.1,
        bytesSent: 2000,
        restarts: 0,
        chunks: 0,
      },
      {
        digest: BASE,
        size: 30 * 1024 * 1024,
        mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip',
        action: 'mounted',
        mountedFrom: 'base/python',
        seconds: 0.2,
        bytesSent: 0,
        restarts: 0,
        chunks: 0,
      },
      {
        digest: MODEL,
        size: 512 * 1024 * 1024,
        mediaType: 'application/vnd.oci.image.layer.v1.tar',
        action: 'uploaded',
        seconds: 8,
        bytesSent: 520 * 1024 * 1024,
        restarts: 1,
        chunks: 9,
      },
      {
        digest: APP,
        size: 4096,
        mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip',
        action: 'skipped',
        seconds: 0.01,
        bytesSent: 0,
        restarts: 0,
        chunks: 0,
      },
    ],
    annotations: { 'io.modeltoaks.model.uri': URI, 'io.modeltoaks.model.version': '1.4.0', 'io.modeltoaks.model.sha256': SHA },
  };

  it('PushToACR: each blob skipped / mounted / uploaded with its bytes, the tags, the pinned reference', () => {
    const md = pushSummary(pushed);
    assert.ok(md.startsWith(`### Pushed \`${REF}\``));
    assert.ok(md.includes('| `sha256:121212121212…` | config | 2.0 KiB | **uploaded** in 0.1 s (20.0 kB/s) | 2.0 KiB |'), md);
    assert.ok(md.includes('| `sha256:343434343434…` | layer | 30.0 MiB | mounted from `base/python` | 0 B |'));
    assert.ok(md.includes('| `sha256:565656565656…` | layer | 512 MiB | **uploaded** in 8.0 s (67.1 MB/s, 1 restart) | 520 MiB |'), md);
    assert.ok(md.includes('| `sha256:787878787878…` | layer | 4.0 KiB | skipped: already in the repository | 0 B |'));
    assert.ok(md.includes('2 uploaded (512 MiB with the manifest), 1 mounted, 1 skipped (30.0 MiB not sent).'), md);
    assert.ok(md.includes(`| **Pinned reference** | \`${REF}\`: what DeployToAKS's \`image\` takes |`));
    assert.ok(md.includes('| **Tags** | `101`, `model-1.4.0` |'));
    assert.match(md, /\*\*registry `contoso\.azurecr\.io\/scorer@sha256:cdcdcdcdcdcd…`\*\* → deployment$/m);
  });

  const report = (over: Partial<DeployReport> = {}): DeployReport => ({
    namespace: 'scoring',
    image: REF,
    model: { uri: URI, version: '1.4.0', sha256: SHA },
    applied: ['Deployment/scorer (namespace scoring)', 'Service/scorer (namespace scoring)'],
    rollout: { ok: true, seconds: 42.3, revision: '3' },
    serviceEndpoint: '10.0.0.42:80',
    smokeTest: { path: '/healthz', status: 200 },
    ...over,
  });
  const run = {
    url: 'https://dev.azure.com/contoso/ML/_build/results?buildId=4711',
    name: '20261201.3',
    environment: { name: 'model-prod', resourceName: 'scoring' },
  };

  it('DeployToAKS: objects applied, revision, rollout result with time, endpoint, smoke test, the run', () => {
    const md = deploySummary(report(), { model: report().model, run });
    assert.match(md, /^### Deployment succeeded: revision 3/);
    assert.ok(md.includes('| **Rollout** | succeeded in 42.3 s |'));
    assert.ok(md.includes('| **Revision** | 3 |'));
    assert.ok(md.includes('| **Endpoint** | `10.0.0.42:80` |'));
    assert.ok(md.includes('| **Namespace** | `scoring` |'));
    assert.ok(md.includes('| **Environment** | `model-prod.scoring` |'));
    assert.ok(md.includes('| **Smoke test** | GET `/healthz`: HTTP 200 |'));
    assert.ok(md.includes(`| **Run** | [20261201.3](${run.url}) |`));
    assert.ok(md.includes('- Deployment/scorer (namespace scoring)\n- Service/scorer (namespace scoring)'));
    assert.ok(!md.includes('Rollback'));
    assert.match(md, /\*\*deployment Deployment\/scorer in scoring\*\*/);
  });

  it('DeployToAKS: a failed rollout that was rolled back says so, with revisions, times and the failure', () => {
    const md = deploySummary(
      report({
        rollout: {
          ok: false,
          seconds: 600,
          failed: 'Deployment/scorer (namespace scoring)',
          reason: 'deployment "scorer" exceeded its progress deadline',
          revision: '4',
        },
        rollback: { fromRevision: '4', toRevision: '3', image: `contoso.azurecr.io/scorer@${BASE}`, ok: true, seconds: 20 },
        serviceEndpoint: undefined,
        smokeTest: undefined,
      }),
      { error: 'Deployment/scorer did not roll out; rolled back to revision 3', run },
    );
    assert.match(md, /^### Deployment failed, rolled back\n/);
    assert.ok(
      md.includes('| **Rollout** | **failed** after 10 min 0 s: Deployment/scorer (namespace scoring) deployment "scorer" exceeded its progress deadline |'),
      md,
    );
    assert.ok(md.includes(`| **Rollback** | from revision 4 to revision 3 (\`contoso.azurecr.io/scorer@${BASE}\`) in 20.0 s: running again |`));
    assert.ok(md.includes('| **Failure** | Deployment/scorer did not roll out; rolled back to revision 3 |'));
  });

  it('the chain line marks the current step and leaves out what this step does not know', () => {
    assert.equal(chainLine({}, 'push'), 'model → image → **registry** → deployment');
  });

  it('values cannot break the Markdown: pipes, line breaks, HTML and backticks stay text', () => {
    assert.equal(text('a|b\n<script>x</script>'), 'a\\|b &lt;script&gt;x&lt;/script&gt;');
    assert.equal(code('a`b'), '``a`b``');
    const md = deploySummary(report({ applied: ['ConfigMap/a|b'] }), { error: 'bad <b>thing</b>\nsecond line' });
    assert.ok(md.includes('- ConfigMap/a\\|b'));
    assert.ok(md.includes('| **Failure** | bad &lt;b&gt;thing&lt;/b&gt; second line |'));
  });
});
