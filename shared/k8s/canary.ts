/**
 * Canary releases, the pure part: names, labels, replica arithmetic, traffic
 * weights, and the objects a canary adds beside an untouched stable workload
 * (canary and baseline Deployments, per-track Services, an SMI TrafficSplit,
 * Gateway API HTTPRoute backend weights). The cluster work (discovery, apply,
 * promote, reject) is in release.ts.
 *
 * Tracks: every pod DeployToAKS rolls out carries `modeltoaks.io/track`
 * (`stable` for strategy none and promote, `canary`, `baseline`), so a Service
 * can select one track and anyone can see which model serves which share.
 */
import { InputError } from '../errors';
import { isRecord, type KubeObject } from './types';
import { INPUT_RULES, type IntRule } from '../inputs/rules';

export const TRACK_LABEL = 'modeltoaks.io/track';
export type Track = 'stable' | 'canary' | 'baseline';

export const CanaryKey = {
  /** On canary objects: the stable workload or Service they stand beside. */
  CanaryOf: 'modeltoaks.io/canary-of',
  Percentage: 'modeltoaks.io/canary-percentage',
  Method: 'modeltoaks.io/traffic-split-method',
  /** On the canary Deployment: JSON list of the other objects the canary created ({apiVersion, kind, name}). */
  Objects: 'modeltoaks.io/canary-objects',
  /** On an HTTPRoute the canary re-weighted: JSON {ruleIndex: original backendRefs}. */
  OriginalBackends: 'modeltoaks.io/canary-original-backends',
} as const;

export const ACTIONS = ['deploy', 'promote', 'reject'] as const;
export type ReleaseAction = (typeof ACTIONS)[number];
export const STRATEGIES = ['none', 'canary'] as const;
export type Strategy = (typeof STRATEGIES)[number];
export const TRAFFIC_SPLIT_METHODS = ['pod', 'gatewayApi', 'smi'] as const;
export type TrafficSplitMethod = (typeof TRAFFIC_SPLIT_METHODS)[number];

/** The canary inputs' defaults (task.json repeats them as literals; tests/unit/defaults.test.ts keeps them equal). */
export const CANARY_DEFAULTS = {
  action: 'deploy',
  strategy: 'none',
  percentage: 10,
  trafficSplitMethod: 'pod',
  baselineAndCanaryReplicas: 1,
} as const;

const intRule = (name: string): IntRule => {
  const rule = INPUT_RULES.DeployToAKS?.[name];
  if (rule?.kind !== 'int') throw new Error(`no integer rule for DeployToAKS input '${name}'`);
  return rule;
};
/** The ranges of the percentage and replica inputs: the one table of input rules (shared/inputs/rules.ts). */
export const PERCENTAGE_RANGE: { readonly min: number; readonly max: number } = intRule('percentage');
export const REPLICAS_RANGE: { readonly min: number; readonly max: number } = intRule('baselineAndCanaryReplicas');

/** A reference to an object the canary created. */
export interface ObjectRef {
  apiVersion: string;
  kind: string;
  name: string;
}

export const canaryName = (name: string): string => `${name}-canary`;
export const baselineName = (name: string): string => `${name}-baseline`;
export const trackServiceName = (service: string, track: Track): string => `${service}-${track}`;

/** Longest Service name that still leaves room for `-baseline` in a 63-character DNS label. */
const MAX_SERVICE_BASE = 63 - '-baseline'.length;

/**
 * Canary replicas for the `pod` split: the count c that makes c / (stable + c)
 * closest to the percentage, at least 1 (a canary with no pod serves nothing).
 */
export function podCanaryReplicas(stableReplicas: number, percentage: number): number {
  checkPercentage(percentage);
  if (stableReplicas <= 0) return 1;
  return Math.max(1, Math.round((stableReplicas * percentage) / (100 - percentage)));
}

/** The share (whole percent) of `part` pods among `total`. */
export function share(part: number, total: number): number {
  return total > 0 ? Math.round((part * 100) / total) : 0;
}

export interface Weights {
  stable: number;
  canary: number;
  baseline?: number;
}

