/**
 * Why a rollout failed: the workload's conditions, the failing pods' states
 * and reasons (ImagePullBackOff, CrashLoopBackOff, OOMKilled, Unschedulable...),
 * recent events and the last lines of the failing containers' logs. Best
 * effort: anything that cannot be read is mentioned and skipped.
 */
import { errorMessage } from '../errors';
import { KubeClient } from './client';
import { selectorQuery } from './rollback';
import { isRecord, num, type Condition, type KubeList, type KubeObject } from './types';

/** Most bytes of a container's log read for a diagnosis (asked of the server, and enforced here). */
export const LOG_BYTES = 64 << 10;

interface PodProblem {
  pod: string;
  container?: string;
  reason: string;
  message?: string;
  restarts?: number;
}

interface Diagnosis {
  conditions: string[];
  problems: PodProblem[];
  events: string[];
  logs: { pod: string; container: string; previous: boolean; lines: string[] }[];
  notes: string[];
}

interface ContainerStatus {
  name: string;
  ready?: boolean;
  restartCount?: number;
  state?: { waiting?: { reason?: string; message?: string }; terminated?: { reason?: string; exitCode?: number; message?: string } };
  lastState?: { terminated?: { reason?: string; exitCode?: number; message?: string } };
}

function statuses(pod: KubeObject): ContainerStatus[] {
  const st = pod.status ?? {};
  const all = [
    ...(Array.isArray(st.initContainerStatuses) ? st.initContainerStatuses : []),
    ...(Array.isArray(st.containerStatuses) ? st.containerStatuses : []),
  ];
  return all.filter(isRecord) as unknown as ContainerStatus[];
}

/** Pure: the problems visible in pod objects. */
export function podProblems(pods: KubeObject[]): PodProblem[] {
  const out: PodProblem[] = [];
  for (const pod of pods) {
    const name = pod.metadata?.name ?? '?';
    const conds = (Array.isArray(pod.status?.conditions) ? pod.status.conditions : []) as Condition[];
    const sched = conds.find((c) => c.type === 'PodScheduled');
    if (sched && sched.status === 'False') out.push({ pod: name, reason: sched.reason ?? 'Unschedulable', message: sched.message });
    for (const cs of statuses(pod)) {
      const w = cs.state?.waiting;
      const t = cs.state?.terminated;
      const last = cs.lastState?.terminated;
      if (w?.reason && w.reason !== 'ContainerCreating' && w.reason !== 'PodInitializing') {
        const lastInfo = last?.reason ? ` (last exit: ${last.reason}, code ${num(last.exitCode)})` : '';
        out.push({
          pod: name,
          container: cs.name,
          reason: w.reason,
          message: `${w.message ?? ''}${lastInfo}`.trim() || undefined,
          restarts: num(cs.restartCount),
        });
      } else if (t && t.reason !== 'Completed') {
        out.push({
          pod: name,
          container: cs.name,
          reason: t.reason ?? 'Terminated',
          message: `exit code ${num(t.exitCode)}${t.message ? `: ${t.message}` : ''}`,
          restarts: num(cs.restartCount),
        });
      } else if (last?.reason === 'OOMKilled' || (cs.ready === false && num(cs.restartCount) > 0 && last)) {
        out.push({
          pod: name,
          container: cs.name,
          reason: last?.reason ?? 'Restarting',
          message: `restarted ${num(cs.restartCount)} times, last exit code ${num(last?.exitCode)}`,
          restarts: num(cs.restartCount),
        });
      } else if (cs.ready === false && cs.state && 'running' in cs.state) {
        out.push({
          pod: name,
          container: cs.name,
          reason: 'NotReady',
          message: 'running but not ready (readiness or startup probe failing)',
          restarts: num(cs.restartCount),
        });
      }
    }
  }
  return out;
}

export function conditionLines(obj: KubeObject): string[] {
  const conds = (Array.isArray(obj.status?.conditions) ? obj.status.conditions : []) as Condition[];
  return conds.map((c) => `${c.type}=${c.status}${c.reason ? ` (${c.reason})` : ''}${c.message ? `: ${c.message}` : ''}`);
}

