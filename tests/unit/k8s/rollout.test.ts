/** kubectl's rollout-status table tests (pkg/polymorphichelpers/rollout_status_test.go), same cases. */
import assert from 'node:assert/strict';
import { daemonSetStatus, deploymentStatus, statefulSetStatus } from '../../../shared/k8s/rollout';
import type { KubeObject } from '../../../shared/k8s/types';

const strip = (m: string) => m.replace(/\n$/, '');

describe('rollout status (kubectl table cases)', () => {
  describe('Deployment', () => {
    const cases = [
      {
        name: 'test1',
        generation: 0,
        specReplicas: 1,
        status: { observedGeneration: 1, replicas: 1, updatedReplicas: 0, availableReplicas: 1, unavailableReplicas: 0 },
        msg: 'Waiting for deployment "foo" rollout to finish: 0 out of 1 new replicas have been updated...\n',
        done: false,
      },
      {
        name: 'test2',
        generation: 1,
        specReplicas: 1,
        status: { observedGeneration: 1, replicas: 2, updatedReplicas: 1, availableReplicas: 2, unavailableReplicas: 0 },
        msg: 'Waiting for deployment "foo" rollout to finish: 1 old replicas are pending termination...\n',
        done: false,
      },
      {
        name: 'test3',
        generation: 1,
        specReplicas: 2,
        status: { observedGeneration: 1, replicas: 2, updatedReplicas: 2, availableReplicas: 1, unavailableReplicas: 1 },
        msg: 'Waiting for deployment "foo" rollout to finish: 1 of 2 updated replicas are available...\n',
        done: false,
      },
      {
        name: 'test4',
        generation: 1,
        specReplicas: 2,
        status: { observedGeneration: 1, replicas: 2, updatedReplicas: 2, availableReplicas: 2, unavailableReplicas: 0 },
        msg: 'deployment "foo" successfully rolled out\n',
        done: true,
      },
      {
        name: 'test5',
        generation: 2,
        specReplicas: 2,
        status: { observedGeneration: 1, replicas: 2, updatedReplicas: 2, availableReplicas: 2, unavailableReplicas: 0 },
        msg: 'Waiting for deployment spec update to be observed...\n',
        done: false,
      },
    ];
    for (const c of cases) {
      it(c.name, () => {
        const d: KubeObject = {
          kind: 'Deployment',
          metadata: { namespace: 'bar', name: 'foo', generation: c.generation },
          spec: { replicas: c.specReplicas },
          status: c.status,
        };
        const r = deploymentStatus(d);
        assert.equal(r.error, undefined);
        assert.equal(r.message, strip(c.msg));
        assert.equal(r.done, c.done);
      });
    }
    it('fails on ProgressDeadlineExceeded once the generation is observed', () => {
      const d: KubeObject = {
        kind: 'Deployment',
        metadata: { name: 'foo', generation: 3 },
        spec: { replicas: 2 },
        status: { observedGeneration: 3, conditions: [{ type: 'Progressing', status: 'False', reason: 'ProgressDeadlineExceeded' }] },
      };
      assert.equal(deploymentStatus(d).error, 'deployment "foo" exceeded its progress deadline');
    });
    it('treats fields Go omitted as zero', () => {
      const d: KubeObject = { kind: 'Deployment', metadata: { name: 'foo', generation: 1 }, spec: { replicas: 1 }, status: { observedGeneration: 1 } };
      assert.equal(deploymentStatus(d).message, 'Waiting for deployment "foo" rollout to finish: 0 out of 1 new replicas have been updated...');
    });
    it('checks the revision when asked', () => {
      const d: KubeObject = {
        kind: 'Deployment',
        metadata: { name: 'foo', generation: 1, annotations: { 'deployment.kubernetes.io/revision': '2' } },
        spec: { replicas: 1 },
        status: {},
      };
      assert.match(deploymentStatus(d, 3).error ?? '', /desired revision \(3\) is different from the running revision \(2\)/);
    });
  });

  describe('DaemonSet', () => {
    const cases = [
      {
        name: 'test1',
        generation: 0,
        status: { observedGeneration: 1, updatedNumberScheduled: 0, desiredNumberScheduled: 1, numberAvailable: 0 },
        msg: 'Waiting for daemon set "foo" rollout to finish: 0 out of 1 new pods have been updated...\n',
        done: false,
      },
      {
        name: 'test2',
        generation: 1,
        status: { observedGeneration: 1, updatedNumberScheduled: 2, desiredNumberScheduled: 2, numberAvailable: 1 },
        msg: 'Waiting for daemon set "foo" rollout to finish: 1 of 2 updated pods are available...\n',
        done: false,
      },
      {
        name: 'test3',
        generation: 1,
        status: { observedGeneration: 1, updatedNumberScheduled: 2, desiredNumberScheduled: 2, numberAvailable: 2 },
        msg: 'daemon set "foo" successfully rolled out\n',
        done: true,
      },
      {
        name: 'test4',
        generation: 2,
        status: { observedGeneration: 1, updatedNumberScheduled: 2, desiredNumberScheduled: 2, numberAvailable: 2 },
        msg: 'Waiting for daemon set spec update to be observed...\n',
        done: false,
      },
    ];
    for (const c of cases) {
      it(c.name, () => {
        const r = daemonSetStatus({
          kind: 'DaemonSet',
          metadata: { name: 'foo', namespace: 'bar', generation: c.generation },
          spec: { updateStrategy: { type: 'RollingUpdate' } },
          status: c.status,
        });
        assert.equal(r.message, strip(c.msg));
        assert.equal(r.done, c.done);
      });
    }
    it('wrong update strategy type is an error', () => {
      const r = daemonSetStatus({ kind: 'DaemonSet', metadata: { name: 'foo' }, spec: { updateStrategy: { type: 'OnDelete' } } });
      assert.equal(r.error, 'rollout status is only available for RollingUpdate strategy type');
    });
  });

  describe('StatefulSet', () => {
    const rolling = { type: 'RollingUpdate' };
    const cases = [
      {
        name: 'on delete returns an error',
        generation: 1,
        strategy: { type: 'OnDelete' },
        status: { observedGeneration: 1, replicas: 0, readyReplicas: 1, currentReplicas: 0, updatedReplicas: 0 },
        msg: '',
        done: true,
        err: true,
      },
      {
        name: 'unobserved update is not complete',
        generation: 2,
        strategy: rolling,
        status: { observedGeneration: 1, replicas: 3, readyReplicas: 3, currentReplicas: 3, updatedReplicas: 0 },
        msg: 'Waiting for statefulset spec update to be observed...\n',
        done: false,
        err: false,
      },
      {
        name: 'if all pods are not ready the update is not complete',
        generation: 1,
        strategy: rolling,
        status: { observedGeneration: 2, replicas: 3, readyReplicas: 2, currentReplicas: 3, updatedReplicas: 0 },
        msg: 'Waiting for 1 pods to be ready...\n',
        done: false,
        err: false,
      },
      {
        name: 'partition update completes when all replicas above the partition are updated',
        generation: 1,
        strategy: { type: 'RollingUpdate', rollingUpdate: { partition: 2 } },
        status: { observedGeneration: 2, replicas: 3, readyReplicas: 3, currentReplicas: 2, updatedReplicas: 1 },
        msg: 'partitioned roll out complete: 1 new pods have been updated...\n',
        done: true,
        err: false,
      },
      // kubectl's table marks this one done: true but only asserts "not done when it should be"; the code returns false.
      {
        name: 'partition update is in progress if all pods above the partition have not been updated',
        generation: 1,
        strategy: { type: 'RollingUpdate', rollingUpdate: { partition: 2 } },
        status: { observedGeneration: 2, replicas: 3, readyReplicas: 3, currentReplicas: 3, updatedReplicas: 0 },
        msg: 'Waiting for partitioned roll out to finish: 0 out of 1 new pods have been updated...\n',
        done: false,
        err: false,
      },
      {
        name: 'update completes when all replicas are current',
        generation: 1,
        strategy: rolling,
        status: { observedGeneration: 2, replicas: 3, readyReplicas: 3, currentReplicas: 3, updatedReplicas: 3, currentRevision: 'foo', updateRevision: 'foo' },
        msg: 'statefulset rolling update complete 3 pods at revision foo...\n',
        done: true,
        err: false,
      },
    ];
    for (const c of cases) {
      it(c.name, () => {
        const r = statefulSetStatus({
          kind: 'StatefulSet',
          metadata: { name: 'foo', namespace: 'default', generation: c.generation },
          spec: { replicas: 3, updateStrategy: c.strategy },
          status: c.status,
        });
        assert.equal(r.error !== undefined, c.err);
        if (!c.err) {
          assert.equal(r.message, strip(c.msg));
          assert.equal(r.done, c.done);
        }
      });
    }
    it('waits while the update revision differs from the current one', () => {
      const r = statefulSetStatus({
        kind: 'StatefulSet',
        metadata: { name: 'foo', generation: 1 },
        spec: { replicas: 3, updateStrategy: { type: 'RollingUpdate' } },
        status: { observedGeneration: 1, readyReplicas: 3, updatedReplicas: 1, currentRevision: 'a', updateRevision: 'b' },
      });
      assert.equal(r.message, 'waiting for statefulset rolling update to complete 1 pods at revision b...');
      assert.equal(r.done, false);
    });
  });
});