/**
 * Route or TrafficSplit weights (they add up to 100): the canary gets the
 * percentage; with SMI a baseline (the stable version on fresh pods, to compare
 * like with like) gets as much, taken from the stable share.
 */
export function trafficWeights(method: TrafficSplitMethod, percentage: number): Weights {
  checkPercentage(percentage);
  if (method === 'smi') {
    if (percentage * 2 > 100) {
      throw new InputError(
        'percentage',
        `'percentage' (${percentage}) must be at most 50 with trafficSplitMethod smi: the baseline gets as much traffic as the canary; lower it.`,
      );
    }
    return { stable: 100 - 2 * percentage, baseline: percentage, canary: percentage };
  }
  return { stable: 100 - percentage, canary: percentage };
}

function checkPercentage(percentage: number): void {
  if (!Number.isInteger(percentage) || percentage < PERCENTAGE_RANGE.min || percentage > PERCENTAGE_RANGE.max) {
    throw new InputError(
      'percentage',
      `'percentage' must be a whole number between ${PERCENTAGE_RANGE.min} and ${PERCENTAGE_RANGE.max} (got '${percentage}'): the canary's share of the traffic.`,
    );
  }
}

const clone = <T>(v: T): T => JSON.parse(JSON.stringify(v)) as T;

function record(v: unknown): Record<string, unknown> {
  return isRecord(v) ? v : {};
}

function strings(v: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, x] of Object.entries(record(v))) if (typeof x === 'string') out[k] = x;
  return out;
}

/** The pod template labels of a workload. */
export function templateLabels(workload: KubeObject): Record<string, string> {
  return strings(record(record(record(workload.spec).template).metadata).labels);
}

/** The matchLabels of a workload's selector. */
export function selectorLabels(workload: KubeObject): Record<string, string> {
  return strings(record(record(workload.spec).selector).matchLabels);
}

/** A Service's selector. */
export function serviceSelector(service: KubeObject): Record<string, string> {
  return strings(record(service.spec).selector);
}

/** Puts the track label on the pod templates of the workloads (in place): what strategy none and promote roll out. */
export function labelTrack(objects: KubeObject[], track: Track): void {
  for (const obj of objects) {
    if (obj.kind !== 'Deployment') continue;
    const tpl = record(obj.spec?.template);
    const meta = record(tpl.metadata);
    meta.labels = { ...strings(meta.labels), [TRACK_LABEL]: track };
    tpl.metadata = meta;
    if (obj.spec) obj.spec.template = tpl;
  }
}

export interface CanaryWorkloadOptions {
  track: 'canary' | 'baseline';
  replicas: number;
  percentage: number;
  method: TrafficSplitMethod;
}

/**
 * The canary (or baseline) Deployment beside `source`: named `<name>-canary`,
 * its selector and pod labels extended with the track, its replica count set;
 * everything else (image, probes, resources, model identity) as in `source`.
 * For a baseline, `source` is the live stable Deployment.
 */
export function trackWorkload(source: KubeObject, o: CanaryWorkloadOptions): KubeObject {
  const name = source.metadata?.name ?? '';
  const spec = clone(record(source.spec));
  const tpl = record(spec.template);
  const tplMeta = record(tpl.metadata);
  const labels: Record<string, string> = { ...strings(tplMeta.labels), [TRACK_LABEL]: o.track };
  delete labels['pod-template-hash'];
  tplMeta.labels = labels;
  tpl.metadata = tplMeta;
  const out: Record<string, unknown> = {
    ...spec,
    replicas: o.replicas,
    selector: { matchLabels: { ...selectorLabels(source), [TRACK_LABEL]: o.track } },
    template: tpl,
  };
  const meta = source.metadata ?? {};
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: {
      name: o.track === 'canary' ? canaryName(name) : baselineName(name),
      ...(meta.namespace ? { namespace: meta.namespace } : {}),
      labels: { ...strings(meta.labels), [TRACK_LABEL]: o.track },
      annotations: {
        ...withoutServerAnnotations(strings(meta.annotations)),
        [CanaryKey.CanaryOf]: name,
        [CanaryKey.Percentage]: String(o.percentage),
        [CanaryKey.Method]: o.method,
      },
    },
    spec: out,
  };
}

