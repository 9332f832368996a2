/**
 * `filePath` inputs as the agent gives them: a relative path arrives joined
 * to the sources folder (Build.SourcesDirectory, else
 * System.DefaultWorkingDirectory), and an EMPTY one arrives as the sources
 * folder itself (the agent's TranslateFilePathInput; task-lib's
 * filePathSupplied exists for this). The tasks must treat that as "not
 * given": no app layer from the whole checkout, the built-in template rather
 * than the checkout as manifests, the default download folder.
 */
import { strict as assert } from 'node:assert';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { translateFilePathInputs } from '../../scripts/lib/agent';
import { root, runMock } from './mock-task';

const FILE_PATH_INPUTS: Record<string, string[]> = {
  BundleModelImage: ['appDirectory', 'dockerfile', 'buildContext', 'outputPath'],
  FetchModel: ['destination'],
  DeployToAKS: ['manifests', 'kubeconfig'],
};

describe('filePath inputs, as the agent translates them', function () {
  this.timeout(120_000);
  let work: string;
  before(() => {
    work = mkdtempSync(join(tmpdir(), 'file-paths-'));
    mkdirSync(join(work, 'tmp'));
    mkdirSync(join(work, 'tmp2'));
  });
  after(() => rmSync(work, { recursive: true, force: true }));

  it('are declared filePath in task.json', () => {
    for (const [task, names] of Object.entries(FILE_PATH_INPUTS)) {
      const json = JSON.parse(readFileSync(join(root, 'tasks', task, 'task.json'), 'utf8')) as { inputs: Array<{ name: string; type: string }> };
      for (const n of names) assert.equal(json.inputs.find((i) => i.name === n)?.type, 'filePath', `${task}.${n}`);
    }
  });

  it('the emulation roots relative and empty values at the sources folder, like the agent', () => {
    const types = [
      { name: 'appDirectory', type: 'filePath' },
      { name: 'outputPath', type: 'filePath', defaultValue: '$(Build.ArtifactStagingDirectory)/image' },
      { name: 'buildContext', type: 'filePath' },
      { name: 'modelPath', type: 'string' },
    ];
    const vars = { 'Build.SourcesDirectory': '/w/1/s' };
    assert.deepEqual(translateFilePathInputs(types, { appDirectory: 'app', modelPath: 'm', buildContext: '/abs/../ctx' }, vars), {
      appDirectory: '/w/1/s/app',
      modelPath: 'm',
      buildContext: '/ctx',
    });
    // Not given, empty default: the agent sends the sources folder.
    assert.deepEqual(translateFilePathInputs(types, { appDirectory: '' }, vars), { appDirectory: '/w/1/s', buildContext: '/w/1/s' });
    // No sources folder known: values pass unchanged.
    assert.deepEqual(translateFilePathInputs(types, { appDirectory: 'app' }, {}), { appDirectory: 'app' });
  });

  it('BundleModelImage: an empty app directory (the sources folder) adds no app layer', async () => {
    const sources = join(work, 's');
    mkdirSync(join(sources, 'secret-stuff'), { recursive: true });
    writeFileSync(join(sources, 'secret-stuff', 'notes.txt'), 'not for the image');
    mkdirSync(join(work, 'model'));
    writeFileSync(join(work, 'model', 'm.bin'), 'weights');
    const run = await runMock({
      task: 'BundleModelImage',
      inputs: { baseImage: 'scratch', modelPath: join(work, 'model'), appDirectory: '', tags: '1', outputPath: join(work, 'out') },
      variables: { 'Build.SourcesDirectory': sources, 'Agent.TempDirectory': join(work, 'tmp') },
    });
    assert.ok(run.succeeded, run.stdout);
    // One layer: the model. The checkout was not taken as the app.
    const blobs = readdirSync(join(work, 'out', 'blobs', 'sha256'));
    assert.equal(blobs.length, 3, `expected model layer + config + manifest, got ${blobs.length} blobs`);
    assert.ok(!/app layer/i.test(run.stdout), run.stdout);
  });

  it('DeployToAKS: empty manifests (the sources folder) render the built-in template', async () => {
    const sources = join(work, 's2');
    mkdirSync(sources, { recursive: true });
    writeFileSync(join(sources, 'not-a-manifest.yaml'), 'hello: world\n');
    const kubeconfig = join(work, 'missing-kubeconfig.yaml');
    const run = await runMock({
      task: 'DeployToAKS',
      inputs: { connectionType: 'kubeconfig', kubeconfig, image: `127.0.0.1:9/models/resnet@sha256:${'a'.repeat(64)}`, manifests: '', renderOnly: 'true' },
      variables: { 'System.DefaultWorkingDirectory': sources, 'Agent.TempDirectory': join(work, 'tmp2') },
    });
    assert.ok(run.succeeded, `${run.message}\n${run.stdout}`);
    const rendered = run.outputs.renderedManifests ?? '';
    assert.ok(rendered, 'no renderedManifests output');
    const text = readdirSync(rendered)
      .map((f) => readFileSync(join(rendered, f), 'utf8'))
      .join('\n');
    assert.match(text, /kind: Deployment/);
    assert.ok(!text.includes('hello: world'), 'the checkout was taken as manifests');
  });
});
