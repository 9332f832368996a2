/**
 * Traceability: labels and annotations linking every applied object and its
 * pods to the pipeline run, the image digest and the model. Label values are
 * sanitised to the label grammar (at most 63 characters of [A-Za-z0-9-_.],
 * alphanumeric at both ends); full values go into annotations.
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
} as const;

export interface TraceInfo {
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

function traceAnnotations(t: TraceInfo): Record<string, string> {
  const a: Record<string, string> = {};
  if (t.pipelineRunUrl) a[TraceKey.PipelineRunUrl] = t.pipelineRunUrl;
  if (t.pipelineRunId) a[TraceKey.PipelineRunId] = t.pipelineRunId;
  if (t.image) a[TraceKey.Image] = t.image;
  if (t.imageDigest) a[TraceKey.ImageDigest] = t.imageDigest;
  if (t.modelUri) a[TraceKey.ModelUri] = t.modelUri;
  if (t.modelVersion) a[TraceKey.ModelVersion] = t.modelVersion;
  if (t.modelSha256) a[TraceKey.ModelSha256] = t.modelSha256;
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
