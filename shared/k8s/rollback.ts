/**
 * Rolling a Deployment back the way `kubectl rollout undo` does: among the
 * ReplicaSets the Deployment controls, take the one with the second-highest
 * `deployment.kubernetes.io/revision`, strip its `pod-template-hash` label and
 * JSON-patch its pod template (and the change-cause annotation) back into the
 * Deployment. The controller then rolls that revision out as a new one.
 */
import { KubeClient } from './client';
import { explainKubeError } from './explain';
import { isRecord, type KubeList, type KubeObject } from './types';

const REVISION_ANNOTATION = 'deployment.kubernetes.io/revision';
const POD_TEMPLATE_HASH = 'pod-template-hash';
/** Annotations kubectl does not copy from the ReplicaSet on rollback. */
const SKIPPED_ANNOTATIONS = new Set([
  'kubectl.kubernetes.io/last-applied-configuration',
  REVISION_ANNOTATION,
  'deployment.kubernetes.io/revision-history',
  'deployment.kubernetes.io/desired-replicas',
  'deployment.kubernetes.io/max-replicas',
  'deprecated.deployment.rollback.to',
]);

export function revisionOf(obj: KubeObject): number {
  const v = Number(obj.metadata?.annotations?.[REVISION_ANNOTATION]);
  return Number.isInteger(v) && v > 0 ? v : 0;
}

function controlledBy(rs: KubeObject, deployment: KubeObject): boolean {
  const uid = deployment.metadata?.uid;
  return (rs.metadata?.ownerReferences ?? []).some(
    (o) => o.controller === true && o.kind === 'Deployment' && (uid ? o.uid === uid : o.name === deployment.metadata?.name),
  );
}

interface RollbackTarget {
  replicaSet: KubeObject;
  revision: number;
  currentRevision: number;
}

/** kubectl's choice of the previous revision; undefined when there is no history to go back to. */
export function selectRollbackTarget(deployment: KubeObject, replicaSets: KubeObject[]): RollbackTarget | undefined {
  let latest: KubeObject | undefined;
  let previous: KubeObject | undefined;
  let maxRev = 0;
  let prevRev = 0;
  for (const rs of replicaSets.filter((r) => controlledBy(r, deployment))) {
    const v = revisionOf(rs);
    if (v > maxRev) {
      previous = latest;
      prevRev = maxRev;
      latest = rs;
      maxRev = v;
    } else if (v > prevRev) {
      previous = rs;
      prevRev = v;
    }
  }
  if (!previous || prevRev === 0) return undefined;
  return { replicaSet: previous, revision: prevRev, currentRevision: maxRev };
}

/** The ReplicaSet's pod template with `pod-template-hash` removed from its labels. */
export function templateForRollback(rs: KubeObject): Record<string, unknown> {
  const tpl = JSON.parse(JSON.stringify(rs.spec?.template ?? {})) as Record<string, unknown>;
  const meta = isRecord(tpl.metadata) ? tpl.metadata : undefined;
  if (meta && isRecord(meta.labels)) {
    delete meta.labels[POD_TEMPLATE_HASH];
  }
  return tpl;
}

/** JSON patch kubectl sends: replace the template, carry over the ReplicaSet's own annotations. */
export function rollbackPatch(deployment: KubeObject, rs: KubeObject): unknown[] {
  const annotations: Record<string, string> = { ...(deployment.metadata?.annotations ?? {}) };
  for (const [k, v] of Object.entries(rs.metadata?.annotations ?? {})) if (!SKIPPED_ANNOTATIONS.has(k)) annotations[k] = v;
  return [
    { op: 'replace', path: '/spec/template', value: templateForRollback(rs) },
    { op: 'replace', path: '/metadata/annotations', value: annotations },
  ];
}

function stripHash(tpl: unknown): string {
  const t = JSON.parse(JSON.stringify(tpl ?? {})) as Record<string, unknown>;
  if (isRecord(t.metadata) && isRecord(t.metadata.labels)) delete t.metadata.labels[POD_TEMPLATE_HASH];
  return JSON.stringify(t, Object.keys(flatKeys(t)).sort());
}

function flatKeys(v: unknown, acc: Record<string, true> = {}): Record<string, true> {
  if (Array.isArray(v)) v.forEach((x) => flatKeys(x, acc));
  else if (isRecord(v))
    for (const [k, x] of Object.entries(v)) {
      acc[k] = true;
      flatKeys(x, acc);
    }
  return acc;
}

export interface RollbackResult {
  /** Revision rolled back to (the ReplicaSet's revision before the controller renumbers it). */
  toRevision: number;
  fromRevision: number;
  image?: string;
  skipped?: string;
}

export function selectorQuery(deployment: KubeObject): string {
  const sel = deployment.spec?.selector;
  const ml = isRecord(sel) && isRecord(sel.matchLabels) ? (sel.matchLabels as Record<string, string>) : {};
  return Object.entries(ml)
    .map(([k, v]) => `${k}=${v}`)
    .join(',');
}

/** Undo the Deployment's last rollout. Returns undefined when there was no previous revision. */
export async function rollbackDeployment(client: KubeClient, deployment: KubeObject, fieldManager: string): Promise<RollbackResult | undefined> {
  const ns = deployment.metadata?.namespace ?? 'default';
  const name = deployment.metadata?.name ?? '';
  const doing = `rolling back Deployment/${name} (namespace ${ns})`;
  try {
    const live = await client.request<KubeObject>({ path: `/apis/apps/v1/namespaces/${encodeURIComponent(ns)}/deployments/${encodeURIComponent(name)}` });
    const list = await client.request<KubeList>({
      path: `/apis/apps/v1/namespaces/${encodeURIComponent(ns)}/replicasets`,
      query: { labelSelector: selectorQuery(live) || undefined },
    });
    const target = selectRollbackTarget(live, list.items);
    if (!target) return undefined;
    const image = firstImage(target.replicaSet);
    if (stripHash(target.replicaSet.spec?.template) === stripHash(live.spec?.template)) {
      return { toRevision: target.revision, fromRevision: target.currentRevision, image, skipped: 'the previous revision has the same pod template' };
    }
    await client.request({
      method: 'PATCH',
      path: `/apis/apps/v1/namespaces/${encodeURIComponent(ns)}/deployments/${encodeURIComponent(name)}`,
      query: { fieldManager },
      body: JSON.stringify(rollbackPatch(live, target.replicaSet)),
      contentType: 'application/json-patch+json',
    });
    return { toRevision: target.revision, fromRevision: target.currentRevision, image };
  } catch (err) {
    throw explainKubeError(err, doing);
  }
}

function firstImage(obj: KubeObject): string | undefined {
  const tpl = obj.spec?.template;
  const spec = isRecord(tpl) && isRecord(tpl.spec) ? tpl.spec : undefined;
  const cs = spec && Array.isArray(spec.containers) ? spec.containers : [];
  const c = cs.find(isRecord);
  return c && typeof c.image === 'string' ? c.image : undefined;
}
