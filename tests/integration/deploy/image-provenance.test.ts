/**
 * DeployToAKS reads the pushed image back from a real registry: a tag-only
 * image is pinned to the digest the registry reports, and the model identity
 * (io.modeltoaks.model.*) comes from the image's annotations when no model
 * inputs are given. Bundled and pushed with our own library, rendered by the
 * real task bundle (renderOnly, no cluster).
 */
import { strict as assert } from 'node:assert';
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bundleImage } from '../../../shared/oci/bundle';
import { OciLayout } from '../../../shared/oci/layout';
import { pushImage } from '../../../shared/oci/registry/push';
import { runTask } from '../../../scripts/lib/agent';
import { startRegistry, type TestRegistry } from '../../helpers/registry';
import { ensureBuilt } from '../../task/mock-task';

describe('DeployToAKS reads the image it deploys from the registry', function () {
  this.timeout(180_000);
  let registry: TestRegistry;
  let work: string;
  let digest: string;
  const model = Buffer.from('a model served by the app\n');
  const modelSha = createHash('sha256').update(model).digest('hex');

  before(async () => {
    ensureBuilt('DeployToAKS');
    registry = await startRegistry();
    work = mkdtempSync(join(tmpdir(), 'deploy-provenance-'));
    writeFileSync(join(work, 'model.bin'), model);
    const bundle = await bundleImage({
      baseImage: 'scratch',
      model: { path: join(work, 'model.bin') },
      provenance: { modelUri: 's3://models/scorer/2.1.0/model.bin', modelVersion: '2.1.0', modelSha256: modelSha },
      imageName: 'scorer',
      tags: ['candidate'],
      outputPath: join(work, 'layout'),
    });
    digest = bundle.manifestDigest;
    await pushImage({ layout: await OciLayout.open(join(work, 'layout')), registry: registry.host, repository: 'apps/scorer', tags: ['candidate'] });
  });
  after(async () => {
    await registry?.stop();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('pins a tag to the registry digest and labels the objects with the model from the image annotations', async () => {
    const run = await runTask({
      task: 'DeployToAKS',
      inputs: {
        connectionType: 'kubeconfig',
        kubeconfig: join(work, 'unused-kubeconfig'),
        image: `${registry.host}/apps/scorer:candidate`,
        appName: 'scorer',
        renderOnly: 'true',
        namespace: 'scoring',
      },
      variables: { 'Agent.TempDirectory': work },
    });
    assert.equal(run.result, 'Succeeded', run.log.join('\n'));
    assert.equal(run.outputs.deployedImage, `${registry.host}/apps/scorer@${digest}`);
    const dir = run.outputs.renderedManifests as string;
    const rendered = readdirSync(dir)
      .map((f) => readFileSync(join(dir, f), 'utf8'))
      .join('\n');
    assert.ok(rendered.includes(`${registry.host}/apps/scorer@${digest}`), rendered);
    assert.ok(rendered.includes('s3://models/scorer/2.1.0/model.bin'), rendered);
    assert.ok(rendered.includes(modelSha), rendered);
  });
});
