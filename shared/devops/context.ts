/**
 * Which run a task is in, from the variables the agent sets (pure: the
 * caller passes a variable reader). A YAML run and a classic build are both
 * builds (System.HostType `build`); a classic release job (System.HostType
 * `release`) has Release.* variables, and the build that produced its artifact
 * is named by Release.Artifacts.<alias>.*; there Build.BuildId is the primary
 * artifact's build, not a run of this pipeline, so nothing is recorded on it.
 */
import { join } from 'node:path';

export type VariableReader = (name: string) => string | undefined;

/** A build (pipeline run) addressed through the REST API. */
export interface BuildRef {
  /** Project id or name. */
  project: string;
  buildId: number;
}

/** The build artifact a classic release deploys. */
export interface ReleaseArtifact {
  alias: string;
  /** The build that produced the artifact, when the artifact is a build (Release.Artifacts.<alias>.Type `Build`). */
  build?: BuildRef;
  definitionId?: number;
  /** Where the release downloaded the artifact: System.DefaultWorkingDirectory/<alias>. */
  directory?: string;
}

export interface RunContext {
  /** System.CollectionUri: the organization's URL, where the Build REST API lives. */
  collectionUri?: string;
  host: 'build' | 'release' | 'unknown';
  /** This run, in a build (YAML or classic); undefined in a release. */
  build?: BuildRef;
  /** This pipeline (System.DefinitionId), in a build. */
  definitionId?: number;
  /** In a classic release: the artifact that triggered it, else the primary one. */
  release?: ReleaseArtifact;
  releaseId?: string;
}

function positiveInt(v: string | undefined): number | undefined {
  if (!v || !/^\d+$/.test(v.trim())) return undefined;
  const n = Number(v.trim());
  return n > 0 && Number.isSafeInteger(n) ? n : undefined;
}

/** The run context from the agent's variables. */
export function runContext(get: VariableReader): RunContext {
  const collectionUri = get('System.CollectionUri');
  const project = get('System.TeamProjectId') ?? get('System.TeamProject');
  const hostType = (get('System.HostType') ?? '').toLowerCase();
  const releaseId = get('Release.ReleaseId');
  if (hostType === 'release' || hostType === 'deployment' || releaseId) {
    const alias = get('Release.TriggeringArtifact.Alias') ?? get('Release.PrimaryArtifactSourceAlias');
    let release: ReleaseArtifact | undefined;
    if (alias) {
      const v = (key: string) => get(`Release.Artifacts.${alias}.${key}`);
      const type = (v('Type') ?? 'Build').toLowerCase();
      const buildId = type === 'build' ? positiveInt(v('BuildId')) : undefined;
      const artifactProject = v('ProjectId') ?? project;
      const work = get('System.DefaultWorkingDirectory') ?? get('Agent.ReleaseDirectory');
      release = {
        alias,
        build: buildId && artifactProject ? { project: artifactProject, buildId } : undefined,
        definitionId: positiveInt(v('DefinitionId')),
        directory: work ? join(work, alias) : undefined,
      };
    }
    return { collectionUri, host: 'release', release, releaseId };
  }
  const buildId = positiveInt(get('Build.BuildId'));
  return {
    collectionUri,
    host: hostType === 'build' || buildId ? 'build' : 'unknown',
    build: buildId && project ? { project, buildId } : undefined,
    definitionId: positiveInt(get('System.DefinitionId')),
  };
}
