/**
 * The canary rendering, table-driven: replica arithmetic for percentages,
 * traffic weights per method, names, labels and selectors of the track
 * workloads and Services, the TrafficSplit, and the HTTPRoute patches.
 */
import assert from 'node:assert/strict';
import { InputError } from '../../../shared/errors';
import {
  CanaryKey,
  labelTrack,
  podCanaryReplicas,
  routeCanaryPatch,
  routeReferences,
  routeRestorePatch,
  routeWeights,
  selects,
  share,
  TRACK_LABEL,
  trackService,
  trackWorkload,
  trafficSplit,
  trafficWeights,
} from '../../../shared/k8s/canary';
import { renderTemplate } from '../../../shared/k8s/template';
import type { KubeObject } from '../../../shared/k8s/types';

const IMAGE = `acr.io/m/resnet@sha256:${'a'.repeat(64)}`;

function rendered(): [KubeObject, KubeObject] {
  const [d, s] = renderTemplate({
    appName: 'resnet',
    image: IMAGE,
    replicas: 9,
    containerPort: 8080,
    servicePort: 80,
    serviceType: 'LoadBalancer',
    internalLoadBalancer: true,
    startupTimeoutSeconds: 600,
    gpuLimit: 0,
    env: [],
    maxSurge: '1',
    maxUnavailable: '0',
    progressDeadlineSeconds: 600,
    imagePullSecrets: [],
  });
  return [d as KubeObject, s as KubeObject];
}

