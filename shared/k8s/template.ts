/**
 * The built-in model-serving template: a Deployment (rolling update, startup
 * probe sized for model loading, readiness/liveness probes, resources, GPU)
 * and a Service, used when no manifests are given.
 */
import { InputError } from '../errors';
import type { KubeObject } from './types';

export interface TemplateOptions {
  appName: string;
  /** Image reference (already pinned by digest). */
  image: string;
  replicas: number;
  containerPort: number;
  servicePort: number;
  serviceType: 'ClusterIP' | 'LoadBalancer';
  internalLoadBalancer: boolean;
  readinessPath?: string;
  livenessPath?: string;
  startupTimeoutSeconds: number;
  cpuRequest?: string;
  memoryRequest?: string;
  cpuLimit?: string;
  memoryLimit?: string;
  /** NVIDIA GPUs per pod (0: none). */
  gpuLimit: number;
  env: { name: string; value: string }[];
  maxSurge: string;
  maxUnavailable: string;
  progressDeadlineSeconds: number;
  imagePullSecrets: string[];
}

/** The template inputs' defaults (task.json repeats them as literals; tests/unit/defaults.test.ts keeps them equal). */
export const TEMPLATE_DEFAULTS = {
  appName: 'model-server',
  replicas: 1,
  containerPort: 8080,
  servicePort: 80,
  serviceType: 'ClusterIP',
  internalLoadBalancer: false,
  startupTimeoutSeconds: 600,
  cpuRequest: '500m',
  memoryRequest: '1Gi',
  gpuLimit: 0,
  maxSurge: '1',
  maxUnavailable: '0',
  progressDeadlineSeconds: 600,
} as const satisfies Partial<TemplateOptions>;

const DNS1035 = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;
const QUANTITY = /^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$/;
const INT_OR_PERCENT = /^(\d+%?)$/;

function probePath(p: string | undefined): string | undefined {
  if (!p) return undefined;
  return p.startsWith('/') ? p : `/${p}`;
}

function validateTemplateOptions(o: TemplateOptions): void {
  if (!DNS1035.test(o.appName) || o.appName.length > 63) {
    throw new InputError(
      'appName',
      `'appName' must be a DNS label (lower-case letters, digits and '-', starting with a letter, at most 63 characters), got '${o.appName}'.`,
    );
  }
  for (const [input, v] of [
    ['cpuRequest', o.cpuRequest],
    ['memoryRequest', o.memoryRequest],
    ['cpuLimit', o.cpuLimit],
    ['memoryLimit', o.memoryLimit],
  ] as const) {
    if (v && !QUANTITY.test(v)) throw new InputError(input, `'${input}' must be a Kubernetes quantity such as 500m, 2, 512Mi or 4Gi (got '${v}').`);
  }
  for (const [input, v] of [
    ['maxSurge', o.maxSurge],
    ['maxUnavailable', o.maxUnavailable],
  ] as const) {
    if (!INT_OR_PERCENT.test(v)) throw new InputError(input, `'${input}' must be a whole number or a percentage such as 25% (got '${v}').`);
  }
  if (/^0%?$/.test(o.maxSurge) && /^0%?$/.test(o.maxUnavailable)) {
    throw new InputError('maxUnavailable', `'maxSurge' and 'maxUnavailable' cannot both be 0: the rollout could never make progress; set maxSurge to 1.`);
  }
}

const intOrPercent = (v: string): number | string => (v.endsWith('%') ? v : Number(v));

/** Deployment + Service for the model server. */
export function renderTemplate(o: TemplateOptions): KubeObject[] {
  validateTemplateOptions(o);
  const selector = { 'app.kubernetes.io/name': o.appName };
  const labels = { ...selector, 'app.kubernetes.io/component': 'model-server', 'app.kubernetes.io/managed-by': 'DeployToAKS' };
  const ready = probePath(o.readinessPath);
  const live = probePath(o.livenessPath);
  const handler = (path: string | undefined) => (path ? { httpGet: { path, port: 'http' } } : { tcpSocket: { port: 'http' } });
  const startupPeriod = 5;
  const requests: Record<string, string> = {};
  const limits: Record<string, string | number> = {};
  if (o.cpuRequest) requests.cpu = o.cpuRequest;
  if (o.memoryRequest) requests.memory = o.memoryRequest;
  if (o.cpuLimit) limits.cpu = o.cpuLimit;
  if (o.memoryLimit) limits.memory = o.memoryLimit;
  if (o.gpuLimit > 0) limits['nvidia.com/gpu'] = o.gpuLimit;
  const container: Record<string, unknown> = {
    name: o.appName,
    image: o.image,
    ports: [{ name: 'http', containerPort: o.containerPort, protocol: 'TCP' }],
    ...(o.env.length ? { env: o.env.map((e) => ({ name: e.name, value: e.value })) } : {}),
    ...(Object.keys(requests).length || Object.keys(limits).length
      ? { resources: { ...(Object.keys(requests).length ? { requests } : {}), ...(Object.keys(limits).length ? { limits } : {}) } }
      : {}),
    // Model loading can take minutes: the startup probe holds off the others until then.
    startupProbe: {
      ...handler(ready),
      periodSeconds: startupPeriod,
      failureThreshold: Math.max(1, Math.ceil(o.startupTimeoutSeconds / startupPeriod)),
      timeoutSeconds: 3,
    },
    readinessProbe: { ...handler(ready), periodSeconds: 5, failureThreshold: 3, timeoutSeconds: 3 },
    ...(live ? { livenessProbe: { ...handler(live), periodSeconds: 10, failureThreshold: 3, timeoutSeconds: 5 } } : {}),
  };
  const podSpec: Record<string, unknown> = {
    containers: [container],
    ...(o.imagePullSecrets.length ? { imagePullSecrets: o.imagePullSecrets.map((name) => ({ name })) } : {}),
    ...(o.gpuLimit > 0
      ? {
          tolerations: [
            { key: 'nvidia.com/gpu', operator: 'Exists', effect: 'NoSchedule' },
            { key: 'sku', operator: 'Equal', value: 'gpu', effect: 'NoSchedule' },
          ],
        }
      : {}),
  };
  const deployment: KubeObject = {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: o.appName, labels: { ...labels } },
    spec: {
      replicas: o.replicas,
      progressDeadlineSeconds: o.progressDeadlineSeconds,
      revisionHistoryLimit: 10,
      selector: { matchLabels: selector },
      strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: intOrPercent(o.maxSurge), maxUnavailable: intOrPercent(o.maxUnavailable) } },
      template: { metadata: { labels: { ...labels } }, spec: podSpec },
    },
  };
  const service: KubeObject = {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: {
      name: o.appName,
      labels: { ...labels },
      ...(o.serviceType === 'LoadBalancer' && o.internalLoadBalancer
        ? { annotations: { 'service.beta.kubernetes.io/azure-load-balancer-internal': 'true' } }
        : {}),
    },
    spec: {
      type: o.serviceType,
      selector,
      ports: [{ name: 'http', port: o.servicePort, targetPort: 'http', protocol: 'TCP' }],
    },
  };
  return [deployment, service];
}
