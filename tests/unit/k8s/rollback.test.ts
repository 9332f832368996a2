import assert from 'node:assert/strict';
import { rollbackPatch, selectRollbackTarget, templateForRollback } from '../../../shared/k8s/rollback';
import type { KubeObject } from '../../../shared/k8s/types';

const dep: KubeObject = {
  kind: 'Deployment',
  metadata: { name: 'web', uid: 'u1', annotations: { 'deployment.kubernetes.io/revision': '5', team: 'ml' } },
  spec: { template: {} },
};
const rs = (name: string, rev: string | undefined, owner = 'u1', image = `img:${name}`): KubeObject => ({
  kind: 'ReplicaSet',
  metadata: {
    name,
    annotations: { ...(rev ? { 'deployment.kubernetes.io/revision': rev } : {}), 'kubernetes.io/change-cause': `deploy ${name}` },
    ownerReferences: [{ kind: 'Deployment', name: 'web', uid: owner, controller: true }],
  },
  spec: { template: { metadata: { labels: { app: 'web', 'pod-template-hash': `h-${name}` } }, spec: { containers: [{ name: 'c', image }] } } },
});

describe('rollback revision selection (kubectl rollout undo)', () => {
  const cases: { name: string; sets: KubeObject[]; want?: string; revision?: number }[] = [
    { name: 'picks the second-highest revision', sets: [rs('a', '3'), rs('b', '5'), rs('c', '4')], want: 'c', revision: 4 },
    { name: 'order of the list does not matter', sets: [rs('b', '5'), rs('c', '4'), rs('a', '3')], want: 'c', revision: 4 },
    { name: 'revisions compare as numbers, not strings', sets: [rs('a', '9'), rs('b', '10'), rs('c', '2')], want: 'a', revision: 9 },
    { name: 'no history with a single ReplicaSet', sets: [rs('a', '1')] },
    { name: 'ignores ReplicaSets of other Deployments', sets: [rs('a', '2'), rs('x', '1', 'other')] },
    { name: 'ignores ReplicaSets without a revision', sets: [rs('a', '2'), rs('b', undefined)] },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const t = selectRollbackTarget(dep, c.sets);
      if (!c.want) return assert.equal(t, undefined);
      assert.equal(t?.replicaSet.metadata?.name, c.want);
      assert.equal(t?.revision, c.revision);
    });
  }

  it('strips pod-template-hash and copies the ReplicaSet annotations kubectl copies', () => {
    const r = rs('c', '4');
    const tpl = templateForRollback(r) as { metadata: { labels: Record<string, string> } };
    assert.deepEqual(tpl.metadata.labels, { app: 'web' });
    assert.equal(
      (r.spec?.template as { metadata: { labels: Record<string, string> } }).metadata.labels['pod-template-hash'],
      'h-c',
      'the ReplicaSet itself is untouched',
    );
    const patch = rollbackPatch(dep, r) as { op: string; path: string; value: Record<string, string> }[];
    assert.equal(patch[0]?.path, '/spec/template');
    assert.equal(patch[1]?.path, '/metadata/annotations');
    assert.equal(patch[1]?.value['kubernetes.io/change-cause'], 'deploy c');
    assert.equal(patch[1]?.value['deployment.kubernetes.io/revision'], '5', 'the revision annotation is not copied from the ReplicaSet');
    assert.equal(patch[1]?.value.team, 'ml');
  });
});