/** Annotations the API server or controllers own: never copied to a new object. */
function withoutServerAnnotations(a: Record<string, string>): Record<string, string> {
  const out = { ...a };
  for (const k of Object.keys(out)) if (k.startsWith('deployment.kubernetes.io/') || k === 'kubectl.kubernetes.io/last-applied-configuration') delete out[k];
  return out;
}

/**
 * A ClusterIP Service selecting one track of the pods `service` selects:
 * `<service>-<track>`, same ports, no load balancer.
 */
export function trackService(service: KubeObject, track: Track): KubeObject {
  const name = service.metadata?.name ?? '';
  if (name.length > MAX_SERVICE_BASE) {
    throw new InputError(
      'strategy',
      `Service '${name}' is too long a name for a canary (${name.length} characters; the '-baseline' copy must fit 63): shorten it to ${MAX_SERVICE_BASE} characters or use strategy none.`,
    );
  }
  const spec = record(service.spec);
  const ports = Array.isArray(spec.ports)
    ? spec.ports.filter(isRecord).map((p) => {
        const q = { ...p };
        delete q.nodePort;
        return q;
      })
    : [];
  const meta = service.metadata ?? {};
  // The rendered Service carries the new model's identity: only the canary's copy keeps it.
  const labels = Object.fromEntries(Object.entries(strings(meta.labels)).filter(([k]) => track === 'canary' || !k.startsWith('modeltoaks.io/')));
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: {
      name: trackServiceName(name, track),
      ...(meta.namespace ? { namespace: meta.namespace } : {}),
      labels: { ...labels, [TRACK_LABEL]: track },
      annotations: { [CanaryKey.CanaryOf]: name },
    },
    spec: { type: 'ClusterIP', selector: { ...serviceSelector(service), [TRACK_LABEL]: track }, ports },
  };
}

/** Whether a Service selects a workload's pods (its selector is a non-empty subset of the pod labels). */
export function selects(service: KubeObject, workload: KubeObject): boolean {
  const sel = serviceSelector(service);
  const labels = templateLabels(workload);
  const keys = Object.keys(sel);
  return keys.length > 0 && keys.every((k) => labels[k] === sel[k]);
}

/** An SMI TrafficSplit on `service` (the root every client calls) over its track Services. */
export function trafficSplit(apiVersion: string, service: string, namespace: string | undefined, weights: Weights): KubeObject {
  const backends = [
    { service: trackServiceName(service, 'stable'), weight: weights.stable },
    ...(weights.baseline !== undefined ? [{ service: trackServiceName(service, 'baseline'), weight: weights.baseline }] : []),
    { service: trackServiceName(service, 'canary'), weight: weights.canary },
  ];
  return {
    apiVersion,
    kind: 'TrafficSplit',
    metadata: { name: canaryName(service), ...(namespace ? { namespace } : {}), annotations: { [CanaryKey.CanaryOf]: service } },
    spec: { service, backends },
  };
}

interface BackendRef {
  name?: string;
  kind?: string;
  group?: string;
  namespace?: string;
  port?: number;
  weight?: number;
  [key: string]: unknown;
}

function isServiceRef(ref: BackendRef, service: string, routeNamespace: string | undefined, serviceNamespace: string | undefined): boolean {
  return (
    ref.name === service &&
    (ref.kind === undefined || ref.kind === 'Service') &&
    (ref.group === undefined || ref.group === '') &&
    (ref.namespace ?? routeNamespace) === serviceNamespace
  );
}

function rulesOf(route: KubeObject): Record<string, unknown>[] {
  const rules = route.spec?.rules;
  return Array.isArray(rules) ? rules.filter(isRecord) : [];
}

function backendRefsOf(rule: Record<string, unknown>): BackendRef[] {
  return Array.isArray(rule.backendRefs) ? (rule.backendRefs.filter(isRecord) as BackendRef[]) : [];
}

/** Whether any rule of an HTTPRoute sends traffic to `service` (or, split by a canary, to its stable and canary copies). */
export function routeReferences(route: KubeObject, service: string, namespace: string | undefined): boolean {
  const names = [service, trackServiceName(service, 'stable'), trackServiceName(service, 'canary')];
  return rulesOf(route).some((r) => backendRefsOf(r).some((b) => names.some((n) => isServiceRef(b, n, route.metadata?.namespace, namespace))));
}

