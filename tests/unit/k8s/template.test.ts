import assert from 'node:assert/strict';
import { parseEnvLines } from '../../../shared/inputs/parse';
import { renderTemplate, type TemplateOptions } from '../../../shared/k8s/template';
import { applyTraceability, sanitizeLabelValue, traceLabels } from '../../../shared/k8s/traceability';
import type { KubeObject } from '../../../shared/k8s/types';

/** A Kubernetes label value (validation.go's LabelValue: at most 63 characters checked apart). */
const LABEL_VALUE_RE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;

const base: TemplateOptions = {
  appName: 'resnet',
  image: `acr.io/m/resnet@sha256:${'a'.repeat(64)}`,
  replicas: 3,
  containerPort: 8080,
  servicePort: 80,
  serviceType: 'ClusterIP',
  internalLoadBalancer: false,
  readinessPath: 'v2/health/ready',
  livenessPath: '/v2/health/live',
  startupTimeoutSeconds: 900,
  cpuRequest: '1',
  memoryRequest: '2Gi',
  cpuLimit: undefined,
  memoryLimit: '4Gi',
  gpuLimit: 0,
  env: [],
  maxSurge: '1',
  maxUnavailable: '0',
  progressDeadlineSeconds: 1200,
  imagePullSecrets: [],
};

type C = {
  image: string;
  ports: { containerPort: number }[];
  startupProbe: { httpGet?: { path: string }; tcpSocket?: unknown; failureThreshold: number; periodSeconds: number };
  readinessProbe: { httpGet?: { path: string } };
  livenessProbe?: { httpGet: { path: string } };
  resources: { requests?: Record<string, string>; limits?: Record<string, string | number> };
  env?: unknown;
};
const container = (d: KubeObject) => (d.spec as { template: { spec: { containers: C[] } } }).template.spec.containers[0] as C;

describe('built-in template', () => {
  it('renders a Deployment and a Service from the inputs', () => {
    const [d, s] = renderTemplate(base) as [KubeObject, KubeObject];
    assert.equal(d.kind, 'Deployment');
    assert.equal(d.spec?.replicas, 3);
    assert.equal(d.spec?.progressDeadlineSeconds, 1200);
    assert.deepEqual(d.spec?.strategy, { type: 'RollingUpdate', rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } });
    assert.deepEqual(d.spec?.selector, { matchLabels: { 'app.kubernetes.io/name': 'resnet' } });
    const c = container(d);
    assert.equal(c.image, base.image);
    assert.equal(c.ports[0]?.containerPort, 8080);
    assert.equal(c.startupProbe.httpGet?.path, '/v2/health/ready');
    assert.equal(c.startupProbe.failureThreshold * c.startupProbe.periodSeconds, 900, 'the startup probe allows startupTimeoutSeconds');
    assert.equal(c.readinessProbe.httpGet?.path, '/v2/health/ready');
    assert.equal(c.livenessProbe?.httpGet.path, '/v2/health/live');
    assert.deepEqual(c.resources, { requests: { cpu: '1', memory: '2Gi' }, limits: { memory: '4Gi' } });
    assert.equal(s.kind, 'Service');
    assert.deepEqual(s.spec, {
      type: 'ClusterIP',
      selector: { 'app.kubernetes.io/name': 'resnet' },
      ports: [{ name: 'http', port: 80, targetPort: 'http', protocol: 'TCP' }],
    });
    assert.equal(s.metadata?.annotations, undefined);
  });

  it('internal LoadBalancer, GPUs, env, pull secrets, percentages and TCP probes', () => {
    const [d, s] = renderTemplate({
      ...base,
      serviceType: 'LoadBalancer',
      internalLoadBalancer: true,
      gpuLimit: 1,
      env: parseEnvLines(['MODEL_NAME=resnet', '# c', 'OPTS=a=b']),
      imagePullSecrets: ['acr'],
      maxSurge: '25%',
      maxUnavailable: '25%',
      readinessPath: undefined,
      livenessPath: undefined,
    }) as [KubeObject, KubeObject];
    assert.equal(s.spec?.type, 'LoadBalancer');
    assert.equal(s.metadata?.annotations?.['service.beta.kubernetes.io/azure-load-balancer-internal'], 'true');
    const c = container(d);
    assert.equal(c.resources.limits?.['nvidia.com/gpu'], 1);
    assert.deepEqual(c.env, [
      { name: 'MODEL_NAME', value: 'resnet' },
      { name: 'OPTS', value: 'a=b' },
    ]);
    assert.ok(c.startupProbe.tcpSocket);
    assert.equal(c.livenessProbe, undefined);
    const spec = (d.spec as { template: { spec: { imagePullSecrets: unknown; tolerations: unknown[] } } }).template.spec;
    assert.deepEqual(spec.imagePullSecrets, [{ name: 'acr' }]);
    assert.ok(spec.tolerations.length > 0);
    assert.deepEqual((d.spec?.strategy as { rollingUpdate: unknown }).rollingUpdate, { maxSurge: '25%', maxUnavailable: '25%' });
  });

  it('refuses bad inputs with the input named', () => {
    assert.throws(() => renderTemplate({ ...base, appName: 'Model_Server' }), /'appName' must be a DNS label/);
    assert.throws(() => renderTemplate({ ...base, memoryLimit: '4 GB' }), /'memoryLimit' must be a Kubernetes quantity/);
    assert.throws(() => renderTemplate({ ...base, maxSurge: '0', maxUnavailable: '0' }), /cannot both be 0/);
    assert.throws(() => parseEnvLines(['1BAD=x']), /Line '1BAD=x' of 'env' is not NAME=value/);
    assert.throws(() => parseEnvLines(['NOVALUE']), /is not NAME=value/);
  });
});

