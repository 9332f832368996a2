/**
 * Rollout status of Deployments, StatefulSets and DaemonSets, computed the way
 * `kubectl rollout status` does (kubectl pkg/polymorphichelpers/rollout_status.go).
 * Pure functions of the object as read from the API server; Go omits zero
 * status fields, so a missing number counts as 0.
 */
import { isRecord, num, type Condition, type KubeObject } from './types';

interface RolloutStatus {
  /** kubectl's progress or completion message (without the trailing newline). */
  message: string;
  done: boolean;
  /** Set when the rollout can no longer succeed (progress deadline exceeded, unsupported strategy). */
  error?: string;
}

function conditions(obj: KubeObject): Condition[] {
  const c = obj.status?.conditions;
  return Array.isArray(c) ? (c.filter((x) => isRecord(x) && typeof x.type === 'string') as unknown as Condition[]) : [];
}

function getCondition(obj: KubeObject, type: string): Condition | undefined {
  return conditions(obj).find((c) => c.type === type);
}

function specReplicas(obj: KubeObject): number | undefined {
  const r = obj.spec?.replicas;
  return typeof r === 'number' ? r : undefined;
}

/**
 * `revision` > 0 also requires the Deployment's current revision annotation to be
 * that revision (kubectl's `--revision`).
 */
export function deploymentStatus(d: KubeObject, revision = 0): RolloutStatus {
  const name = d.metadata?.name ?? '';
  if (revision > 0) {
    const current = Number(d.metadata?.annotations?.['deployment.kubernetes.io/revision'] ?? NaN);
    if (!Number.isFinite(current)) return { message: '', done: false, error: `cannot get the revision of deployment "${name}"` };
    if (revision !== current) return { message: '', done: false, error: `desired revision (${revision}) is different from the running revision (${current})` };
  }
  const st = d.status ?? {};
  if (num(d.metadata?.generation) <= num(st.observedGeneration)) {
    const cond = getCondition(d, 'Progressing');
    if (cond && cond.reason === 'ProgressDeadlineExceeded') {
      return { message: '', done: false, error: `deployment "${name}" exceeded its progress deadline` };
    }
    const want = specReplicas(d);
    const updated = num(st.updatedReplicas);
    if (want !== undefined && updated < want) {
      return { message: `Waiting for deployment "${name}" rollout to finish: ${updated} out of ${want} new replicas have been updated...`, done: false };
    }
    if (num(st.replicas) > updated) {
      return {
        message: `Waiting for deployment "${name}" rollout to finish: ${num(st.replicas) - updated} old replicas are pending termination...`,
        done: false,
      };
    }
    if (num(st.availableReplicas) < updated) {
      return {
        message: `Waiting for deployment "${name}" rollout to finish: ${num(st.availableReplicas)} of ${updated} updated replicas are available...`,
        done: false,
      };
    }
    return { message: `deployment "${name}" successfully rolled out`, done: true };
  }
  return { message: 'Waiting for deployment spec update to be observed...', done: false };
}

function strategyType(obj: KubeObject): string {
  const s = obj.spec?.updateStrategy;
  // The API server defaults the strategy to RollingUpdate.
  return isRecord(s) && typeof s.type === 'string' ? s.type : 'RollingUpdate';
}

export function daemonSetStatus(ds: KubeObject): RolloutStatus {
  const name = ds.metadata?.name ?? '';
  if (strategyType(ds) !== 'RollingUpdate') {
    return { message: '', done: true, error: 'rollout status is only available for RollingUpdate strategy type' };
  }
  const st = ds.status ?? {};
  if (num(ds.metadata?.generation) <= num(st.observedGeneration)) {
    const updated = num(st.updatedNumberScheduled);
    const desired = num(st.desiredNumberScheduled);
    if (updated < desired)
      return { message: `Waiting for daemon set "${name}" rollout to finish: ${updated} out of ${desired} new pods have been updated...`, done: false };
    const available = num(st.numberAvailable);
    if (available < desired)
      return { message: `Waiting for daemon set "${name}" rollout to finish: ${available} of ${desired} updated pods are available...`, done: false };
    return { message: `daemon set "${name}" successfully rolled out`, done: true };
  }
  return { message: 'Waiting for daemon set spec update to be observed...', done: false };
}

export function statefulSetStatus(sts: KubeObject): RolloutStatus {
  if (strategyType(sts) !== 'RollingUpdate') {
    return { message: '', done: true, error: 'rollout status is only available for RollingUpdate strategy type' };
  }
  const st = sts.status ?? {};
  const observed = num(st.observedGeneration);
  if (observed === 0 || num(sts.metadata?.generation) > observed) {
    return { message: 'Waiting for statefulset spec update to be observed...', done: false };
  }
  const want = specReplicas(sts);
  const ready = num(st.readyReplicas);
  if (want !== undefined && ready < want) return { message: `Waiting for ${want - ready} pods to be ready...`, done: false };
  const strategy = sts.spec?.updateStrategy;
  const rolling = isRecord(strategy) ? strategy.rollingUpdate : undefined;
  if (isRecord(rolling)) {
    const partition = rolling.partition;
    if (want !== undefined && typeof partition === 'number') {
      if (num(st.updatedReplicas) < want - partition) {
        return {
          message: `Waiting for partitioned roll out to finish: ${num(st.updatedReplicas)} out of ${want - partition} new pods have been updated...`,
          done: false,
        };
      }
    }
    return { message: `partitioned roll out complete: ${num(st.updatedReplicas)} new pods have been updated...`, done: true };
  }
  if (st.updateRevision !== st.currentRevision) {
    return {
      message: `waiting for statefulset rolling update to complete ${num(st.updatedReplicas)} pods at revision ${String(st.updateRevision ?? '')}...`,
      done: false,
    };
  }
  return { message: `statefulset rolling update complete ${num(st.currentReplicas)} pods at revision ${String(st.currentRevision ?? '')}...`, done: true };
}

export function rolloutStatus(obj: KubeObject): RolloutStatus {
  switch (obj.kind) {
    case 'Deployment':
      return deploymentStatus(obj);
    case 'StatefulSet':
      return statefulSetStatus(obj);
    case 'DaemonSet':
      return daemonSetStatus(obj);
    default:
      return { message: `${obj.kind ?? 'object'} "${obj.metadata?.name ?? ''}" has no rollout`, done: true };
  }
}