/**
 * A JSON patch that splits every rule of `route` whose backend is `service`
 * between `<service>-stable` and `<service>-canary` with the weights, keeping
 * the original backendRefs in an annotation for promote and reject. The patch
 * tests the resourceVersion: a route changed meanwhile is not overwritten.
 * A rule that sends traffic to other backends too is refused (its weights
 * could not carry the percentage). On a route this canary already split, only
 * the weights change (a later step of the same canary).
 */
export function routeCanaryPatch(route: KubeObject, service: string, namespace: string | undefined, weights: Weights): unknown[] {
  const name = route.metadata?.name ?? '';
  if (route.metadata?.annotations?.[CanaryKey.OriginalBackends]) {
    // A later step of this canary (e.g. 10% -> 50%): new weights, the original backends stay recorded.
    const ops: unknown[] = [{ op: 'test', path: '/metadata/resourceVersion', value: route.metadata?.resourceVersion }];
    rulesOf(route).forEach((rule, i) => {
      const refs = backendRefsOf(rule);
      const stable = refs.find((b) => b.name === trackServiceName(service, 'stable'));
      const canary = refs.find((b) => b.name === trackServiceName(service, 'canary'));
      if (!stable || !canary || refs.length !== 2) return;
      ops.push({
        op: 'replace',
        path: `/spec/rules/${i}/backendRefs`,
        value: [
          { ...stable, weight: weights.stable },
          { ...canary, weight: weights.canary },
        ],
      });
    });
    if (ops.length > 1) return ops;
    throw new InputError(
      'trafficSplitMethod',
      `HTTPRoute '${name}' already carries another canary's weights (annotation ${CanaryKey.OriginalBackends}): promote or reject that canary first.`,
    );
  }
  const original: Record<string, BackendRef[]> = {};
  const ops: unknown[] = [{ op: 'test', path: '/metadata/resourceVersion', value: route.metadata?.resourceVersion }];
  rulesOf(route).forEach((rule, i) => {
    const refs = backendRefsOf(rule);
    const mine = refs.filter((b) => isServiceRef(b, service, route.metadata?.namespace, namespace));
    if (mine.length === 0) return;
    if (mine.length !== refs.length) {
      throw new InputError(
        'trafficSplitMethod',
        `Rule ${i + 1} of HTTPRoute '${name}' sends traffic to Service '${service}' and to other backends: its weights cannot carry the canary's share; give Service '${service}' a rule of its own.`,
      );
    }
    const ref = mine[0] as BackendRef;
    original[String(i)] = refs;
    const base: BackendRef = { ...ref };
    delete base.weight;
    ops.push({
      op: 'replace',
      path: `/spec/rules/${i}/backendRefs`,
      value: [
        { ...base, name: trackServiceName(service, 'stable'), weight: weights.stable },
        { ...base, name: trackServiceName(service, 'canary'), weight: weights.canary },
      ],
    });
  });
  const annotations = { ...(route.metadata?.annotations ?? {}), [CanaryKey.OriginalBackends]: JSON.stringify(original) };
  ops.push({ op: route.metadata?.annotations ? 'replace' : 'add', path: '/metadata/annotations', value: annotations });
  return ops;
}

/** The JSON patch that puts a route's original backendRefs back (undefined when the canary never changed it). */
export function routeRestorePatch(route: KubeObject): unknown[] | undefined {
  const saved = route.metadata?.annotations?.[CanaryKey.OriginalBackends];
  if (!saved) return undefined;
  let original: Record<string, unknown>;
  try {
    original = record(JSON.parse(saved));
  } catch {
    return undefined;
  }
  const ops: unknown[] = [{ op: 'test', path: '/metadata/resourceVersion', value: route.metadata?.resourceVersion }];
  const count = rulesOf(route).length;
  for (const [i, refs] of Object.entries(original)) {
    if (Number(i) < count && Array.isArray(refs)) ops.push({ op: 'replace', path: `/spec/rules/${i}/backendRefs`, value: refs });
  }
  const annotations = { ...(route.metadata?.annotations ?? {}) };
  delete annotations[CanaryKey.OriginalBackends];
  ops.push({ op: 'replace', path: '/metadata/annotations', value: annotations });
  return ops;
}

