/**
 * FetchModel in a pipeline run (the real bundle, a real Azurite, a fake Azure
 * DevOps organization driven by azure-devops-node-api inside the bundle):
 * `modelChanged` against the last successful run of the same pipeline, the
 * run tag `model:<name>@<version>`, the default destination under
 * Pipeline.Workspace (kept between jobs on a self-hosted agent, so the cache
 * hits), and one warning without the job's token.
 */
import { strict as assert } from 'node:assert';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BlobServiceClient } from '@azure/storage-blob';
import { RunProperty } from '../../shared/devops';
import { startAzurite, type TestAzurite } from '../helpers/azurite';
import { ALL_PERMISSIONS, startFakeDevOps, type FakeDevOps } from '../helpers/fake-devops';
import { runMock, type MockRun } from './mock-task';

const TOKEN = 'fetch-job-token-abcdef0123456789';

describe('FetchModel task: modelChanged and the run record', function () {
  this.timeout(180_000);
  let azurite: TestAzurite;
  let devops: FakeDevOps;
  let work: string;

  before(async () => {
    azurite = await startAzurite();
    const container = BlobServiceClient.fromConnectionString(azurite.connectionString).getContainerClient('models');
    await container.create();
    await container.getBlockBlobClient('resnet/1.4.0/model.bin').uploadData(Buffer.from('weights 1.4.0\n'.repeat(100)));
  });
  after(async () => {
    await azurite?.stop();
  });
  beforeEach(async () => {
    devops = await startFakeDevOps();
    devops.tokens.set(TOKEN, new Set(ALL_PERMISSIONS));
    work = mkdtempSync(join(tmpdir(), 'fetchmodel-devops-'));
  });
  afterEach(async () => {
    await devops.stop();
    rmSync(work, { recursive: true, force: true });
  });

  const fetchRun = (buildId: number, token: string | undefined = TOKEN): Promise<MockRun> => {
    devops.addBuild({ id: buildId, definitionId: 7, status: 'inProgress', result: undefined });
    const temp = join(work, `temp-${buildId}`);
    mkdirSync(temp);
    return runMock({
      task: 'FetchModel',
      inputs: {
        provider: 'azureBlob',
        authType: 'connectionString',
        connectionString: azurite.connectionString,
        container: 'models',
        modelPath: 'resnet/',
        versionSelection: 'highestVersion',
      },
      endpoints: token ? { SYSTEMVSSCONNECTION: { scheme: 'OAuth', parameters: { AccessToken: token } } } : undefined,
      variables: {
        'Agent.TempDirectory': temp,
        'Pipeline.Workspace': join(work, 'workspace'),
        'System.CollectionUri': devops.collectionUri,
        'System.TeamProject': devops.projects[0].name,
        'System.TeamProjectId': devops.projects[0].id,
        'System.HostType': 'build',
        'System.DefinitionId': '7',
        'Build.BuildId': String(buildId),
      },
    });
  };
  const finish = (buildId: number) =>
    Object.assign(devops.builds.get(buildId)!, {
      status: 'completed',
      result: 'succeeded',
      finishTime: new Date(Date.UTC(2026, 0, 1, 0, buildId)).toISOString(),
    });

  it('true on the first run, false on the next run with the same model (cache hit under Pipeline.Workspace), true for a new version', async () => {
    const first = await fetchRun(1);
    assert.ok(first.succeeded, first.stdout);
    assert.equal(first.outputs.modelChanged, 'true');
    assert.equal(first.outputs.modelPath, join(work, 'workspace', 'model', '1.4.0'));
    assert.deepEqual(devops.builds.get(1)!.tags, ['model:resnet@1.4.0']);
    assert.equal(JSON.parse(devops.builds.get(1)!.properties[RunProperty.Model]).version, '1.4.0');
    assert.ok(!first.visible.includes(TOKEN) && first.secrets.includes(TOKEN), 'the token is a secret');
    finish(1);

    const second = await fetchRun(2);
    assert.ok(second.succeeded, second.stdout);
    assert.equal(second.outputs.modelChanged, 'false');
    assert.match(second.stdout, /run 1 shipped the same model/);
    assert.ok(existsSync(second.outputs.modelPath));
    finish(2);

    const container = BlobServiceClient.fromConnectionString(azurite.connectionString).getContainerClient('models');
    await container.getBlockBlobClient('resnet/1.5.0/model.bin').uploadData(Buffer.from('weights 1.5.0\n'.repeat(100)));
    const third = await fetchRun(3);
    assert.ok(third.succeeded, third.stdout);
    assert.equal(third.outputs.modelVersion, '1.5.0');
    assert.equal(third.outputs.modelChanged, 'true');
    assert.deepEqual(devops.builds.get(3)!.tags, ['model:resnet@1.5.0']);
    await container.getBlockBlobClient('resnet/1.5.0/model.bin').delete();
  });

  it('a rejected token: one warning, modelChanged true, nothing written', async () => {
    const r = await fetchRun(1, 'not-a-token-of-this-organization');
    assert.ok(r.succeeded, r.stdout);
    assert.equal(r.outputs.modelChanged, 'true');
    const warnings = r.stdout.split('\n').filter((l) => l.startsWith('##vso[task.issue type=warning'));
    assert.equal(warnings.length, 1, warnings.join('\n'));
    assert.match(warnings[0], /HTTP 401/);
    assert.deepEqual(devops.builds.get(1)!.tags, []);
  });

  it('without the job token: one warning naming the setting, modelChanged true', async () => {
    const r = await fetchRun(1, '');
    assert.ok(r.succeeded, r.stdout);
    assert.equal(r.outputs.modelChanged, 'true');
    const warnings = r.stdout.split('\n').filter((l) => l.startsWith('##vso[task.issue type=warning'));
    assert.equal(warnings.length, 1, warnings.join('\n'));
    assert.match(warnings[0], /Allow scripts to access the OAuth token/);
    assert.equal(devops.requests.length, 0);
  });
});