describe('traceability', () => {
  const cases: [string, string][] = [
    ['1.2.0', '1.2.0'],
    ['v1.2.0+build.5', 'v1.2.0-build.5'],
    ['https://acct.blob.core.windows.net/models/resnet/1.2.0/', 'https-acct.blob.core.windows.net-models-resnet-1.2.0'],
    ['--release--', 'release'],
    ['a'.repeat(70), 'a'.repeat(63)],
    [`x${'-'.repeat(62)}yz`, 'x'],
    ['日本語', ''],
  ];
  for (const [input, want] of cases) {
    it(`sanitises '${input.slice(0, 30)}' to a valid label value`, () => {
      const v = sanitizeLabelValue(input);
      assert.equal(v, want);
      assert.match(v, LABEL_VALUE_RE);
      assert.ok(v.length <= 63);
    });
  }

  it('labels hold short values, annotations the full ones, on objects and pod templates, never selectors', () => {
    const objs: KubeObject[] = [
      {
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        metadata: { name: 'd', labels: { app: 'x' } },
        spec: { selector: { matchLabels: { app: 'x' } }, template: { metadata: { labels: { app: 'x' } }, spec: {} } },
      },
      { apiVersion: 'batch/v1', kind: 'CronJob', metadata: { name: 'c' }, spec: { jobTemplate: { spec: { template: { spec: {} } } } } },
      { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'm' } },
    ];
    const digest = `sha256:${'f'.repeat(64)}`;
    applyTraceability(objs, {
      pipelineRunUrl: 'https://dev.azure.com/o/p/_build/results?buildId=9',
      pipelineRunId: '9',
      imageDigest: digest,
      modelUri: 's3://b/k',
      modelVersion: '2.0 beta',
      modelSha256: 'e'.repeat(64),
    });
    const d = objs[0] as KubeObject;
    assert.equal(d.metadata?.labels?.app, 'x');
    assert.equal(d.metadata?.labels?.['modeltoaks.io/model-version'], '2.0-beta');
    assert.equal(d.metadata?.labels?.['modeltoaks.io/image-digest'], 'f'.repeat(63));
    assert.equal(d.metadata?.annotations?.['modeltoaks.io/model-version'], '2.0 beta');
    assert.equal(d.metadata?.annotations?.['modeltoaks.io/image-digest'], digest);
    assert.deepEqual(d.spec?.selector, { matchLabels: { app: 'x' } });
    const tpl = (d.spec as { template: { metadata: { labels: Record<string, string>; annotations: Record<string, string> } } }).template.metadata;
    assert.equal(tpl.labels['modeltoaks.io/pipeline-run-id'], '9');
    assert.equal(tpl.annotations['modeltoaks.io/pipeline-run-url'], 'https://dev.azure.com/o/p/_build/results?buildId=9');
    const cj = (objs[1]?.spec as { jobTemplate: { spec: { template: { metadata: { annotations: Record<string, string> } } } } }).jobTemplate.spec.template
      .metadata;
    assert.equal(cj.annotations['modeltoaks.io/model-uri'], 's3://b/k');
    assert.equal(objs[2]?.metadata?.annotations?.['modeltoaks.io/model-sha256'], 'e'.repeat(64));
    for (const v of Object.values(traceLabels({ modelVersion: '@@@' }))) assert.match(v, LABEL_VALUE_RE);
  });
});
