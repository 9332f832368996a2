/**
 * Canary releases against the HTTPS fake API server, as scripted timelines:
 * canary deploy with each traffic-split method, promote, reject, a promote
 * whose rollout fails and rolls back, the prediction check passing and failing
 * (through the service proxy, answered per image), an absent traffic API, and
 * promote/reject with no canary.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checksFromInputs } from '../../../shared/check';
import { CanaryKey, TRACK_LABEL } from '../../../shared/k8s/canary';
import { KubeClient } from '../../../shared/k8s/client';
import { kubeConfigFromString } from '../../../shared/k8s/kubeconfig';
import { release, type ReleaseOptions } from '../../../shared/k8s/release';
import type { Logger } from '../../../shared/log';
import { FakeApiServer, type FakeApiServerOptions, type ProxiedRequest } from '../../helpers/fake-apiserver';

const OLD = `127.0.0.1:5000/models/resnet@sha256:${'a'.repeat(64)}`;
const NEW = `127.0.0.1:5000/models/resnet@sha256:${'d'.repeat(64)}`;

function capture(): Logger & { lines: string[] } {
  const lines: string[] = [];
  return { lines, info: (m) => lines.push(m), warn: (m) => lines.push(`WARN ${m}`), debug: () => {} };
}

type Dep = {
  spec: {
    replicas: number;
    selector: { matchLabels: Record<string, string> };
    template: { metadata: { labels: Record<string, string> }; spec: { containers: { image: string }[] } };
  };
};

/** The model server: the old model predicts "tabby", the new one "tiger" (or what `newLabel` says). */
function modelServer(newLabel = 'tiger') {
  return (r: ProxiedRequest) => {
    if (r.method === 'POST' && r.path === '/v1/predict') {
      const label = r.images.every((i) => i === NEW) ? newLabel : r.images.every((i) => i === OLD) ? 'tabby' : 'mixed';
      return { status: 200, body: JSON.stringify({ label, model: { version: label === 'tabby' ? '1.1.0' : '1.2.0' } }) };
    }
    return { status: 200, body: '{"status":"ok"}' };
  };
}

