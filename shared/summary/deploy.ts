/** DeployToAKS's run summary: objects applied, revision, rollout result and time, endpoint, rollback if any. */
import type { DeployReport } from '../k8s/deploy';
import { chainLine, type ModelIdentity } from './chain';
import { code, facts, link, seconds, text } from './markdown';

export const DEPLOY_SUMMARY_TITLE = 'Deployment (DeployToAKS)';

export interface DeploySummaryContext {
  /** How it ended: the error's one line when the task failed. */
  error?: string;
  renderOnly?: boolean;
  /** The model, when known (the image's annotations, else the inputs). */
  model?: ModelIdentity;
  run?: { url?: string; name?: string; id?: string; environment?: { name?: string; resourceName?: string } };
}

function environmentOf(c: DeploySummaryContext): string | undefined {
  const e = c.run?.environment;
  if (!e?.name) return undefined;
  return e.resourceName ? `${e.name}.${e.resourceName}` : e.name;
}

export function deploySummary(r: DeployReport, c: DeploySummaryContext = {}): string {
  const rolledBack = r.rollback !== undefined;
  const outcome = c.renderOnly
    ? 'rendered only: nothing applied'
    : c.error
      ? rolledBack
        ? r.rollback?.ok
          ? 'failed, rolled back'
          : 'failed, rollback did not finish'
        : 'failed'
      : 'succeeded';
  const workload = r.applied?.find((a) => /^(Deployment|StatefulSet|DaemonSet)\//.test(a)) ?? r.applied?.[0];
  const where = workload ? `${workload.replace(/ \(namespace [^)]+\)$/, '')}${r.namespace ? ` in ${r.namespace}` : ''}` : undefined;
  const rollout = r.rollout
    ? r.rollout.ok
      ? `succeeded in ${seconds(r.rollout.seconds)}`
      : `**failed** after ${seconds(r.rollout.seconds)}: ${text(`${r.rollout.failed ?? ''} ${r.rollout.reason ?? ''}`.trim())}`
    : undefined;
  const rollback = r.rollback
    ? `from revision ${r.rollback.fromRevision} to revision ${r.rollback.toRevision}${r.rollback.image ? ` (${code(r.rollback.image)})` : ''} in ${seconds(r.rollback.seconds)}: ${r.rollback.ok ? 'running again' : '**did not finish**'}`
    : undefined;
  const applied = r.applied?.length ? r.applied.map((a) => `- ${text(a)}`).join('\n') : c.renderOnly ? '' : '- nothing was applied';
  return [
    `### Deployment ${outcome}${r.rollout?.revision && !c.error ? `: revision ${r.rollout.revision}` : ''}`,
    '',
    chainLine({ model: c.model, image: r.image?.replace(/^.*@/, ''), pushed: r.image, deployed: where }, 'deployment'),
    '',
    facts([
      ['Image', r.image ? code(r.image) : undefined],
      ['Namespace', r.namespace ? code(r.namespace) : undefined],
      ['Environment', environmentOf(c) ? code(environmentOf(c) as string) : undefined],
      ['Revision', r.rollout?.revision],
      ['Rollout', rollout],
      ['Rollback', rollback],
      ['Endpoint', r.serviceEndpoint ? code(r.serviceEndpoint) : undefined],
      ['Smoke test', r.smokeTest ? `GET ${code(r.smokeTest.path)}: HTTP ${r.smokeTest.status}` : undefined],
      ['Failure', c.error ? text(c.error) : undefined],
      ['Run', c.run?.url ? link(c.run.name ?? c.run.id ?? 'this run', c.run.url) : undefined],
    ]),
    '',
    ...(applied ? ['**Objects applied**', '', applied, ''] : []),
  ].join('\n');
}