export async function diagnoseWorkload(client: KubeClient, workload: KubeObject, options: { maxEvents?: number; logLines?: number } = {}): Promise<Diagnosis> {
  const ns = workload.metadata?.namespace ?? 'default';
  const d: Diagnosis = { conditions: conditionLines(workload), problems: [], events: [], logs: [], notes: [] };
  let pods: KubeObject[] = [];
  try {
    const sel = selectorQuery(workload);
    const list = await client.request<KubeList>({ path: `/api/v1/namespaces/${encodeURIComponent(ns)}/pods`, query: { labelSelector: sel || undefined } });
    pods = list.items;
    d.problems = podProblems(pods);
  } catch (err) {
    d.notes.push(`could not list pods: ${errorMessage(err)}`);
  }
  try {
    const list = await client.request<KubeList>({ path: `/api/v1/namespaces/${encodeURIComponent(ns)}/events` });
    const names = new Set([workload.metadata?.name, ...pods.map((p) => p.metadata?.name)]);
    const prefix = `${workload.metadata?.name ?? ''}-`;
    const relevant = list.items.filter((e) => {
      const io = isRecord(e.involvedObject) ? e.involvedObject : isRecord(e.regarding) ? e.regarding : {};
      const n = typeof io.name === 'string' ? io.name : '';
      return names.has(n) || n.startsWith(prefix);
    });
    const when = (e: KubeObject) => String(e.lastTimestamp ?? e.eventTime ?? e.metadata?.creationTimestamp ?? '');
    relevant.sort((a, b) => when(a).localeCompare(when(b)));
    d.events = relevant.slice(-(options.maxEvents ?? 10)).map((e) => {
      const io = isRecord(e.involvedObject) ? e.involvedObject : {};
      const count = num(e.count) > 1 ? ` (x${num(e.count)})` : '';
      return `${String(e.type ?? '')} ${String(e.reason ?? '')} ${String(io.kind ?? '')}/${String(io.name ?? '')}: ${String(e.message ?? e.note ?? '').trim()}${count}`;
    });
  } catch (err) {
    d.notes.push(`could not list events: ${errorMessage(err)}`);
  }
  const seen = new Set<string>();
  for (const p of d.problems) {
    if (!p.container || seen.has(`${p.pod}/${p.container}`) || d.logs.length >= 3) continue;
    if (/ImagePull|ErrImage|InvalidImageName|CreateContainer/.test(p.reason)) continue; // never started: no logs
    seen.add(`${p.pod}/${p.container}`);
    const path = `/api/v1/namespaces/${encodeURIComponent(ns)}/pods/${encodeURIComponent(p.pod)}/log`;
    const tries = (p.restarts ?? 0) > 0 ? [true, false] : [false];
    for (const previous of tries) {
      try {
        const text = await client.getText(
          path,
          { container: p.container, tailLines: options.logLines ?? 20, limitBytes: LOG_BYTES, ...(previous ? { previous: true } : {}) },
          LOG_BYTES,
        );
        const lines = text.split(/\r?\n/).filter((l) => l.length > 0);
        if (lines.length) {
          d.logs.push({ pod: p.pod, container: p.container, previous, lines });
          break;
        }
      } catch (err) {
        if (!previous) d.notes.push(`could not read logs of ${p.pod}/${p.container}: ${errorMessage(err)}`);
      }
    }
  }
  return d;
}

export function formatDiagnosis(kindName: string, d: Diagnosis): string[] {
  const out = [`Diagnosis of ${kindName}:`];
  if (d.conditions.length) out.push('  Conditions:', ...d.conditions.map((c) => `    ${c}`));
  if (d.problems.length)
    out.push(
      '  Failing pods:',
      ...d.problems.map(
        (p) =>
          `    ${p.pod}${p.container ? `/${p.container}` : ''}: ${p.reason}${p.message ? ` - ${p.message}` : ''}${p.restarts ? ` (restarts: ${p.restarts})` : ''}`,
      ),
    );
  else out.push('  No failing pod found.');
  if (d.events.length) out.push('  Recent events:', ...d.events.map((e) => `    ${e}`));
  for (const l of d.logs) out.push(`  Last log lines of ${l.pod}/${l.container}${l.previous ? ' (previous run)' : ''}:`, ...l.lines.map((x) => `    | ${x}`));
  for (const n of d.notes) out.push(`  (${n})`);
  return out;
}
