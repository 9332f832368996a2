/**
 * PushToACR in a pipeline run records what it pushed (the real bundle, a
 * real docker-registry, a fake Azure DevOps organization driven by
 * azure-devops-node-api inside the bundle): the record file in the artifact
 * staging directory and the build property on the run; a token without
 * permission is one warning and the push still succeeds.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RECORD_FILE, RunProperty } from '../../shared/devops';
import { ALL_PERMISSIONS, startFakeDevOps, type FakeDevOps } from '../helpers/fake-devops';
import { startRegistry, type TestRegistry } from '../helpers/registry';
import { buildTestImage, type TestImage } from '../integration/registry/fixture';
import { runMock, type MockRun } from './mock-task';

const TOKEN = 'push-job-token-0123456789abcdef';

describe('PushToACR task: the pushed image recorded on the run and in the artifact staging directory', function () {
  this.timeout(180_000);
  let registry: TestRegistry;
  let devops: FakeDevOps;
  let work: string;
  let image: TestImage;

  before(async () => {
    registry = await startRegistry({ mode: 'none' });
    work = mkdtempSync(join(tmpdir(), 'push-records-'));
    image = await buildTestImage(join(work, 'layout'), { modelSize: 64 * 1024, modelVersion: '2.0.1' });
  });
  after(async () => {
    await registry?.stop();
    rmSync(work, { recursive: true, force: true });
  });
  beforeEach(async () => {
    devops = await startFakeDevOps();
  });
  afterEach(() => devops.stop());

  const push = (buildId: number, staging: string): Promise<MockRun> => {
    devops.addBuild({ id: buildId, definitionId: 3, status: 'inProgress', result: undefined });
    mkdirSync(staging, { recursive: true });
    return runMock({
      task: 'PushToACR',
      inputs: {
        imageLayout: image.layout.dir,
        registryType: 'serviceConnection',
        dockerRegistryConnection: 'reg',
        repository: 'models/scorer',
        tags: String(buildId),
        insecure: 'true',
      },
      endpoints: {
        reg: { scheme: 'UsernamePassword', parameters: { registry: registry.host, username: '', password: '' }, data: { registrytype: 'Others' } },
        SYSTEMVSSCONNECTION: { scheme: 'OAuth', parameters: { AccessToken: TOKEN } },
      },
      variables: {
        'Build.ArtifactStagingDirectory': staging,
        'System.CollectionUri': devops.collectionUri,
        'System.TeamProject': devops.projects[0].name,
        'System.TeamProjectId': devops.projects[0].id,
        'System.HostType': 'build',
        'System.DefinitionId': '3',
        'Build.BuildId': String(buildId),
      },
    });
  };

  it('writes modeltoaks-image.json and the ModelToAks.Image build property with the digest, tags and model', async () => {
    devops.tokens.set(TOKEN, new Set(ALL_PERMISSIONS));
    const staging = join(work, 'staging-1');
    const r = await push(41, staging);
    assert.ok(r.succeeded, r.stdout);
    const ref = `${registry.host}/models/scorer@${image.manifestDigest}`;
    assert.equal(r.outputs.imageRef, ref);
    const file = JSON.parse(readFileSync(join(staging, RECORD_FILE), 'utf8'));
    assert.equal(file.imageRef, ref);
    assert.equal(file.digest, image.manifestDigest);
    assert.deepEqual(file.tags, ['41']);
    assert.equal(file.model.version, '2.0.1');
    assert.equal(file.model.sha256, image.modelSha256);
    assert.deepEqual(JSON.parse(devops.builds.get(41)!.properties[RunProperty.Image]), file);
    assert.ok(!r.visible.includes(TOKEN) && r.secrets.includes(TOKEN), 'the token is registered and never printed');
  });

  it('a token without Update build information: one warning naming it, the push and the file still done', async () => {
    devops.tokens.set(TOKEN, new Set(['ViewBuilds']));
    const staging = join(work, 'staging-2');
    const r = await push(42, staging);
    assert.ok(r.succeeded, r.stdout);
    const warnings = r.stdout.split('\n').filter((l) => l.startsWith('##vso[task.issue type=warning'));
    assert.equal(warnings.length, 1, warnings.join('\n'));
    assert.match(warnings[0], /HTTP 403.*'Update build information'.*record file/);
    assert.equal(JSON.parse(readFileSync(join(staging, RECORD_FILE), 'utf8')).digest, image.manifestDigest);
    assert.equal(devops.builds.get(42)!.properties[RunProperty.Image], undefined);
  });
});
