/**
 * Traceability: labels and annotations linking every applied object and its
 * pods to the pipeline run, the image digest and the model. Label values are
 * sanitised to the label grammar (at most 63 characters of [A-Za-z0-9-_.],
 * alphanumeric at both ends); full values go into annotations.
 *
 * Beside this extension's own keys, the objects and pod templates get the
 * annotations Microsoft's Kubernetes tasks write (azure-pipelines-tasks'
 * kubernetes-common `pipelineAnnotations`): azure-pipelines/run, pipeline,
 * pipelineId, jobName, runuri, project and org, which an Environment's
 * Kubernetes resource view reads to link a workload to the run that made it.
 * Microsoft's tasks pass some of them through kubectl with literal double
 * quotes around the value; here every value is written plain.
 */
import { withoutSha256Prefix } from '../digest';
import { getPath, POD_TEMPLATE_PATHS } from './manifests';
import type { KubeObject } from './types';

const TraceKey = {
  PipelineRunUrl: 'modeltoaks.io/pipeline-run-url',
  PipelineRunId: 'modeltoaks.io/pipeline-run-id',
  Image: 'modeltoaks.io/image',
  ImageDigest: 'modeltoaks.io/image-digest',
  ModelUri: 'modeltoaks.io/model-uri',
  ModelVersion: 'modeltoaks.io/model-version',
  ModelSha256: 'modeltoaks.io/model-sha256',
  Environment: 'modeltoaks.io/environment',
} as const;

/** The pipeline run, as far as the annotations need it (adapter/run.ts PipelineRun has this shape). */
export interface RunIdentity {
  kind: 'build' | 'release';
  /** Build id, or release id. */
  id: string;
  /** Build number, or release name. */
  name?: string;
  url?: string;
  definitionName?: string;
  definitionId?: string;
  jobName?: string;
  project?: string;
  collectionUri?: string;
  environment?: { name?: string; resourceName?: string };
}

export interface TraceInfo {
  /** The run: its azure-pipelines/* annotations and the Environment it deploys to. */
  run?: RunIdentity;
  pipelineRunUrl?: string;
  pipelineRunId?: string;
  image?: string;
  imageDigest?: string;
  modelUri?: string;
  modelVersion?: string;
  modelSha256?: string;
}

/** A valid label value derived from any string ('' when nothing usable is left). */
export function sanitizeLabelValue(value: string): string {
  let v = value.replace(/[^A-Za-z0-9._-]+/g, '-');
  v = v.slice(0, 63);
  v = v.replace(/^[^A-Za-z0-9]+/, '').replace(/[^A-Za-z0-9]+$/, '');
  return v;
}

/**
 * The annotations Microsoft's Kubernetes tasks (KubernetesManifest, Kubernetes, HelmDeploy) write: in a build,
 * run = the build number and runuri = the build results page; in a classic release, run = the release id and
 * runuri = the release page. Keys whose value is unknown are left out (never the text "undefined").
 */
export function pipelineAnnotations(run: RunIdentity): Record<string, string> {
  const a: Record<string, string> = {};
  const put = (k: string, v: string | undefined) => {
    if (v) a[`azure-pipelines/${k}`] = v;
  };
  put('run', run.kind === 'release' ? run.id : (run.name ?? run.id));
  put('pipeline', run.definitionName);
  put('pipelineId', run.definitionId);
  put('jobName', run.jobName);
  put('runuri', run.url);
  put('project', run.project);
  put('org', run.collectionUri);
  return a;
}

/** `name.resource` of the Environment a deployment job targets (`name` alone without a resource). */
function environmentOf(run: RunIdentity | undefined): string | undefined {
  const e = run?.environment;
  if (!e?.name) return undefined;
  return e.resourceName ? `${e.name}.${e.resourceName}` : e.name;
}

function traceAnnotations(t: TraceInfo): Record<string, string> {
  const a: Record<string, string> = t.run ? pipelineAnnotations(t.run) : {};
  if (t.pipelineRunUrl) a[TraceKey.PipelineRunUrl] = t.pipelineRunUrl;
  if (t.pipelineRunId) a[TraceKey.PipelineRunId] = t.pipelineRunId;
  if (t.image) a[TraceKey.Image] = t.image;
  if (t.imageDigest) a[TraceKey.ImageDigest] = t.imageDigest;
  if (t.modelUri) a[TraceKey.ModelUri] = t.modelUri;
  if (t.modelVersion) a[TraceKey.ModelVersion] = t.modelVersion;
  if (t.modelSha256) a[TraceKey.ModelSha256] = t.modelSha256;
  const environment = environmentOf(t.run);
  if (environment) a[TraceKey.Environment] = environment;
  return a;
}

/** Labels: short, selectable values (digest and sha256 without the algorithm prefix, cut to 63). */
export function traceLabels(t: TraceInfo): Record<string, string> {
  const l: Record<string, string> = {};
  const put = (k: string, v: string | undefined) => {
    if (!v) return;
    const s = sanitizeLabelValue(v);
    if (s) l[k] = s;
  };
  put(TraceKey.PipelineRunId, t.pipelineRunId);
  put(TraceKey.ImageDigest, t.imageDigest && withoutSha256Prefix(t.imageDigest));
  put(TraceKey.ModelVersion, t.modelVersion);
  put(TraceKey.ModelSha256, t.modelSha256 && withoutSha256Prefix(t.modelSha256));
  return l;
}

function stamp(meta: Record<string, unknown>, labels: Record<string, string>, annotations: Record<string, string>): void {
  const l = (meta.labels && typeof meta.labels === 'object' ? meta.labels : {}) as Record<string, string>;
  const a = (meta.annotations && typeof meta.annotations === 'object' ? meta.annotations : {}) as Record<string, string>;
  if (Object.keys(labels).length) meta.labels = { ...l, ...labels };
  if (Object.keys(annotations).length) meta.annotations = { ...a, ...annotations };
}

/** Stamp every object's metadata and, for workloads, its pod template (in place). Selectors are never touched. */
export function applyTraceability(objects: KubeObject[], t: TraceInfo): void {
  const labels = traceLabels(t);
  const annotations = traceAnnotations(t);
  for (const obj of objects) {
    obj.metadata = obj.metadata ?? {};
    stamp(obj.metadata, labels, annotations);
    const tplPath = POD_TEMPLATE_PATHS[obj.kind ?? ''];
    const tpl = tplPath ? getPath(obj, tplPath) : undefined;
    if (tpl) {
      const meta = (tpl.metadata && typeof tpl.metadata === 'object' ? tpl.metadata : {}) as Record<string, unknown>;
      tpl.metadata = meta;
      stamp(meta, labels, annotations);
    }
  }
}