describe('canary rendering', () => {
  describe('pod split replica arithmetic', () => {
    const table: [stable: number, percentage: number, canary: number, share: number][] = [
      [9, 10, 1, 10],
      [18, 10, 2, 10],
      [1, 10, 1, 50], // at least one canary pod: the share is what a pod count can give
      [2, 10, 1, 33],
      [4, 20, 1, 20],
      [3, 50, 3, 50],
      [10, 25, 3, 23],
      [99, 1, 1, 1],
      [1, 99, 99, 99],
      [0, 10, 1, 100],
    ];
    for (const [stable, p, want, pct] of table) {
      it(`${stable} stable pods at ${p}% -> ${want} canary pod(s), ${pct}% of pods`, () => {
        const c = podCanaryReplicas(stable, p);
        assert.equal(c, want);
        assert.equal(share(c, stable + c), pct);
      });
    }
    for (const bad of [0, 100, -5, 12.5]) {
      it(`refuses percentage ${bad} in one line naming the input`, () => {
        assert.throws(
          () => podCanaryReplicas(4, bad),
          (e: unknown) => e instanceof InputError && e.input === 'percentage' && /between 1 and 99/.test(e.message) && !e.message.includes('\n'),
        );
      });
    }
  });

  describe('traffic weights', () => {
    const table: [method: 'pod' | 'gatewayApi' | 'smi', p: number, w: { stable: number; canary: number; baseline?: number }][] = [
      ['gatewayApi', 10, { stable: 90, canary: 10 }],
      ['gatewayApi', 99, { stable: 1, canary: 99 }],
      ['smi', 10, { stable: 80, baseline: 10, canary: 10 }],
      ['smi', 50, { stable: 0, baseline: 50, canary: 50 }],
      ['pod', 30, { stable: 70, canary: 30 }],
    ];
    for (const [m, p, w] of table) it(`${m} at ${p}%`, () => assert.deepEqual(trafficWeights(m, p), w));
    it('refuses smi above 50% (the baseline takes as much)', () => {
      assert.throws(
        () => trafficWeights('smi', 60),
        (e: unknown) => e instanceof InputError && e.input === 'percentage' && /at most 50/.test(e.message),
      );
    });
  });

  describe('track workloads', () => {
    it('the canary: -canary name, track in selector and pod labels, replicas, same image and model labels, canary annotations', () => {
      const [d] = rendered();
      d.metadata = { ...d.metadata, namespace: 'ml', labels: { ...d.metadata?.labels, 'modeltoaks.io/model-version': '1.2.0' } };
      const c = trackWorkload(d, { track: 'canary', replicas: 2, percentage: 10, method: 'pod' });
      assert.equal(c.metadata?.name, 'resnet-canary');
      assert.equal(c.metadata?.namespace, 'ml');
      assert.equal(c.metadata?.labels?.[TRACK_LABEL], 'canary');
      assert.equal(c.metadata?.labels?.['modeltoaks.io/model-version'], '1.2.0');
      assert.deepEqual(c.metadata?.annotations, {
        [CanaryKey.CanaryOf]: 'resnet',
        [CanaryKey.Percentage]: '10',
        [CanaryKey.Method]: 'pod',
      });
      const spec = c.spec as {
        replicas: number;
        selector: { matchLabels: Record<string, string> };
        template: { metadata: { labels: Record<string, string> }; spec: { containers: { image: string }[] } };
      };
      assert.equal(spec.replicas, 2);
      assert.deepEqual(spec.selector.matchLabels, { 'app.kubernetes.io/name': 'resnet', [TRACK_LABEL]: 'canary' });
      assert.equal(spec.template.metadata.labels[TRACK_LABEL], 'canary');
      assert.equal(spec.template.metadata.labels['app.kubernetes.io/name'], 'resnet', 'the stable Service still selects canary pods (pod split)');
      assert.equal(spec.template.spec.containers[0]?.image, IMAGE);
      // the source is not changed
      assert.equal((d.spec as { replicas: number }).replicas, 9);
    });

    it('the baseline from a live stable Deployment: -baseline, no pod-template-hash, no controller annotations', () => {
      const live: KubeObject = {
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        metadata: { name: 'resnet', namespace: 'ml', annotations: { 'deployment.kubernetes.io/revision': '4', 'modeltoaks.io/model-version': '1.1.0' } },
        spec: {
          replicas: 6,
          selector: { matchLabels: { app: 'resnet' } },
          template: {
            metadata: { labels: { app: 'resnet', [TRACK_LABEL]: 'stable', 'pod-template-hash': 'abc' } },
            spec: { containers: [{ name: 'm', image: 'old' }] },
          },
        },
        status: { replicas: 6 },
      };
      const b = trackWorkload(live, { track: 'baseline', replicas: 1, percentage: 10, method: 'smi' });
      assert.equal(b.metadata?.name, 'resnet-baseline');
      assert.equal(b.metadata?.annotations?.['deployment.kubernetes.io/revision'], undefined);
      assert.equal(b.metadata?.annotations?.['modeltoaks.io/model-version'], '1.1.0');
      assert.equal(b.status, undefined);
      const tpl = (b.spec as { template: { metadata: { labels: Record<string, string> } } }).template;
      assert.deepEqual(tpl.metadata.labels, { app: 'resnet', [TRACK_LABEL]: 'baseline' });
    });

    it('labelTrack marks the pod templates of Deployments only', () => {
      const [d, s] = rendered();
      labelTrack([d, s], 'stable');
      assert.equal((d.spec as { template: { metadata: { labels: Record<string, string> } } }).template.metadata.labels[TRACK_LABEL], 'stable');
      assert.equal(JSON.stringify(s).includes(TRACK_LABEL), false);
    });
  });

  describe('track Services', () => {
    const table: ['stable' | 'canary' | 'baseline', string][] = [
      ['stable', 'resnet-stable'],
      ['canary', 'resnet-canary'],
      ['baseline', 'resnet-baseline'],
    ];
    for (const [track, name] of table) {
      it(`${track}: ${name}, ClusterIP, selector + track, same ports without nodePort, no load balancer annotation`, () => {
        const [, s] = rendered();
        (s.spec as { ports: Record<string, unknown>[] }).ports[0]!.nodePort = 31000;
        s.metadata!.labels = { ...s.metadata!.labels, 'modeltoaks.io/model-version': '1.2.0' };
        const t = trackService(s, track);
        assert.equal(t.metadata?.name, name);
        // the new model's identity stays on the canary's copy only
        assert.equal(t.metadata?.labels?.['modeltoaks.io/model-version'], track === 'canary' ? '1.2.0' : undefined);
        assert.equal(t.metadata?.labels?.[TRACK_LABEL], track);
        assert.equal(t.metadata?.labels?.['app.kubernetes.io/name'], 'resnet');
        assert.deepEqual(t.spec, {
          type: 'ClusterIP',
          selector: { 'app.kubernetes.io/name': 'resnet', [TRACK_LABEL]: track },
          ports: [{ name: 'http', port: 80, targetPort: 'http', protocol: 'TCP' }],
        });
        assert.deepEqual(t.metadata?.annotations, { [CanaryKey.CanaryOf]: 'resnet' });
      });
    }
    it('refuses a Service name too long for its -baseline copy', () => {
      const [, s] = rendered();
      s.metadata!.name = 'x'.repeat(55);
      assert.throws(() => trackService(s, 'canary'), /too long a name for a canary/);
    });
    it('selects: a Service selects the workloads whose pod labels hold its selector', () => {
      const [d, s] = rendered();
      assert.equal(selects(s, d), true);
      assert.equal(selects({ ...s, spec: { selector: { app: 'other' } } }, d), false);
      assert.equal(selects({ ...s, spec: {} }, d), false);
    });
  });

  it('TrafficSplit: root service, stable/baseline/canary backends with the weights', () => {
    const ts = trafficSplit('split.smi-spec.io/v1alpha2', 'resnet', 'ml', trafficWeights('smi', 10));
    assert.deepEqual(ts, {
      apiVersion: 'split.smi-spec.io/v1alpha2',
      kind: 'TrafficSplit',
      metadata: { name: 'resnet-canary', namespace: 'ml', annotations: { [CanaryKey.CanaryOf]: 'resnet' } },
      spec: {
        service: 'resnet',
        backends: [
          { service: 'resnet-stable', weight: 80 },
          { service: 'resnet-baseline', weight: 10 },
          { service: 'resnet-canary', weight: 10 },
        ],
      },
    });
  });

  describe('HTTPRoute weights', () => {
    const route = (): KubeObject => ({
      apiVersion: 'gateway.networking.k8s.io/v1',
      kind: 'HTTPRoute',
      metadata: { name: 'web', namespace: 'ml', resourceVersion: '17' },
      spec: {
        parentRefs: [{ name: 'gw' }],
        rules: [
          { matches: [{ path: { type: 'PathPrefix', value: '/docs' } }], backendRefs: [{ name: 'docs', port: 80 }] },
          { matches: [{ path: { type: 'PathPrefix', value: '/' } }], backendRefs: [{ name: 'resnet', port: 80 }] },
        ],
      },
    });
    it('finds the routes sending traffic to the Service (same namespace or named namespace)', () => {
      assert.equal(routeReferences(route(), 'resnet', 'ml'), true);
      assert.equal(routeReferences(route(), 'resnet', 'other'), false);
      assert.equal(routeReferences(route(), 'nosuch', 'ml'), false);
    });
    it('splits the rule between -stable and -canary, keeps the original, tests the resourceVersion', () => {
      const ops = routeCanaryPatch(route(), 'resnet', 'ml', trafficWeights('gatewayApi', 10));
      assert.deepEqual(ops, [
        { op: 'test', path: '/metadata/resourceVersion', value: '17' },
        {
          op: 'replace',
          path: '/spec/rules/1/backendRefs',
          value: [
            { name: 'resnet-stable', port: 80, weight: 90 },
            { name: 'resnet-canary', port: 80, weight: 10 },
          ],
        },
        { op: 'add', path: '/metadata/annotations', value: { [CanaryKey.OriginalBackends]: '{"1":[{"name":"resnet","port":80}]}' } },
      ]);
    });
    it('restores the original backends and drops the annotation; reads the weights of a split route', () => {
      const r = route();
      const rules = r.spec!.rules as { backendRefs: unknown[] }[];
      rules[1]!.backendRefs = [
        { name: 'resnet-stable', port: 80, weight: 90 },
        { name: 'resnet-canary', port: 80, weight: 10 },
      ];
      r.metadata!.annotations = { keep: 'me', [CanaryKey.OriginalBackends]: '{"1":[{"name":"resnet","port":80}]}' };
      assert.deepEqual(routeWeights(r, 'resnet'), { stable: 90, canary: 10 });
      assert.deepEqual(routeRestorePatch(r), [
        { op: 'test', path: '/metadata/resourceVersion', value: '17' },
        { op: 'replace', path: '/spec/rules/1/backendRefs', value: [{ name: 'resnet', port: 80 }] },
        { op: 'replace', path: '/metadata/annotations', value: { keep: 'me' } },
      ]);
      assert.equal(routeRestorePatch(route()), undefined);
    });
    it('re-weights a route this canary already split (a later step, 10% -> 50%), keeping the original backends', () => {
      const r = route();
      (r.spec!.rules as { backendRefs: unknown[] }[])[1]!.backendRefs = [
        { name: 'resnet-stable', port: 80, weight: 90 },
        { name: 'resnet-canary', port: 80, weight: 10 },
      ];
      r.metadata!.annotations = { [CanaryKey.OriginalBackends]: '{"1":[{"name":"resnet","port":80}]}' };
      assert.deepEqual(routeCanaryPatch(r, 'resnet', 'ml', trafficWeights('gatewayApi', 50)), [
        { op: 'test', path: '/metadata/resourceVersion', value: '17' },
        {
          op: 'replace',
          path: '/spec/rules/1/backendRefs',
          value: [
            { name: 'resnet-stable', port: 80, weight: 50 },
            { name: 'resnet-canary', port: 80, weight: 50 },
          ],
        },
      ]);
    });
    it('refuses a rule that mixes the Service with other backends, and a route already split', () => {
      const r = route();
      (r.spec!.rules as { backendRefs: unknown[] }[])[1]!.backendRefs.push({ name: 'other', port: 80 });
      assert.throws(
        () => routeCanaryPatch(r, 'resnet', 'ml', { stable: 90, canary: 10 }),
        /Rule 2 of HTTPRoute 'web' sends traffic to Service 'resnet' and to other backends/,
      );
      const s = route();
      s.metadata!.annotations = { [CanaryKey.OriginalBackends]: '{}' };
      assert.throws(() => routeCanaryPatch(s, 'resnet', 'ml', { stable: 90, canary: 10 }), /already carries another canary's weights/);
    });
  });
});
