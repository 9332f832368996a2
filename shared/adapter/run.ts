/**
 * The pipeline run a task belongs to, from the variables the agent sets: a
 * YAML run or a classic build (a build: its results page) or a classic release
 * (the release: its page and id, never the build of its artifact, whose
 * Build.* variables a release job also has). A deployment job that targets an
 * Environment also gets the environment and resource it deploys to.
 *
 * Pure: it reads variables through the function it is given, so tests pass the
 * agent's variables as a plain map. adapter.pipelineRun() reads them from task-lib.
 */
import type { RunIdentity } from '../k8s/traceability';

/** A run as the library sees it: shared/k8s/traceability.ts's RunIdentity, plus what the summaries and links use. */
export interface PipelineRun extends RunIdentity {
  /** Release.EnvironmentName: the release stage. */
  stage?: string;
  /** Environment.* of a deployment job targeting `environment: name[.resource]`. */
  environment?: { name?: string; id?: string; resourceName?: string; resourceId?: string };
}

type Variables = (name: string) => string | undefined;

function withSlash(uri: string): string {
  return uri.endsWith('/') ? uri : `${uri}/`;
}

export function pipelineRunFrom(get: Variables): PipelineRun | undefined {
  const v = (name: string) => {
    const value = get(name)?.trim();
    return value ? value : undefined;
  };
  const collection = v('System.CollectionUri') ?? v('System.TeamFoundationCollectionUri');
  const collectionUri = collection ? withSlash(collection) : undefined;
  const project = v('System.TeamProject');
  const base = collectionUri && project ? `${collectionUri}${encodeURIComponent(project)}` : undefined;
  const jobName = v('Agent.JobName');
  const hostType = (v('System.HostType') ?? '').toLowerCase();
  const releaseId = v('Release.ReleaseId');
  // A classic release's agent job has System.HostType 'release', its deployment group job 'deployment'; both
  // also carry the Build.* variables of the primary artifact, which must not be taken for the run.
  if (releaseId && hostType !== 'build') {
    return strip<PipelineRun>({
      kind: 'release',
      id: releaseId,
      name: v('Release.ReleaseName'),
      url: v('Release.ReleaseWebURL') ?? (base ? `${base}/_releaseProgress?releaseId=${encodeURIComponent(releaseId)}` : undefined),
      definitionName: v('Release.DefinitionName'),
      definitionId: v('Release.DefinitionId'),
      jobName,
      project,
      collectionUri,
      stage: v('Release.EnvironmentName'),
    });
  }
  const buildId = v('Build.BuildId');
  if (!buildId) return undefined;
  const env = {
    name: v('Environment.Name'),
    id: v('Environment.Id'),
    resourceName: v('Environment.ResourceName'),
    resourceId: v('Environment.ResourceId'),
  };
  return strip<PipelineRun>({
    kind: 'build',
    id: buildId,
    name: v('Build.BuildNumber'),
    url: base ? `${base}/_build/results?buildId=${encodeURIComponent(buildId)}` : undefined,
    definitionName: v('Build.DefinitionName'),
    definitionId: v('System.DefinitionId'),
    jobName,
    project,
    collectionUri,
    environment: env.name || env.resourceName ? strip(env) : undefined,
  });
}

/** The object without its undefined fields (so records compare and print cleanly). */
function strip<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, x]) => x !== undefined)) as T;
}
