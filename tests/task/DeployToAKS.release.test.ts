/**
 * DeployToAKS in a classic release with `image` empty: the image and its
 * model come from the triggering build artifact, through the REST API (a fake
 * Azure DevOps organization driven by azure-devops-node-api inside the
 * bundle) with the job's token, else from the record file in the downloaded
 * artifact. renderOnly: no cluster needed.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RECORD_FILE, RunProperty } from '../../shared/devops';
import { ALL_PERMISSIONS, startFakeDevOps, type FakeDevOps } from '../helpers/fake-devops';
import { runMock, type TaskSpec } from './mock-task';

const DIGEST = `sha256:${'a'.repeat(64)}`;
const IMAGE = `127.0.0.1:5000/models/resnet@${DIGEST}`;
const MODEL = { uri: 'https://acct.blob.core.windows.net/models/resnet/2/model.onnx', version: '2', sha256: 'c'.repeat(64) };
const RECORD = { imageRef: IMAGE, digest: DIGEST, tags: ['55'], model: MODEL };
const TOKEN = 'release-job-token-0123456789';

describe('DeployToAKS task: classic release with no image input', function () {
  this.timeout(60_000);
  let work: string;
  let devops: FakeDevOps;
  beforeEach(async () => {
    work = mkdtempSync(join(tmpdir(), 'deploytoaks-release-'));
    mkdirSync(join(work, 'temp'));
    devops = await startFakeDevOps();
  });
  afterEach(async () => {
    await devops.stop();
    rmSync(work, { recursive: true, force: true });
  });

  const spec = (token?: string): TaskSpec => ({
    task: 'DeployToAKS',
    inputs: { appName: 'resnet', connectionType: 'kubeconfig', kubeconfig: join(work, 'missing.yaml'), renderOnly: 'true' },
    endpoints: token ? { SYSTEMVSSCONNECTION: { scheme: 'OAuth', parameters: { AccessToken: token } } } : undefined,
    variables: {
      'Agent.TempDirectory': join(work, 'temp'),
      'System.DefaultWorkingDirectory': work,
      'System.CollectionUri': devops.collectionUri,
      'System.TeamProject': devops.projects[0].name,
      'System.TeamProjectId': devops.projects[0].id,
      'System.HostType': 'release',
      'Release.ReleaseId': '17',
      'Release.PrimaryArtifactSourceAlias': '_model-api',
      'Release.TriggeringArtifact.Alias': '_model-api',
      'Release.Artifacts._model-api.Type': 'Build',
      'Release.Artifacts._model-api.BuildId': '55',
      'Release.Artifacts._model-api.DefinitionId': '3',
      'Build.BuildId': '55',
    },
  });
  const rendered = (dir: string) => readFileSync(join(dir, 'manifests.yaml'), 'utf8');

  it('reads the image and model recorded on the triggering build through the REST API', async () => {
    devops.tokens.set(TOKEN, new Set(ALL_PERMISSIONS));
    devops.addBuild({ id: 55, definitionId: 3, properties: { [RunProperty.Image]: JSON.stringify(RECORD) } });
    const r = await runMock(spec(TOKEN));
    assert.ok(r.succeeded, r.stdout);
    assert.equal(r.outputs.deployedImage, IMAGE);
    const yaml = rendered(r.outputs.renderedManifests);
    assert.ok(yaml.includes(`image: ${IMAGE}`), yaml);
    assert.ok(yaml.includes(MODEL.sha256) && yaml.includes(MODEL.uri), 'the model identity comes along');
    assert.ok(devops.requests.some((q) => q.method === 'GET' && q.path.endsWith('/builds/55/properties') && q.authorization === `Bearer ${TOKEN}`));
    assert.ok(!r.log.some((l) => l.includes(TOKEN)), 'the token is masked');
  });

  it('without the token: one warning naming the setting, the record file in the downloaded artifact', async () => {
    mkdirSync(join(work, '_model-api', 'drop'), { recursive: true });
    writeFileSync(join(work, '_model-api', 'drop', RECORD_FILE), JSON.stringify(RECORD));
    const r = await runMock(spec());
    assert.ok(r.succeeded, r.stdout);
    assert.equal(r.outputs.deployedImage, IMAGE);
    // The unreachable sample registry adds its own warning (annotations); the token's is one.
    const warnings = r.stdout.split('\n').filter((l) => l.startsWith('##vso[task.issue type=warning') && /access token/.test(l));
    assert.equal(warnings.length, 1, warnings.join('\n'));
    assert.match(warnings[0], /Allow scripts to access the OAuth token/);
    assert.equal(devops.requests.length, 0);
  });

  it('nothing recorded anywhere: one line saying where it looked and what to do', async () => {
    devops.tokens.set(TOKEN, new Set(ALL_PERMISSIONS));
    devops.addBuild({ id: 55, definitionId: 3 });
    const r = await runMock(spec(TOKEN));
    assert.equal(r.succeeded, false);
    assert.match(r.message, /Input 'image' is empty and artifact '_model-api' records no image/);
    assert.match(r.message, /publish the artifact staging directory, or set 'image'/);
    assert.ok(!r.message.includes('\n'));
  });
});
