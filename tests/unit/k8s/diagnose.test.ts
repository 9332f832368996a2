/**
 * Why a rollout failed, read directly: the problems visible in pod objects
 * (waiting and terminated reasons, OOM kills, restarts, unready containers,
 * unschedulable pods), the workload's conditions, the relevant events, the
 * last log lines of failing containers (previous run first after a restart),
 * and what is noted when any of those cannot be read.
 */
import assert from 'node:assert/strict';
import { conditionLines, diagnoseWorkload, formatDiagnosis, podProblems } from '../../../shared/k8s/diagnose';
import type { KubeObject } from '../../../shared/k8s/types';
import { ScriptedApiServer, status, type Route } from './scripted-apiserver';

const pod = (name: string, st: Record<string, unknown>): KubeObject => ({
  kind: 'Pod',
  metadata: { name, namespace: 'ml', labels: { app: 'web' } },
  status: st,
});
const container = (name: string, extra: Record<string, unknown>) => ({ name, ...extra });

describe('podProblems', () => {
  it('a waiting reason, with the last exit when there was one, and the restart count', () => {
    const p = pod('web-1', {
      containerStatuses: [
        container('app', {
          ready: false,
          restartCount: 4,
          state: { waiting: { reason: 'CrashLoopBackOff', message: 'back-off 1m20s' } },
          lastState: { terminated: { reason: 'Error', exitCode: 1 } },
        }),
      ],
    });
    assert.deepEqual(podProblems([p]), [
      { pod: 'web-1', container: 'app', reason: 'CrashLoopBackOff', message: 'back-off 1m20s (last exit: Error, code 1)', restarts: 4 },
    ]);
  });

  it('a waiting reason without message or last state has no message', () => {
    const [p] = podProblems([pod('web-1', { containerStatuses: [container('app', { state: { waiting: { reason: 'ImagePullBackOff' } } })] })]);
    assert.equal(p?.reason, 'ImagePullBackOff');
    assert.equal(p?.message, undefined);
  });

  it('ContainerCreating and PodInitializing are normal start-up, not problems', () => {
    const pods = [
      pod('a', { containerStatuses: [container('app', { ready: false, state: { waiting: { reason: 'ContainerCreating' } } })] }),
      pod('b', { containerStatuses: [container('app', { ready: false, state: { waiting: { reason: 'PodInitializing' } } })] }),
    ];
    assert.deepEqual(podProblems(pods), []);
  });

  it('a terminated container: its reason and exit code (and message); Completed is fine', () => {
    const pods = [
      pod('a', { containerStatuses: [container('app', { restartCount: 0, state: { terminated: { reason: 'Error', exitCode: 2, message: 'bad flag' } } })] }),
      pod('b', { containerStatuses: [container('app', { state: { terminated: { exitCode: 137 } } })] }),
      pod('c', { containerStatuses: [container('app', { state: { terminated: { reason: 'Completed', exitCode: 0 } } })] }),
    ];
    assert.deepEqual(
      podProblems(pods).map((p) => [p.pod, p.reason, p.message]),
      [
        ['a', 'Error', 'exit code 2: bad flag'],
        ['b', 'Terminated', 'exit code 137'],
      ],
    );
  });

  it('init containers count too', () => {
    const [p] = podProblems([
      pod('a', { initContainerStatuses: [container('migrate', { state: { terminated: { reason: 'Error', exitCode: 1 } } })], containerStatuses: [] }),
    ]);
    assert.equal(p?.container, 'migrate');
  });

  it('a running container that was OOM-killed, or keeps restarting, is reported from its last state', () => {
    const pods = [
      pod('oom', {
        containerStatuses: [
          container('app', { ready: true, restartCount: 1, state: { running: {} }, lastState: { terminated: { reason: 'OOMKilled', exitCode: 137 } } }),
        ],
      }),
      pod('restart', {
        containerStatuses: [container('app', { ready: false, restartCount: 3, state: { running: {} }, lastState: { terminated: { exitCode: 1 } } })],
      }),
    ];
    assert.deepEqual(
      podProblems(pods).map((p) => [p.pod, p.reason, p.message, p.restarts]),
      [
        ['oom', 'OOMKilled', 'restarted 1 times, last exit code 137', 1],
        ['restart', 'Restarting', 'restarted 3 times, last exit code 1', 3],
      ],
    );
  });

  it('running but not ready: the probes are failing', () => {
    const [p] = podProblems([pod('a', { containerStatuses: [container('app', { ready: false, restartCount: 0, state: { running: {} } })] })]);
    assert.equal(p?.reason, 'NotReady');
    assert.match(p?.message ?? '', /readiness or startup probe/);
  });

  it('healthy pods and malformed statuses are no problem', () => {
    const pods = [
      pod('ok', { containerStatuses: [container('app', { ready: true, restartCount: 0, state: { running: {} } })] }),
      pod('junk', { containerStatuses: ['not an object', null] }),
      { kind: 'Pod', metadata: {} },
    ];
    assert.deepEqual(podProblems(pods), []);
  });

  it('an unschedulable pod, with the scheduler message', () => {
    const [p] = podProblems([
      pod('a', {
        conditions: [{ type: 'PodScheduled', status: 'False', reason: 'Unschedulable', message: '0/3 nodes are available: 3 Insufficient nvidia.com/gpu.' }],
      }),
    ]);
    assert.deepEqual(p, { pod: 'a', reason: 'Unschedulable', message: '0/3 nodes are available: 3 Insufficient nvidia.com/gpu.' });
    const [q] = podProblems([{ kind: 'Pod', status: { conditions: [{ type: 'PodScheduled', status: 'False' }] } }]);
    assert.deepEqual(q, { pod: '?', reason: 'Unschedulable', message: undefined });
  });
});