describe('canary releases through the fake API server', function () {
  let work: string;
  const servers: FakeApiServer[] = [];
  before(() => {
    work = mkdtempSync(join(tmpdir(), 'canary-it-'));
    writeFileSync(join(work, 'cat.json'), '{"image": "cat.png"}');
  });
  after(async () => {
    for (const s of servers) await s.stop();
    rmSync(work, { recursive: true, force: true });
  });

  async function fake(options: FakeApiServerOptions = {}): Promise<FakeApiServer> {
    const s = await FakeApiServer.start({ proxyAnswer: modelServer(), ...options });
    servers.push(s);
    return s;
  }

  const checks = (expect = '$.label == "tiger"') =>
    checksFromInputs({ requestInput: 'smokeTestRequest', request: 'POST /v1/predict @cat.json', expectInput: 'smokeTestExpect', expect, baseDir: work });

  function options(server: FakeApiServer | undefined, over: Partial<ReleaseOptions> = {}): ReleaseOptions & { logger: ReturnType<typeof capture> } {
    const logger = capture();
    return {
      client: server ? new KubeClient(kubeConfigFromString(server.kubeconfig(), { input: 'kubeconfig' })) : undefined,
      namespace: 'ml',
      manifests: [],
      cwd: work,
      image: NEW,
      template: {
        appName: 'resnet',
        replicas: 9,
        containerPort: 8080,
        servicePort: 80,
        serviceType: 'ClusterIP',
        internalLoadBalancer: false,
        startupTimeoutSeconds: 600,
        gpuLimit: 0,
        env: [],
        maxSurge: '1',
        maxUnavailable: '0',
        progressDeadlineSeconds: 600,
      },
      imagePullSecrets: [],
      model: { uri: 'https://models/resnet/1.2.0/model.onnx', version: '1.2.0', sha256: 'c'.repeat(64) },
      renderOnly: false,
      renderDir: mkdtempSync(join(work, 'render-')),
      rolloutTimeoutSeconds: 30,
      rollbackOnFailure: true,
      pollIntervalMs: 5,
      serviceEndpointTimeoutSeconds: 1,
      action: 'deploy',
      strategy: 'none',
      percentage: 10,
      trafficSplitMethod: 'pod',
      baselineAndCanaryReplicas: 1,
      ...over,
      logger,
    } as ReleaseOptions & { logger: ReturnType<typeof capture> };
  }

  /** The stable version 1.1.0 (strategy none). */
  async function stable(s: FakeApiServer): Promise<void> {
    await release(options(s, { image: OLD, model: { version: '1.1.0' } }));
  }
  const applies = (s: FakeApiServer, end: string) => s.requests.filter((r) => r.method === 'PATCH' && r.path.endsWith(end) && r.query.dryRun !== 'All');
  const dep = (s: FakeApiServer, name: string) =>
    s.get('apps/v1', 'deployments', 'ml', name) as unknown as
      (Dep & { metadata: { labels: Record<string, string>; annotations: Record<string, string> } }) | undefined;

  it('pod split: a -canary Deployment with the new image beside the untouched stable, checked through its own Service; outputs say who serves what', async () => {
    const s = await fake();
    await stable(s);
    const stablePatches = applies(s, '/deployments/resnet').length;
    const o = options(s, { strategy: 'canary', predictionChecks: checks() });
    const r = await release(o);
    assert.equal(applies(s, '/deployments/resnet').length - stablePatches, 0, 'the stable Deployment is not applied');
    assert.equal(applies(s, '/services/resnet').length, 1, 'the stable Service is not applied again (only by the stable deploy)');
    const c = dep(s, 'resnet-canary');
    assert.ok(c);
    assert.equal(c.spec.replicas, 1);
    assert.equal(c.spec.template.spec.containers[0]?.image, NEW);
    assert.equal(c.spec.selector.matchLabels[TRACK_LABEL], 'canary');
    assert.equal(c.spec.template.metadata.labels['modeltoaks.io/model-version'], '1.2.0');
    assert.equal(c.metadata.annotations[CanaryKey.Percentage], '10');
    assert.equal(dep(s, 'resnet')?.spec.template.spec.containers[0]?.image, OLD);
    assert.equal(dep(s, 'resnet')?.spec.template.metadata.labels[TRACK_LABEL], 'stable');
    const svc = s.get('v1', 'services', 'ml', 'resnet-canary');
    assert.deepEqual((svc?.spec as { selector: Record<string, string> }).selector, { 'app.kubernetes.io/name': 'resnet', [TRACK_LABEL]: 'canary' });
    // the prediction went to the canary's pods only, through the proxy, with the sample body
    const p = s.proxied.find((x) => x.path === '/v1/predict');
    assert.ok(p);
    assert.equal(p.service, 'resnet-canary');
    assert.equal(p.body, '{"image": "cat.png"}');
    assert.equal(p.contentType, 'application/json');
    assert.deepEqual(p.images, [NEW]);
    assert.ok(
      o.logger.lines.some((l) => /Prediction check 'POST \/v1\/predict': passed \(HTTP 200/.test(l)),
      o.logger.lines.join('\n'),
    );
    assert.equal(r.serviceEndpoint, 'resnet.ml.svc.cluster.local:80', 'users still call the stable Service');
    assert.deepEqual(
      r.serving.map((x) => [x.track, x.workload, x.modelVersion, x.percent, x.by, x.replicas]),
      [
        ['stable', 'Deployment/resnet', '1.1.0', 90, 'pods', 9],
        ['canary', 'Deployment/resnet-canary', '1.2.0', 10, 'pods', 1],
      ],
    );
  });

  it('promote: the stable takes the canary image and model identity, the canary objects go', async () => {
    const s = await fake();
    await stable(s);
    await release(options(s, { strategy: 'canary' }));
    // promote without 'image': the canary's is used; the model identity comes from the canary, not the inputs
    const o = options(s, { action: 'promote', image: '', model: {} });
    const r = await release(o);
    const d = dep(s, 'resnet');
    assert.equal(d?.spec.template.spec.containers[0]?.image, NEW);
    assert.equal(d?.metadata.labels['modeltoaks.io/model-version'], '1.2.0');
    assert.equal(d?.spec.template.metadata.labels[TRACK_LABEL], 'stable');
    assert.equal(dep(s, 'resnet-canary'), undefined);
    assert.equal(s.get('v1', 'services', 'ml', 'resnet-canary'), undefined);
    assert.equal(s.list('apps/v1', 'replicasets', 'ml').filter((x) => x.metadata.name.startsWith('resnet-canary')).length, 0, 'its ReplicaSets are collected');
    assert.equal(r.revision, '2');
    assert.deepEqual(
      r.serving.map((x) => [x.track, x.workload, x.modelVersion, x.percent]),
      [['stable', 'Deployment/resnet', '1.2.0', 100]],
    );
  });

  it("promote refuses an image other than the canary's, changing nothing", async () => {
    const s = await fake();
    await stable(s);
    await release(options(s, { strategy: 'canary' }));
    const before = s.requests.length;
    await assert.rejects(release(options(s, { action: 'promote', image: OLD })), /'image' \(.*\) is not what the canary runs .*Nothing was changed/);
    assert.equal(s.requests.slice(before).filter((r) => r.method !== 'GET').length, 0);
  });

  it('reject: the canary objects go, the stable is untouched', async () => {
    const s = await fake();
    await stable(s);
    await release(options(s, { strategy: 'canary' }));
    const stablePatches = applies(s, '/deployments/resnet').length;
    const r = await release(options(s, { action: 'reject', image: '' }));
    assert.equal(dep(s, 'resnet-canary'), undefined);
    assert.equal(s.get('v1', 'services', 'ml', 'resnet-canary'), undefined);
    assert.equal(applies(s, '/deployments/resnet').length, stablePatches);
    assert.equal(dep(s, 'resnet')?.spec.template.spec.containers[0]?.image, OLD);
    assert.deepEqual(
      r.serving.map((x) => [x.track, x.modelVersion, x.percent]),
      [['stable', '1.1.0', 100]],
    );
  });

  it('a promote whose rollout fails rolls the stable back and leaves the canary in place', async () => {
    let failStable = false;
    const s = await fake({
      scenarioFor: (image) => (failStable && image === NEW ? { kind: 'fail', podReason: 'OOMKilled', deadline: true } : { kind: 'success' }),
    });
    await stable(s);
    await release(options(s, { strategy: 'canary' }));
    failStable = true;
    const o = options(s, { action: 'promote', image: '' });
    await assert.rejects(release(o), (e: Error) => {
      assert.match(
        e.message,
        /^Promote failed: Deployment\/resnet \(namespace ml\) did not roll out to the canary's version: deployment "resnet" exceeded its progress deadline; rolled back to revision 1 .*which is running again \(see the diagnosis above; the canary is still in place: reject it, or fix the cause and promote again\)\.$/,
      );
      assert.ok(!e.message.includes('\n'));
      return true;
    });
    assert.match(o.logger.lines.join('\n'), /OOMKilled/);
    assert.equal(dep(s, 'resnet')?.spec.template.spec.containers[0]?.image, OLD);
    assert.ok(dep(s, 'resnet-canary'), 'the canary is still there');
  });

  it('a failing prediction check rejects the canary, and the log shows request, answer and expectation', async () => {
    const s = await fake({ proxyAnswer: modelServer('leopard') });
    await stable(s);
    const o = options(s, { strategy: 'canary', predictionChecks: checks() });
    await assert.rejects(release(o), (e: Error) => {
      assert.match(
        e.message,
        /^1 of 1 check\(s\) failed on the canary Deployment\/resnet-canary: 'POST \/v1\/predict' \(.*"tiger".*"leopard".*\); the canary was removed \(.*Deployment\/resnet-canary\) and the stable version serves all traffic, untouched \(see the request, answer and expectation above\)\.$/,
      );
      return true;
    });
    const log = o.logger.lines.join('\n');
    assert.match(log, /Request: POST \/v1\/predict \(body from .*cat\.json\)/);
    assert.match(log, /Answer: HTTP 200/);
    assert.match(log, /"label": "leopard"/);
    assert.match(log, /Expected: status 2xx; \$\.label == "tiger"/);
    assert.equal(dep(s, 'resnet-canary'), undefined);
    assert.equal(s.get('v1', 'services', 'ml', 'resnet-canary'), undefined);
    assert.equal(dep(s, 'resnet')?.spec.template.spec.containers[0]?.image, OLD);
  });

  it('a canary that does not roll out is diagnosed and removed', async () => {
    const s = await fake({ scenarioFor: (image) => (image === NEW ? { kind: 'fail', podReason: 'CrashLoopBackOff', deadline: true } : { kind: 'success' }) });
    await stable(s);
    const o = options(s, { strategy: 'canary' });
    await assert.rejects(
      release(o),
      /^UserError: The canary Deployment\/resnet-canary \(namespace ml\) did not roll out: deployment "resnet-canary" exceeded its progress deadline; the canary was removed/,
    );
    assert.match(o.logger.lines.join('\n'), /CrashLoopBackOff/);
    assert.equal(dep(s, 'resnet-canary'), undefined);
  });

  it('strategy none: a failing prediction check rolls the new revision back', async () => {
    const s = await fake({ proxyAnswer: modelServer('leopard') });
    await stable(s);
    const o = options(s, { predictionChecks: checks() });
    await assert.rejects(
      release(o),
      /^UserError: 1 of 1 check\(s\) failed on the new version of Deployment\/resnet .*; rolled back to revision 1 \(image .*a{64}\), which is running again \(see the request, answer and expectation above\)\.$/,
    );
    assert.equal(s.proxied.at(-1)?.service, 'resnet');
    assert.equal(dep(s, 'resnet')?.spec.template.spec.containers[0]?.image, OLD);
  });

  it('gatewayApi: the HTTPRoute found through discovery carries 90/10 between -stable and -canary; reject puts it back', async () => {
    const s = await fake({ apis: { gatewayApi: 'v1' } });
    await stable(s);
    s.seed('gateway.networking.k8s.io/v1', 'httproutes', 'ml', {
      apiVersion: 'gateway.networking.k8s.io/v1',
      kind: 'HTTPRoute',
      metadata: { name: 'web', namespace: 'ml' },
      spec: { parentRefs: [{ name: 'gw' }], rules: [{ backendRefs: [{ name: 'resnet', port: 80 }] }] },
    });
    const o = options(s, { strategy: 'canary', trafficSplitMethod: 'gatewayApi', baselineAndCanaryReplicas: 2, predictionChecks: checks() });
    const r = await release(o);
    const route = s.get('gateway.networking.k8s.io/v1', 'httproutes', 'ml', 'web') as unknown as {
      spec: { rules: { backendRefs: unknown[] }[] };
      metadata: { annotations?: Record<string, string> };
    };
    assert.deepEqual(route.spec.rules[0]?.backendRefs, [
      { name: 'resnet-stable', port: 80, weight: 90 },
      { name: 'resnet-canary', port: 80, weight: 10 },
    ]);
    assert.equal(dep(s, 'resnet-canary')?.spec.replicas, 2);
    assert.deepEqual((s.get('v1', 'services', 'ml', 'resnet-stable')?.spec as { selector: unknown }).selector, {
      'app.kubernetes.io/name': 'resnet',
      [TRACK_LABEL]: 'stable',
    });
    // the weights moved only after the check passed
    const checkAt = s.requests.findIndex((q) => q.path.includes('/proxy/v1/predict'));
    const routeAt = s.requests.findIndex((q) => q.method === 'PATCH' && q.path.includes('/httproutes/web'));
    assert.ok(checkAt >= 0 && routeAt > checkAt, 'route patched after the prediction check');
    assert.deepEqual(
      r.serving.map((x) => [x.track, x.percent, x.by]),
      [
        ['stable', 90, 'traffic'],
        ['canary', 10, 'traffic'],
      ],
    );
    // a later step of the same canary: 50%
    await release(options(s, { strategy: 'canary', trafficSplitMethod: 'gatewayApi', baselineAndCanaryReplicas: 2, percentage: 50 }));
    const step2 = s.get('gateway.networking.k8s.io/v1', 'httproutes', 'ml', 'web') as unknown as typeof route;
    assert.deepEqual(step2.spec.rules[0]?.backendRefs, [
      { name: 'resnet-stable', port: 80, weight: 50 },
      { name: 'resnet-canary', port: 80, weight: 50 },
    ]);
    await release(options(s, { action: 'reject', image: '' }));
    const back = s.get('gateway.networking.k8s.io/v1', 'httproutes', 'ml', 'web') as unknown as typeof route;
    assert.deepEqual(back.spec.rules[0]?.backendRefs, [{ name: 'resnet', port: 80 }]);
    assert.equal(back.metadata.annotations?.[CanaryKey.OriginalBackends], undefined);
    for (const n of ['resnet-stable', 'resnet-canary']) assert.equal(s.get('v1', 'services', 'ml', n), undefined);
  });

  it('gatewayApi: no HTTPRoute to the Service is one line, nothing changed', async () => {
    const s = await fake({ apis: { gatewayApi: 'v1beta1' } });
    await stable(s);
    const before = s.requests.length;
    await assert.rejects(
      release(options(s, { strategy: 'canary', trafficSplitMethod: 'gatewayApi' })),
      /No HTTPRoute in namespace ml sends traffic to Service\/resnet.*nothing was changed/,
    );
    assert.equal(s.requests.slice(before).filter((r) => r.method !== 'GET').length, 0);
  });

  it('smi: baseline and canary with a TrafficSplit 80/10/10; promote removes them all', async () => {
    const s = await fake({ apis: { smi: 'v1alpha2' } });
    await stable(s);
    const r = await release(options(s, { strategy: 'canary', trafficSplitMethod: 'smi' }));
    const ts = s.get('split.smi-spec.io/v1alpha2', 'trafficsplits', 'ml', 'resnet-canary');
    assert.deepEqual(ts?.spec, {
      service: 'resnet',
      backends: [
        { service: 'resnet-stable', weight: 80 },
        { service: 'resnet-baseline', weight: 10 },
        { service: 'resnet-canary', weight: 10 },
      ],
    });
    assert.equal(dep(s, 'resnet-baseline')?.spec.template.spec.containers[0]?.image, OLD);
    assert.equal(dep(s, 'resnet-baseline')?.spec.template.metadata.labels[TRACK_LABEL], 'baseline');
    assert.deepEqual(
      r.serving.map((x) => [x.track, x.modelVersion, x.percent]),
      [
        ['stable', '1.1.0', 80],
        ['baseline', '1.1.0', 10],
        ['canary', '1.2.0', 10],
      ],
    );
    await release(options(s, { action: 'promote', image: NEW }));
    assert.equal(s.get('split.smi-spec.io/v1alpha2', 'trafficsplits', 'ml', 'resnet-canary'), undefined);
    for (const n of ['resnet-canary', 'resnet-baseline']) assert.equal(dep(s, n), undefined);
    for (const n of ['resnet-stable', 'resnet-canary', 'resnet-baseline']) assert.equal(s.get('v1', 'services', 'ml', n), undefined);
    assert.equal(dep(s, 'resnet')?.spec.template.spec.containers[0]?.image, NEW);
  });

  for (const [method, api] of [
    ['gatewayApi', /does not serve Gateway API HTTPRoute/],
    ['smi', /does not serve SMI TrafficSplit/],
  ] as const) {
    it(`${method} on a cluster without that API: one line naming it, nothing changed`, async () => {
      const s = await fake();
      await stable(s);
      const before = s.requests.length;
      await assert.rejects(release(options(s, { strategy: 'canary', trafficSplitMethod: method })), (e: Error & { input?: string }) => {
        assert.match(e.message, api);
        assert.match(e.message, /nothing was changed/);
        assert.equal(e.input, 'trafficSplitMethod');
        return true;
      });
      assert.equal(s.requests.slice(before).filter((r) => r.method !== 'GET').length, 0);
    });
  }

  for (const action of ['promote', 'reject'] as const) {
    it(`${action} with no canary: one line, nothing changed`, async () => {
      const s = await fake();
      await stable(s);
      const before = s.requests.length;
      await assert.rejects(
        release(options(s, { action, image: '' })),
        new RegExp(`^UserError: There is no canary to ${action} in namespace ml \\(Deployment/resnet-canary not found\\): nothing was changed`),
      );
      assert.equal(s.requests.slice(before).filter((r) => r.method !== 'GET').length, 0);
    });
  }

  it('a canary with no stable Deployment: one line, nothing changed', async () => {
    const s = await fake();
    await assert.rejects(release(options(s, { strategy: 'canary' })), /There is no stable Deployment\/resnet in namespace ml for a canary to run beside/);
    assert.equal(s.requests.filter((r) => r.method !== 'GET').length, 0);
  });

  it('a prediction check with no Service to send it through: one line naming smokeTestRequest, nothing changed', async () => {
    const s = await fake();
    writeFileSync(
      join(work, 'only-deployment.yaml'),
      `apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  replicas: 2\n  selector: {matchLabels: {app: web}}\n  template:\n    metadata: {labels: {app: web}}\n    spec:\n      containers:\n      - name: web\n        image: 127.0.0.1:5000/models/resnet:latest\n`,
    );
    await release(options(s, { image: OLD, manifests: ['only-deployment.yaml'] }));
    const before = s.requests.length;
    await assert.rejects(
      release(options(s, { strategy: 'canary', manifests: ['only-deployment.yaml'], predictionChecks: checks() })),
      (e: Error & { input?: string }) => e.input === 'smokeTestRequest' && /no Service in the manifests selects the pods of Deployment\/web/.test(e.message),
    );
    assert.equal(s.requests.slice(before).filter((r) => r.method !== 'GET').length, 0);
  });

  it('renderOnly shows the canary objects and contacts no cluster', async () => {
    const o = options(undefined, { strategy: 'canary', trafficSplitMethod: 'smi', renderOnly: true });
    const r = await release(o);
    const text = readFileSync(join(r.renderedManifests, 'manifests.yaml'), 'utf8');
    for (const want of ['name: resnet-canary', 'name: resnet-baseline', 'name: resnet-stable', 'kind: TrafficSplit', `${TRACK_LABEL}: canary`])
      assert.ok(text.includes(want), want);
    assert.ok(!/^ {2}name: resnet$/m.test(text), 'the stable objects are not in it');
  });
});
