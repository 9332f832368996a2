/**
 * DeployToAKS's rendered manifests may hold the user's Secrets: the file is
 * written 0600 in a folder only the agent's user can list. A temp folder
 * that cannot be created (under /proc, where Node's recursive mkdir loops
 * forever) is one clean line. renderOnly needs no cluster.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runMock, type TaskSpec } from './mock-task';

const IMAGE = `127.0.0.1:5000/models/resnet@sha256:${'a'.repeat(64)}`;

describe('DeployToAKS task: rendered manifests on disk', function () {
  this.timeout(60_000);
  let work: string;
  before(() => {
    work = mkdtempSync(join(tmpdir(), 'deploytoaks-paths-'));
  });
  after(() => rmSync(work, { recursive: true, force: true }));

  const spec = (temp: string, inputs: TaskSpec['inputs'] = {}): TaskSpec => ({
    task: 'DeployToAKS',
    inputs: { image: IMAGE, appName: 'resnet', connectionType: 'kubeconfig', kubeconfig: join(work, 'missing.yaml'), renderOnly: 'true', ...inputs },
    variables: { 'Agent.TempDirectory': temp, 'System.DefaultWorkingDirectory': work, 'Build.BuildId': '7' },
  });

  it('writes manifests.yaml 0600 in a folder closed to other users', async () => {
    writeFileSync(
      join(work, 'secret.yaml'),
      'apiVersion: v1\nkind: Secret\nmetadata:\n  name: api-key\nstringData:\n  key: s3cr3t\n---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: p\nspec:\n  containers:\n  - name: c\n    image: 127.0.0.1:5000/models/resnet:1\n',
    );
    const r = await runMock(spec(work, { manifests: 'secret.yaml' }));
    assert.ok(r.succeeded, r.stdout);
    const dir = r.outputs.renderedManifests as string;
    assert.equal(statSync(join(dir, 'manifests.yaml')).mode & 0o777, 0o600);
    assert.equal(statSync(dir).mode & 0o077, 0, `folder mode ${(statSync(dir).mode & 0o777).toString(8)}`);
  });

  it('fails in one line when the folder cannot be created (/proc)', async () => {
    // task-lib keeps its key in Agent.TempDirectory, so that stays usable: without it the task uses the system temp folder.
    const s = spec(work);
    delete s.variables?.['Agent.TempDirectory'];
    const r = await runMock({ ...s, variables: { ...s.variables, 'Agent.WorkFolder': work }, env: { TMPDIR: '/proc/x' } });
    assert.equal(r.succeeded, false, r.stdout);
    assert.match(r.message, /\/proc\/x/);
    assert.match(r.message, /Agent\.TempDirectory/);
    assert.ok(!r.message.includes('\n') && !/\n\s+at /.test(r.visible), 'one line, no stack trace');
  });
});