describe('conditionLines', () => {
  it('type=status (reason): message, each part only when present', () => {
    const lines = conditionLines({
      status: {
        conditions: [
          { type: 'Progressing', status: 'False', reason: 'ProgressDeadlineExceeded', message: 'ReplicaSet "web-1" has timed out progressing.' },
          { type: 'Available', status: 'True' },
        ],
      },
    });
    assert.deepEqual(lines, ['Progressing=False (ProgressDeadlineExceeded): ReplicaSet "web-1" has timed out progressing.', 'Available=True']);
    assert.deepEqual(conditionLines({}), []);
  });
});

describe('diagnoseWorkload (scripted API server)', () => {
  let server: ScriptedApiServer;
  beforeEach(async () => {
    server = await ScriptedApiServer.start();
  });
  afterEach(() => server.stop());

  const workload: KubeObject = {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'web', namespace: 'ml' },
    spec: { selector: { matchLabels: { app: 'web', tier: 'model' } } },
    status: { conditions: [{ type: 'Progressing', status: 'False', reason: 'ProgressDeadlineExceeded' }] },
  };
  const crashing = pod('web-abc-1', {
    containerStatuses: [
      container('app', {
        ready: false,
        restartCount: 2,
        state: { waiting: { reason: 'CrashLoopBackOff' } },
        lastState: { terminated: { reason: 'Error', exitCode: 1 } },
      }),
    ],
  });
  const pulling = pod('web-abc-2', {
    containerStatuses: [container('app', { ready: false, restartCount: 0, state: { waiting: { reason: 'ErrImagePull' } } })],
  });
  const erroring = pod('web-abc-3', { containerStatuses: [container('side', { restartCount: 0, state: { terminated: { reason: 'Error', exitCode: 3 } } })] });
  const event = (name: string, ts: string, extra: Record<string, unknown>): KubeObject => ({
    kind: 'Event',
    metadata: { name: `${name}.${ts}` },
    lastTimestamp: ts,
    ...extra,
  });

  const podsRoute = (items: KubeObject[]): Route => ({ path: '/api/v1/namespaces/ml/pods', answer: { status: 200, body: { items } } });
  const eventsRoute = (items: KubeObject[]): Route => ({ path: '/api/v1/namespaces/ml/events', answer: { status: 200, body: { items } } });

  it('lists pods by the workload selector, keeps relevant events in time order, and reads logs (previous run first after restarts)', async () => {
    server.routes = [
      podsRoute([crashing, pulling, erroring]),
      eventsRoute([
        event('b', '2024-01-01T00:02:00Z', {
          type: 'Warning',
          reason: 'BackOff',
          involvedObject: { kind: 'Pod', name: 'web-abc-1' },
          message: 'Back-off restarting failed container ',
          count: 7,
        }),
        event('a', '2024-01-01T00:01:00Z', {
          type: 'Normal',
          reason: 'ScalingReplicaSet',
          involvedObject: { kind: 'Deployment', name: 'web' },
          message: 'Scaled up replica set web-abc to 3',
          count: 1,
        }),
        event('rs', '2024-01-01T00:01:30Z', {
          type: 'Normal',
          reason: 'SuccessfulCreate',
          involvedObject: { kind: 'ReplicaSet', name: 'web-abc' },
          message: 'Created pod: web-abc-1',
        }),
        event('other', '2024-01-01T00:03:00Z', {
          type: 'Warning',
          reason: 'BackOff',
          involvedObject: { kind: 'Pod', name: 'unrelated-1' },
          message: 'not ours',
        }),
        event('new-api', '2024-01-01T00:00:30Z', {
          type: 'Warning',
          reason: 'FailedScheduling',
          regarding: { kind: 'Pod', name: 'web-abc-2' },
          note: 'from events.k8s.io',
        }),
      ]),
      {
        path: '/api/v1/namespaces/ml/pods/web-abc-1/log',
        answer: (r) => ({ status: 200, body: r.query.previous === 'true' ? 'boot\nTraceback: model file missing\n' : '' }),
      },
      { path: '/api/v1/namespaces/ml/pods/web-abc-3/log', answer: { status: 200, body: 'side car\r\nexiting 3' } },
    ];
    const d = await diagnoseWorkload(server.client(), workload, { logLines: 5 });
    assert.equal(server.requests('GET', '/pods')[0]?.query.labelSelector, 'app=web,tier=model');
    assert.deepEqual(d.conditions, ['Progressing=False (ProgressDeadlineExceeded)']);
    assert.deepEqual(
      d.problems.map((p) => `${p.pod}/${p.container} ${p.reason}`),
      ['web-abc-1/app CrashLoopBackOff', 'web-abc-2/app ErrImagePull', 'web-abc-3/side Error'],
    );
    // events: relevant only (workload, its pods, names starting with "web-"), oldest first
    assert.equal(d.events.length, 4);
    assert.ok(d.events[0]?.includes('from events.k8s.io'), d.events[0]);
    assert.equal(d.events[1], 'Normal ScalingReplicaSet Deployment/web: Scaled up replica set web-abc to 3');
    assert.equal(d.events[2], 'Normal SuccessfulCreate ReplicaSet/web-abc: Created pod: web-abc-1');
    assert.equal(d.events[3], 'Warning BackOff Pod/web-abc-1: Back-off restarting failed container (x7)');
    assert.ok(!d.events.some((e) => e.includes('unrelated')));
    // logs: never for a pull failure; the previous run of a restarted container; tail asked for
    assert.deepEqual(d.logs, [
      { pod: 'web-abc-1', container: 'app', previous: true, lines: ['boot', 'Traceback: model file missing'] },
      { pod: 'web-abc-3', container: 'side', previous: false, lines: ['side car', 'exiting 3'] },
    ]);
    assert.equal(server.requests('GET', '/web-abc-2/log').length, 0, 'no log read for a container that never started');
    const logReq = server.requests('GET', '/web-abc-1/log')[0];
    assert.equal(logReq?.query.container, 'app');
    assert.equal(logReq?.query.tailLines, '5');
    assert.deepEqual(d.notes, []);

    const text = formatDiagnosis('Deployment/web', d);
    assert.equal(text[0], 'Diagnosis of Deployment/web:');
    assert.ok(text.includes('  Conditions:'));
    assert.ok(text.includes('    web-abc-1/app: CrashLoopBackOff - (last exit: Error, code 1) (restarts: 2)'), text.join('\n'));
    assert.ok(text.includes('  Recent events:'));
    assert.ok(text.includes('  Last log lines of web-abc-1/app (previous run):'));
    assert.ok(text.includes('    | Traceback: model file missing'));
    assert.ok(text.includes('  Last log lines of web-abc-3/side:'));
  });

  it('falls back to the current log when the previous run has none; keeps only the last maxEvents events', async () => {
    const events = Array.from({ length: 15 }, (_, i) =>
      event(`e${i}`, `2024-01-01T00:${String(i).padStart(2, '0')}:00Z`, {
        type: 'Warning',
        reason: `R${i}`,
        involvedObject: { kind: 'Pod', name: 'web-abc-1' },
        message: 'm',
      }),
    );
    server.routes = [
      podsRoute([crashing]),
      eventsRoute(events),
      {
        path: '/api/v1/namespaces/ml/pods/web-abc-1/log',
        answer: (r) =>
          r.query.previous === 'true' ? status(400, 'BadRequest', 'previous terminated container "app" not found') : { status: 200, body: 'current run\n' },
      },
    ];
    const d = await diagnoseWorkload(server.client(), workload, { maxEvents: 3 });
    assert.deepEqual(d.logs, [{ pod: 'web-abc-1', container: 'app', previous: false, lines: ['current run'] }]);
    assert.deepEqual(
      d.events.map((e) => e.split(' ')[1]),
      ['R12', 'R13', 'R14'],
    );
    assert.deepEqual(d.notes, [], 'a missing previous log is not worth a note');
  });

  it('reads logs of at most three containers', async () => {
    const many = Array.from({ length: 5 }, (_, i) =>
      pod(`web-x-${i}`, { containerStatuses: [container('app', { restartCount: 0, state: { terminated: { reason: 'Error', exitCode: 1 } } })] }),
    );
    server.routes = [podsRoute(many), eventsRoute([]), { path: /\/log$/, answer: { status: 200, body: 'line' } }];
    const d = await diagnoseWorkload(server.client(), workload);
    assert.equal(d.problems.length, 5);
    assert.equal(d.logs.length, 3);
    assert.equal(server.seen.filter((r) => r.path.endsWith('/log')).length, 3);
  });

  it('notes what cannot be read and carries on: pods, events, logs', async () => {
    server.routes = [
      { path: '/api/v1/namespaces/ml/pods', answer: status(403, 'Forbidden', 'pods is forbidden') },
      { path: '/api/v1/namespaces/ml/events', answer: status(500, 'InternalError', 'events broke') },
    ];
    const d = await diagnoseWorkload(server.client(), workload);
    assert.deepEqual(d.problems, []);
    assert.equal(d.notes.length, 2);
    assert.match(d.notes[0] ?? '', /^could not list pods: .*403.*pods is forbidden/);
    assert.match(d.notes[1] ?? '', /^could not list events: .*500.*events broke/);
    const text = formatDiagnosis('Deployment/web', d);
    assert.ok(text.includes('  No failing pod found.'));
    assert.ok(text.some((l) => l.startsWith('  (could not list pods')));

    server.routes = [podsRoute([erroring]), eventsRoute([]), { path: /\/log$/, answer: status(403, 'Forbidden', 'pods/log is forbidden') }];
    const d2 = await diagnoseWorkload(server.client(), workload);
    assert.deepEqual(d2.logs, []);
    assert.equal(d2.notes.length, 1);
    assert.match(d2.notes[0] ?? '', /^could not read logs of web-abc-3\/side: .*403/);
  });

  it('a workload without a selector or namespace: lists all pods in default', async () => {
    server.routes = [
      { path: '/api/v1/namespaces/default/pods', answer: { status: 200, body: { items: [] } } },
      { path: '/api/v1/namespaces/default/events', answer: { status: 200, body: { items: [] } } },
    ];
    const d = await diagnoseWorkload(server.client(), { kind: 'Deployment', metadata: { name: 'web' } });
    assert.equal(server.seen[0]?.query.labelSelector, undefined);
    assert.deepEqual(d, { conditions: [], problems: [], events: [], logs: [], notes: [] });
  });

  it('an API server that never answers becomes notes, not a hang', async () => {
    server.routes = [{ path: /.*/, answer: 'hang' }];
    const started = Date.now();
    const d = await diagnoseWorkload(server.client({ requestTimeoutMs: 200 }), workload);
    assert.equal(d.notes.length, 2);
    assert.ok(Date.now() - started < 5000);
  });
});
