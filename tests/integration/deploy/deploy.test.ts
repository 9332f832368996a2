import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as yaml from 'js-yaml';
import { KubeClient } from '../../../shared/k8s/client';
import { deploy, type DeployOptions, type DeployReport } from '../../../shared/k8s/deploy';
import { kubeConfigFromString } from '../../../shared/k8s/kubeconfig';
import type { Logger } from '../../../shared/log';
import { FakeApiServer, type FakeApiServerOptions } from '../../helpers/fake-apiserver';

const GOOD = `127.0.0.1:5000/models/resnet@sha256:${'a'.repeat(64)}`;
const BAD = `127.0.0.1:5000/models/resnet@sha256:${'b'.repeat(64)}`;

function capture(): Logger & { lines: string[] } {
  const lines: string[] = [];
  return { lines, info: (m) => lines.push(m), warn: (m) => lines.push(`WARN ${m}`), debug: () => {} };
}

describe('deploy end to end through the fake API server', function () {
  let work: string;
  const servers: FakeApiServer[] = [];

  before(() => {
    work = mkdtempSync(join(tmpdir(), 'deploy-it-'));
  });
  after(async () => {
    for (const s of servers) await s.stop();
    rmSync(work, { recursive: true, force: true });
  });

  async function fake(options: FakeApiServerOptions = {}): Promise<FakeApiServer> {
    const s = await FakeApiServer.start({
      scenarioFor: (image) => (image.includes('sha256:bbbb') ? { kind: 'fail', podReason: 'CrashLoopBackOff', deadline: true } : { kind: 'success' }),
      lbIngress: { ip: '10.0.0.42' },
      ...options,
    });
    servers.push(s);
    return s;
  }

  function options(
    server: FakeApiServer | undefined,
    over: Partial<DeployOptions> = {},
    token?: string,
  ): DeployOptions & { logger: ReturnType<typeof capture> } {
    const logger = capture();
    return {
      client: server ? new KubeClient(kubeConfigFromString(server.kubeconfig(token), { input: 'kubeconfig' })) : undefined,
      namespace: 'ml',
      manifests: [],
      cwd: work,
      image: GOOD,
      template: {
        appName: 'resnet',
        replicas: 2,
        containerPort: 8080,
        servicePort: 80,
        serviceType: 'ClusterIP',
        internalLoadBalancer: false,
        readinessPath: '/ready',
        livenessPath: '/live',
        startupTimeoutSeconds: 600,
        gpuLimit: 0,
        env: [],
        maxSurge: '1',
        maxUnavailable: '0',
        progressDeadlineSeconds: 600,
      },
      imagePullSecrets: [],
      model: { uri: 'https://models.blob.core.windows.net/m/resnet/1.2.0/model.onnx', version: '1.2.0', sha256: 'c'.repeat(64) },
      pipelineRunUrl: 'https://dev.azure.com/org/proj/_build/results?buildId=42',
      pipelineRunId: '42',
      renderOnly: false,
      renderDir: mkdtempSync(join(work, 'render-')),
      rolloutTimeoutSeconds: 30,
      rollbackOnFailure: true,
      pollIntervalMs: 5,
      serviceEndpointTimeoutSeconds: 5,
      ...over,
      logger,
    } as DeployOptions & { logger: ReturnType<typeof capture> };
  }

  it('reports an issue (not only a warning) when a LoadBalancer gets no address in time', async () => {
    const s = await fake({ lbIngress: undefined });
    const o = options(s, { template: { ...options(undefined).template, serviceType: 'LoadBalancer' }, serviceEndpointTimeoutSeconds: 1 });
    const r = await deploy(o);
    assert.equal(r.serviceEndpoint, 'resnet.ml.svc.cluster.local:80');
    assert.equal(r.issues.length, 1, JSON.stringify(r.issues));
    assert.match(r.issues[0] ?? '', /no load balancer address within 1 s/);
    const ok = await deploy(options(await fake()));
    assert.deepEqual(ok.issues, []);
  });

  it('applies with server-side apply, waits through the timeline, stamps traceability and reports outputs', async () => {
    const s = await fake();
    const o = options(s, { template: { ...options(undefined).template, serviceType: 'LoadBalancer', internalLoadBalancer: true }, smokeTestPath: '/healthz' });
    const r = await deploy(o);
    assert.equal(r.deployedImage, GOOD);
    assert.equal(r.revision, '1');
    assert.equal(r.serviceEndpoint, '10.0.0.42:80');
    assert.ok(readFileSync(join(r.renderedManifests, 'manifests.yaml'), 'utf8').includes('kind: Deployment'));
    // namespace created, dry run before real apply, apply content type / field manager / force
    assert.equal(s.requestsMatching('POST', '/api/v1/namespaces').length, 1);
    const patches = s.requestsMatching('PATCH', '/deployments/resnet');
    assert.equal(patches.length, 2);
    assert.equal(patches[0]?.query.dryRun, 'All');
    assert.equal(patches[1]?.query.dryRun, undefined);
    for (const p of patches) {
      assert.equal(p.contentType, 'application/apply-patch+yaml');
      assert.equal(p.query.fieldManager, 'deploy-to-aks');
      assert.equal(p.query.force, 'true');
    }
    const d = s.get('apps/v1', 'deployments', 'ml', 'resnet');
    assert.ok(d);
    assert.equal(d.metadata.annotations?.['modeltoaks.io/model-uri'], 'https://models.blob.core.windows.net/m/resnet/1.2.0/model.onnx');
    assert.equal(d.metadata.annotations?.['modeltoaks.io/pipeline-run-url'], 'https://dev.azure.com/org/proj/_build/results?buildId=42');
    assert.equal(d.metadata.labels?.['modeltoaks.io/model-version'], '1.2.0');
    const tpl = (d.spec as { template: { metadata: { labels: Record<string, string>; annotations: Record<string, string> } } }).template;
    assert.equal(tpl.metadata.annotations['modeltoaks.io/image-digest'], `sha256:${'a'.repeat(64)}`);
    assert.equal(tpl.metadata.labels['modeltoaks.io/image-digest'], 'a'.repeat(63));
    const svc = s.get('v1', 'services', 'ml', 'resnet');
    assert.equal(svc?.metadata.annotations?.['service.beta.kubernetes.io/azure-load-balancer-internal'], 'true');
    assert.equal(s.requestsMatching('GET', '/services/resnet:http/proxy/healthz').length, 1);
    assert.ok(
      o.logger.lines.some((l) => l.includes('Waiting for deployment spec update to be observed')),
      o.logger.lines.join('\n'),
    );
    assert.ok(o.logger.lines.some((l) => l === 'deployment "resnet" successfully rolled out'));
  });

  it('namespace left empty: the namespace of the kubeconfig context, as KubernetesManifest does; else default', async () => {
    const s = await fake();
    const doc = yaml.load(s.kubeconfig()) as { contexts: { context: Record<string, string> }[] };
    doc.contexts[0]!.context.namespace = 'from-context';
    const withNs = new KubeClient(kubeConfigFromString(yaml.dump(doc), { input: 'kubeconfig' }));
    const o = options(s, { client: withNs, namespace: undefined });
    const r = await deploy(o);
    assert.ok(s.get('apps/v1', 'deployments', 'from-context', 'resnet'), 'the Deployment went to the context namespace');
    assert.equal(r.namespace, 'from-context');
    assert.equal(r.serviceEndpoint, 'resnet.from-context.svc.cluster.local:80');
    assert.equal(s.get('apps/v1', 'deployments', 'default', 'resnet'), undefined);
    const r2 = await deploy(options(s, { namespace: undefined }));
    assert.equal(r2.namespace, 'default');
    assert.ok(s.get('apps/v1', 'deployments', 'default', 'resnet'), 'no namespace anywhere: default');
  });

  it('a context namespace that is not a DNS label fails before anything is applied, naming where it came from', async () => {
    const s = await fake();
    const doc = yaml.load(s.kubeconfig()) as { contexts: { context: Record<string, string> }[] };
    doc.contexts[0]!.context.namespace = 'Bad_NS';
    const client = new KubeClient(kubeConfigFromString(yaml.dump(doc), { input: 'kubeconfig' }));
    await assert.rejects(deploy(options(s, { client, namespace: undefined })), /namespace 'Bad_NS' of the cluster connection .*set 'namespace'/);
    assert.equal(s.requestsMatching('PATCH', '/deployments/resnet').length, 0);
  });

  it('shows old replicas terminating and partial availability on an update, and reports the new revision', async () => {
    const s = await fake();
    await deploy(options(s));
    const o = options(s, { image: `127.0.0.1:5000/models/resnet@sha256:${'d'.repeat(64)}` });
    const r = await deploy(o);
    assert.equal(r.revision, '2');
    const text = o.logger.lines.join('\n');
    assert.match(text, /0 out of 2 new replicas have been updated/);
    assert.match(text, /2 old replicas are pending termination/);
    assert.match(text, /1 of 2 updated replicas are available/);
    assert.equal(s.list('apps/v1', 'replicasets', 'ml').length, 2);
  });

  it('diagnoses a failed rollout (ProgressDeadlineExceeded, CrashLoopBackOff) and rolls back like kubectl rollout undo', async () => {
    const s = await fake();
    await deploy(options(s));
    const report: DeployReport = {};
    const o = options(s, { image: BAD, report });
    await assert.rejects(deploy(o), (err: Error) => {
      assert.match(
        err.message,
        /Deployment\/resnet \(namespace ml\) did not roll out: deployment "resnet" exceeded its progress deadline; rolled back to revision 1 \(image 127\.0\.0\.1:5000\/models\/resnet@sha256:a+\), which is running again/,
      );
      return true;
    });
    const text = o.logger.lines.join('\n');
    assert.match(text, /Progressing=False \(ProgressDeadlineExceeded\)/);
    assert.match(text, /CrashLoopBackOff/);
    assert.match(text, /last exit: Error, code 1/);
    assert.match(text, /Warning BackOff Pod\/resnet-/);
    assert.match(text, /\| RuntimeError: model file not found/);
    const patch = s.requestsMatching('PATCH', '/deployments/resnet').find((r) => r.contentType === 'application/json-patch+json');
    assert.ok(patch, 'a JSON patch rollback was sent');
    const d = s.get('apps/v1', 'deployments', 'ml', 'resnet');
    const tpl = (d?.spec as { template: { metadata: { labels: Record<string, string> }; spec: { containers: { image: string }[] } } }).template;
    assert.equal(tpl.spec.containers[0]?.image, GOOD);
    assert.equal(tpl.metadata.labels['pod-template-hash'], undefined);
    assert.equal(d?.metadata.annotations?.['deployment.kubernetes.io/revision'], '3');
    // What the run summary shows, there although deploy threw.
    assert.deepEqual(report.applied, ['Deployment/resnet (namespace ml)', 'Service/resnet (namespace ml)']);
    assert.equal(report.rollout?.ok, false);
    assert.match(report.rollout?.reason ?? '', /exceeded its progress deadline/);
    assert.deepEqual({ ...report.rollback, seconds: 0 }, { fromRevision: '2', toRevision: '1', image: GOOD, ok: true, seconds: 0 });
    assert.equal(report.namespace, 'ml');
  });

  it('leaves the failed revision in place when rollbackOnFailure is false', async () => {
    const s = await fake({
      scenarioFor: (image) => (image.includes('sha256:bbbb') ? { kind: 'fail', podReason: 'OOMKilled', deadline: true } : { kind: 'success' }),
    });
    await deploy(options(s));
    const o = options(s, { image: BAD, rollbackOnFailure: false });
    await assert.rejects(deploy(o), /exceeded its progress deadline; rollbackOnFailure is false, so the failed revision 2 stays in place/);
    assert.match(o.logger.lines.join('\n'), /OOMKilled/);
    assert.equal(s.requestsMatching('PATCH', '/deployments/resnet').filter((r) => r.contentType === 'application/json-patch+json').length, 0);
  });

  it('times out after rolloutTimeoutSeconds when the rollout never finishes, then rolls back', async () => {
    const s = await fake({
      scenarioFor: (image) => (image.includes('sha256:bbbb') ? { kind: 'fail', podReason: 'ImagePullBackOff', deadline: false } : { kind: 'success' }),
    });
    await deploy(options(s));
    const o = options(s, { image: BAD, rolloutTimeoutSeconds: 1, pollIntervalMs: 50 });
    await assert.rejects(
      deploy(o),
      /did not finish within rolloutTimeoutSeconds \(1 s\); last status: Waiting for deployment "resnet" rollout to finish: 1 out of 2 new replicas have been updated\.\.\.; rolled back to revision 1/,
    );
    assert.match(o.logger.lines.join('\n'), /ImagePullBackOff/);
  });

  it('says there is nothing to roll back to when the first deployment fails', async () => {
    const s = await fake();
    await assert.rejects(deploy(options(s, { image: BAD })), /there is no previous revision to roll back to \(first deployment\)/);
  });

  it('renderOnly writes the manifests and contacts no cluster', async () => {
    const o = options(undefined, { renderOnly: true });
    const r = await deploy(o);
    const text = readFileSync(join(r.renderedManifests, 'manifests.yaml'), 'utf8');
    assert.match(text, /kind: Deployment/);
    assert.match(text, /kind: Service/);
    assert.ok(text.includes(GOOD));
    assert.equal(r.revision, '');
  });

  it('fails on a forbidden namespace (403) before applying anything', async () => {
    const s = await fake({ forbiddenNamespaces: ['ml'] });
    await assert.rejects(
      deploy(options(s)),
      /Forbidden \(HTTP 403\) while checking Deployment\/resnet \(namespace ml\) with a dry run; nothing was applied except creating namespace ml: .*cannot patch resource "deployments"/,
    );
    assert.equal(s.requestsMatching('PATCH', '/').filter((r) => r.query.dryRun !== 'All').length, 0);
  });

  it('fails on an unknown resource kind before applying anything', async () => {
    const s = await fake();
    writeFileSync(
      join(work, 'widget.yaml'),
      `apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  selector: {matchLabels: {app: web}}\n  template:\n    metadata: {labels: {app: web}}\n    spec:\n      containers:\n      - name: web\n        image: 127.0.0.1:5000/models/resnet:latest\n---\napiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: w\n`,
    );
    await assert.rejects(
      deploy(options(s, { manifests: ['widget.yaml'] })),
      /The cluster does not know kind Widget \(apiVersion example\.com\/v1\) while resolving Widget\/w; nothing was applied/,
    );
    assert.equal(s.requestsMatching('PATCH', '/').length, 0);
  });

  it('says what was applied when a later object fails', async () => {
    const s = await fake({ failApplyOf: ['resnet-svc'] });
    writeFileSync(
      join(work, 'two.yaml'),
      `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata: {a: "1"}\n---\napiVersion: v1\nkind: Service\nmetadata:\n  name: resnet-svc\nspec:\n  selector: {app: web}\n  ports: [{port: 80}]\n---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: p\nspec:\n  containers:\n  - name: c\n    image: 127.0.0.1:5000/models/resnet:1\n`,
    );
    await assert.rejects(
      deploy(options(s, { manifests: ['two.yaml'] })),
      /while applying Service\/resnet-svc \(namespace ml\) \(already applied: ConfigMap\/settings \(namespace ml\)\)/,
    );
  });

  it('reports an unreachable cluster in one sentence', async () => {
    const port = await new Promise<number>((resolve) => {
      const srv = createServer().listen(0, '127.0.0.1', () => {
        const p = (srv.address() as { port: number }).port;
        srv.close(() => resolve(p));
      });
    });
    const s = await fake();
    const kc = kubeConfigFromString(s.kubeconfig().replace(s.url, `https://127.0.0.1:${port}`), { input: 'kubeconfig' });
    await assert.rejects(
      deploy({ ...options(undefined), client: new KubeClient(kc) }),
      /^UserError: Cannot reach the Kubernetes API server https:\/\/127\.0\.0\.1:\d+ while resolving Deployment\/resnet; nothing was applied \(.*ECONNREFUSED.*\): check the cluster address/,
    );
  });

  it('reports wrong credentials (401) in one sentence', async () => {
    const s = await fake();
    await assert.rejects(deploy(options(s, {}, 'wrong-token')), /rejected the credentials \(HTTP 401 Unauthorized\)/);
  });
});
