import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { silentLogger } from '../../../shared/log';
import { pushImage } from '../../../shared/oci/registry/push';
import { dockerEngine, unavailableReason, type DockerEngine } from '../../helpers/docker-engine';
import { startRegistry, type TestRegistry } from '../../helpers/registry';
import { buildTestImage, BUSYBOX } from './fixture';
import { existsSync } from 'node:fs';

describe('pushed image pulled and run by a real Docker engine', function () {
  let registry: TestRegistry;
  let engine: DockerEngine | undefined;
  let work: string;

  before(async function () {
    if (!existsSync(BUSYBOX)) throw new Error('busybox-static is required (apt-get install -y busybox-static)');
    engine = await dockerEngine();
    if (!engine) throw new Error(`Docker engine unavailable: ${unavailableReason()}`);
    registry = await startRegistry();
    work = mkdtempSync(join(tmpdir(), 'push-docker-'));
  });
  after(async () => {
    await registry?.stop();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('docker pulls the pushed digest and the container prints the model sha256', async () => {
    const image = await buildTestImage(join(work, 'img'), { modelSize: 4 << 20, modelSeed: 'docker-run' });
    const result = await pushImage({ layout: image.layout, registry: registry.host, repository: 'run/scorer', tags: ['1'], logger: silentLogger });
    const e = engine as DockerEngine;
    const ref = `${registry.host}/run/scorer@${result.digest}`;
    e.docker(['pull', ref], { timeoutMs: 120_000 });
    const out = e.docker(['run', '--rm', '--network', 'none', ref], { timeoutMs: 120_000 });
    assert.equal(out.trim().split(/\s+/)[0], image.modelSha256);
    const tagged = e.docker(['pull', `${registry.host}/run/scorer:1`], { timeoutMs: 120_000 });
    assert.match(tagged, new RegExp(result.digest));
  });
});
