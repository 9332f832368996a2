/**
 * Which pipeline run a task belongs to, from the variables the agent sets in
 * each host: a YAML run (here a deployment job targeting `environment:
 * name.resource`), a classic build, and a classic release (agent job and
 * deployment group job). The values are the agent's own names and shapes.
 */
import assert from 'node:assert/strict';
import { pipelineRunFrom } from '../../../shared/adapter/run';
import { CLASSIC_BUILD, CLASSIC_RELEASE, YAML_DEPLOYMENT_JOB } from '../../helpers/agent-variables';

const vars = (v: Record<string, string>) => (name: string) => v[name];

describe('pipelineRunFrom: the run a task belongs to, in every host', () => {
  it('a YAML run (deployment job on environment name.resource): the build results page and the environment', () => {
    const run = pipelineRunFrom(vars(YAML_DEPLOYMENT_JOB));
    assert.deepEqual(run, {
      kind: 'build',
      id: '4711',
      name: '20261201.3',
      url: 'https://dev.azure.com/contoso/Model%20Serving/_build/results?buildId=4711',
      definitionName: 'model-release',
      definitionId: '12',
      jobName: 'Deploy resnet',
      project: 'Model Serving',
      collectionUri: 'https://dev.azure.com/contoso/',
      environment: { name: 'model-prod', id: '5', resourceName: 'scoring', resourceId: '9' },
    });
  });

  it('a classic build: the build results page, no environment', () => {
    const run = pipelineRunFrom(vars(CLASSIC_BUILD));
    assert.equal(run?.kind, 'build');
    assert.equal(run?.url, 'https://contoso.visualstudio.com/ML/_build/results?buildId=881');
    assert.equal(run?.environment, undefined);
    assert.equal(run?.definitionName, 'resnet-CI');
  });

  it('a classic release: the release page and release id, not the build of its artifact', () => {
    const run = pipelineRunFrom(vars(CLASSIC_RELEASE));
    assert.equal(run?.kind, 'release');
    assert.equal(run?.id, '57');
    assert.equal(run?.name, 'Release-57');
    assert.equal(run?.url, 'https://dev.azure.com/contoso/ML/_release?releaseId=57&_a=release-summary');
    assert.equal(run?.definitionName, 'resnet-CD');
    assert.equal(run?.definitionId, '2');
    assert.equal(run?.stage, 'Production');
    assert.ok(!run?.url?.includes('_build'));
  });

  it("a classic release without Release.ReleaseWebURL: the release progress page, as Microsoft's Kubernetes tasks link it", () => {
    const v = { ...CLASSIC_RELEASE };
    delete v['Release.ReleaseWebURL'];
    assert.equal(pipelineRunFrom(vars(v))?.url, 'https://dev.azure.com/contoso/ML/_releaseProgress?releaseId=57');
  });

  it('a deployment group job of a classic release (System.HostType deployment) is a release too', () => {
    assert.equal(pipelineRunFrom(vars({ ...CLASSIC_RELEASE, 'System.HostType': 'deployment' }))?.kind, 'release');
  });

  it('outside a pipeline: nothing', () => {
    assert.equal(
      pipelineRunFrom(() => undefined),
      undefined,
    );
  });

  it('without the collection or project: the ids, no URL', () => {
    const run = pipelineRunFrom(vars({ 'Build.BuildId': '5' }));
    assert.equal(run?.id, '5');
    assert.equal(run?.url, undefined);
  });
});
