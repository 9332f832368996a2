/**
 * The run context from the variables the agent sets in a YAML run, a classic
 * build and a classic release (names as the agent sets them; task-lib reads
 * them from the environment upper-cased with '.' as '_').
 */
import { strict as assert } from 'node:assert';
import { join } from 'node:path';
import { modelDiffers, modelName, modelTag, parseImageRecord, runContext } from '../../../shared/devops';

const PROJECT_ID = '6c2b0933-3600-42ae-bf8b-93d4f7e8a000';
const common = {
  'System.CollectionUri': 'https://dev.azure.com/contoso/',
  'System.TeamProject': 'Models',
  'System.TeamProjectId': PROJECT_ID,
  'System.DefaultWorkingDirectory': '/home/vsts/work/1/s',
};
const yamlRun = { ...common, 'System.HostType': 'build', 'System.DefinitionId': '7', 'Build.BuildId': '412', 'Pipeline.Workspace': '/home/vsts/work/1' };
const classicBuild = { ...common, 'System.HostType': 'build', 'System.DefinitionId': '3', 'Build.BuildId': '98', 'Build.DefinitionName': 'model-api-CI' };
const classicRelease = {
  ...common,
  'System.HostType': 'release',
  'System.DefaultWorkingDirectory': '/home/vsts/work/r1/a',
  'Release.ReleaseId': '17',
  'Release.ReleaseWebURL': 'https://dev.azure.com/contoso/Models/_release?releaseId=17',
  'Release.PrimaryArtifactSourceAlias': '_model-api',
  'Release.TriggeringArtifact.Alias': '_model-api',
  'Release.Artifacts._model-api.Type': 'Build',
  'Release.Artifacts._model-api.BuildId': '98',
  'Release.Artifacts._model-api.DefinitionId': '3',
  // In a release job the agent fills Build.* from the primary artifact: not a run of this pipeline.
  'Build.BuildId': '98',
  'System.DefinitionId': '2',
};

const reader = (vars: Record<string, string>) => (n: string) => vars[n as keyof typeof vars];

describe('devops run context from agent variables', () => {
  it('a YAML run and a classic build: this build, this pipeline', () => {
    for (const [vars, buildId, definitionId] of [
      [yamlRun, 412, 7],
      [classicBuild, 98, 3],
    ] as const) {
      const c = runContext(reader(vars));
      assert.equal(c.host, 'build');
      assert.deepEqual(c.build, { project: PROJECT_ID, buildId });
      assert.equal(c.definitionId, definitionId);
      assert.equal(c.collectionUri, 'https://dev.azure.com/contoso/');
      assert.equal(c.release, undefined);
    }
  });

  it('a classic release: no run of its own; the triggering build artifact and where it was downloaded', () => {
    const c = runContext(reader(classicRelease));
    assert.equal(c.host, 'release');
    assert.equal(c.build, undefined);
    assert.deepEqual(c.release, {
      alias: '_model-api',
      build: { project: PROJECT_ID, buildId: 98 },
      definitionId: 3,
      directory: join('/home/vsts/work/r1/a', '_model-api'),
    });
  });

  it('a manual release falls back to the primary artifact; a non-build artifact has no build', () => {
    const manual: Record<string, string> = { ...classicRelease };
    delete manual['Release.TriggeringArtifact.Alias'];
    assert.equal(runContext(reader(manual)).release?.alias, '_model-api');
    const git = { ...classicRelease, 'Release.Artifacts._model-api.Type': 'Git' };
    assert.equal(runContext(reader(git)).release?.build, undefined);
  });

  it('outside a pipeline: nothing to record on', () => {
    const c = runContext(() => undefined);
    assert.equal(c.host, 'unknown');
    assert.equal(c.build, undefined);
  });
});

describe('devops records', () => {
  it('model names and tags', () => {
    assert.equal(modelName('models/diabetes/'), 'diabetes');
    assert.equal(modelName('diabetes'), 'diabetes');
    assert.equal(modelTag('diabetes', '3'), 'model:diabetes@3');
  });

  it('modelDiffers: any recorded field that differs; nothing recorded counts as changed', () => {
    const m = { uri: 'u', version: '1', sha256: 'a' };
    assert.equal(modelDiffers(m, { ...m }), false);
    assert.equal(modelDiffers(m, { ...m, sha256: 'b' }), true);
    assert.equal(modelDiffers(m, { ...m, uri: 'v' }), true);
    assert.equal(modelDiffers(undefined, m), true);
    assert.equal(modelDiffers({}, m), true);
  });

  it('parseImageRecord refuses a record not pinned by digest', () => {
    const digest = `sha256:${'a'.repeat(64)}`;
    assert.equal(parseImageRecord(JSON.stringify({ imageRef: `r/x@${digest}`, digest }), 'f').imageRef, `r/x@${digest}`);
    assert.throws(() => parseImageRecord(JSON.stringify({ imageRef: 'r/x:latest', digest }), 'f'), /pinned by a sha256 digest/);
    assert.throws(() => parseImageRecord('{', 'f'), /not valid JSON/);
  });
});
