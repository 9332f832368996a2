/**
 * Traceability on the applied objects: beside this extension's own keys, the
 * azure-pipelines/* annotations Microsoft's Kubernetes tasks write
 * (kubernetes-common's pipelineAnnotations: run, pipeline, pipelineId,
 * jobName, runuri, project, org), on the object and on its pod template, for a
 * build and for a classic release.
 */
import assert from 'node:assert/strict';
import { pipelineRunFrom } from '../../../shared/adapter/run';
import { applyTraceability, pipelineAnnotations } from '../../../shared/k8s/traceability';
import type { KubeObject } from '../../../shared/k8s/types';
import { YAML_DEPLOYMENT_JOB } from '../../helpers/agent-variables';

const deployment = (): KubeObject => ({
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: { name: 'resnet', annotations: { keep: 'me' } },
  spec: { selector: { matchLabels: { app: 'resnet' } }, template: { metadata: { labels: { app: 'resnet' } }, spec: { containers: [] } } },
});
const service = (): KubeObject => ({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'resnet' }, spec: { ports: [{ port: 80 }] } });

describe('traceability: the annotations the Environment view reads', () => {
  const run = pipelineRunFrom((n) => YAML_DEPLOYMENT_JOB[n]);

  it("a build: Microsoft's seven azure-pipelines/* keys with the build's values", () => {
    assert.deepEqual(pipelineAnnotations(run!), {
      'azure-pipelines/run': '20261201.3',
      'azure-pipelines/pipeline': 'model-release',
      'azure-pipelines/pipelineId': '12',
      'azure-pipelines/jobName': 'Deploy resnet',
      'azure-pipelines/runuri': 'https://dev.azure.com/contoso/Model%20Serving/_build/results?buildId=4711',
      'azure-pipelines/project': 'Model Serving',
      'azure-pipelines/org': 'https://dev.azure.com/contoso/',
    });
  });

  it('a classic release: run is the release id, runuri the release page, pipeline the release definition', () => {
    const release = pipelineRunFrom(
      (n) =>
        ({
          'System.HostType': 'release',
          'System.CollectionUri': 'https://dev.azure.com/contoso/',
          'System.TeamProject': 'ML',
          'Build.BuildId': '881',
          'Build.BuildNumber': '881',
          'Release.ReleaseId': '57',
          'Release.DefinitionName': 'resnet-CD',
          'Release.DefinitionId': '2',
          'Agent.JobName': 'Deploy',
        })[n],
    );
    const a = pipelineAnnotations(release!);
    assert.equal(a['azure-pipelines/run'], '57');
    assert.equal(a['azure-pipelines/runuri'], 'https://dev.azure.com/contoso/ML/_releaseProgress?releaseId=57');
    assert.equal(a['azure-pipelines/pipeline'], 'resnet-CD');
    assert.equal(a['azure-pipelines/pipelineId'], '2');
  });

  it("stamps them on every object and on the pod template, beside our own keys, keeping the user's annotations", () => {
    const objects = [deployment(), service()];
    applyTraceability(objects, { run, pipelineRunUrl: run?.url, pipelineRunId: run?.id, imageDigest: `sha256:${'b'.repeat(64)}` });
    const [d, s] = objects as [KubeObject, KubeObject];
    for (const meta of [d.metadata, (d.spec?.template as KubeObject).metadata, s.metadata]) {
      assert.equal(meta?.annotations?.['azure-pipelines/runuri'], run?.url);
      assert.equal(meta?.annotations?.['azure-pipelines/run'], '20261201.3');
      assert.equal(meta?.annotations?.['modeltoaks.io/pipeline-run-url'], run?.url);
      assert.equal(meta?.annotations?.['modeltoaks.io/environment'], 'model-prod.scoring');
    }
    assert.equal(d.metadata?.annotations?.keep, 'me');
    assert.deepEqual(d.spec?.selector, { matchLabels: { app: 'resnet' } }, 'selectors are never touched');
  });

  it('without a run: no azure-pipelines/* keys at all (never the word undefined)', () => {
    const objects = [deployment()];
    applyTraceability(objects, { imageDigest: `sha256:${'b'.repeat(64)}` });
    const keys = Object.keys(objects[0]!.metadata?.annotations ?? {});
    assert.ok(!keys.some((k) => k.startsWith('azure-pipelines/')), keys.join(', '));
    assert.ok(!JSON.stringify(objects).includes('undefined'));
  });
});