/** The weights a route gives the stable and canary track Services of `service` (undefined when it does not split it). */
export function routeWeights(route: KubeObject, service: string): { stable: number; canary: number } | undefined {
  for (const rule of rulesOf(route)) {
    const refs = backendRefsOf(rule);
    const w = (track: Track) => refs.find((b) => b.name === trackServiceName(service, track))?.weight;
    const stable = w('stable');
    const canary = w('canary');
    if (stable !== undefined && canary !== undefined) return { stable, canary };
  }
  return undefined;
}

/** The objects a canary created, from its Deployment's annotation. */
export function canaryObjects(canary: KubeObject): ObjectRef[] {
  const raw = canary.metadata?.annotations?.[CanaryKey.Objects];
  if (!raw) return [];
  try {
    const list: unknown = JSON.parse(raw);
    return Array.isArray(list)
      ? list.filter((x): x is ObjectRef => isRecord(x) && typeof x.apiVersion === 'string' && typeof x.kind === 'string' && typeof x.name === 'string')
      : [];
  } catch {
    return [];
  }
}

export function refOf(obj: KubeObject): ObjectRef {
  return { apiVersion: obj.apiVersion ?? '', kind: obj.kind ?? '', name: obj.metadata?.name ?? '' };
}

// ---------------------------------------------------------------- what serves which share

/** One workload and the share of the traffic (or of the pods behind a Service) it serves, with its model. */
export interface Serving {
  track: Track;
  workload: string;
  image?: string;
  modelUri?: string;
  modelVersion?: string;
  modelSha256?: string;
  replicas: number;
  /** Whole percent. */
  percent: number;
  /** `traffic`: weights of a route or TrafficSplit; `pods`: the pod count behind one Service. */
  by: 'traffic' | 'pods';
}

/** The model identity DeployToAKS stamped on a workload (traceability annotations), and its image. */
export function identityOf(workload: KubeObject): Pick<Serving, 'image' | 'modelUri' | 'modelVersion' | 'modelSha256'> {
  const a = workload.metadata?.annotations ?? {};
  const spec = record(record(record(workload.spec).template).spec);
  const containers = Array.isArray(spec.containers) ? spec.containers.filter(isRecord) : [];
  const first = containers.find((c) => typeof c.image === 'string');
  return {
    image: a['modeltoaks.io/image'] ?? (typeof first?.image === 'string' ? first.image : undefined),
    modelUri: a['modeltoaks.io/model-uri'],
    modelVersion: a['modeltoaks.io/model-version'],
    modelSha256: a['modeltoaks.io/model-sha256'],
  };
}

export function servingOf(workload: KubeObject, track: Track, share: { percent: number; by: 'traffic' | 'pods'; replicas?: number }): Serving {
  const replicas = share.replicas ?? (typeof workload.spec?.replicas === 'number' ? workload.spec.replicas : 1);
  return {
    track,
    workload: `${workload.kind ?? 'Deployment'}/${workload.metadata?.name ?? ''}`,
    ...identityOf(workload),
    replicas,
    percent: share.percent,
    by: share.by,
  };
}

/** One line: `stable Deployment/resnet (model 1.1.0, image ...@sha256:abcdef012345) 90% of traffic; canary ...`. */
export function servingSummary(serving: Serving[]): string {
  return serving
    .map((s) => {
      const digest = s.image?.includes('@') ? s.image.slice(s.image.indexOf('@') + 1, s.image.indexOf('@') + 20) : s.image;
      const what = [s.modelVersion ? `model ${s.modelVersion}` : 'model version unknown', digest ? `image ${digest}` : ''].filter(Boolean).join(', ');
      const share = s.by === 'pods' ? `${s.percent}% of the pods behind its Service (${s.replicas} pod(s))` : `${s.percent}% of traffic`;
      return `${s.track} ${s.workload} (${what}): ${share}`;
    })
    .join('; ');
}
