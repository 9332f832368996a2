/**
 * An HTTPS fake Kubernetes API server for tests, behaving like the documented
 * API for what DeployToAKS uses: bearer-token auth (401), per-namespace RBAC
 * denial (403), discovery (/api, /apis, /api/v1, /apis/<group>/<version>),
 * server-side apply PATCH (asserts application/apply-patch+yaml, fieldManager,
 * records force and dryRun), GET/LIST of Deployments, ReplicaSets, Pods,
 * Events, Services and Namespaces (POST creates), pod logs, JSON-patch on
 * Deployments and HTTPRoutes, DELETE (owned ReplicaSets collected), and the
 * service proxy (503 without ready endpoints, scripted answers per request).
 * Gateway API HTTPRoute and SMI TrafficSplit are served through discovery
 * only when asked for (`apis`). A tiny deployment controller creates
 * ReplicaSets with revision annotations (reusing one whose template matches, as
 * on a rollback) and plays a scripted status timeline per rollout, one step per
 * GET: observedGeneration lag, partial updates, old pods terminating, partial
 * availability, then success, ProgressDeadlineExceeded or nothing (timeout),
 * with failing pods in CrashLoopBackOff / OOMKilled / ImagePullBackOff.
 * The TLS certificate is signed by a CA generated with openssl per process.
 */
import { execFileSync } from 'node:child_process';
import { createHash, randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as yaml from 'js-yaml';

type Obj = Record<string, unknown> & {
  metadata: Record<string, unknown> & { name: string; namespace?: string; annotations?: Record<string, string>; labels?: Record<string, string> };
};

export type Scenario = { kind: 'success' } | { kind: 'fail'; podReason: 'CrashLoopBackOff' | 'OOMKilled' | 'ImagePullBackOff'; deadline: boolean };

export interface RecordedRequest {
  method: string;
  path: string;
  query: Record<string, string>;
  contentType?: string;
  body?: string;
}

export interface FakeApiServerOptions {
  /** Accepted bearer tokens (default ['test-token']). */
  tokens?: string[];
  /** Namespaces the identity may not touch (403). */
  forbiddenNamespaces?: string[];
  /** Rollout scenario for a Deployment's new template, decided by its first container's image (default: images containing 'bad' fail with CrashLoopBackOff and ProgressDeadlineExceeded). */
  scenarioFor?: (image: string) => Scenario;
  /** Container log text. */
  logs?: string;
  /** Load balancer ingress given to LoadBalancer Services on their second read. */
  lbIngress?: { ip?: string; hostname?: string };
  /** Status the service proxy answers with (default 200). */
  proxyStatus?: number;
  /** Names of objects whose real (non-dry-run) apply fails with HTTP 500. */
  failApplyOf?: string[];
  /** Names of objects whose dry-run apply is refused (403, as RBAC or a policy would). */
  failDryRunOf?: string[];
  /** Optional APIs the cluster serves (CRDs installed): Gateway API HTTPRoute, SMI TrafficSplit, at these versions. */
  apis?: { gatewayApi?: 'v1' | 'v1beta1'; smi?: 'v1alpha1' | 'v1alpha2' | 'v1alpha3' | 'v1alpha4' };
  /** Scripted answer of the pods behind a Service to a proxied request (default: proxyStatus with a small JSON body). */
  proxyAnswer?: (r: ProxiedRequest) => { status: number; body: string; contentType?: string };
}

/** A request the service proxy passed on to the pods of a Service. */
export interface ProxiedRequest {
  namespace: string;
  service: string;
  port: string;
  method: string;
  /** Path after /proxy, with the query string. */
  path: string;
  body: string;
  contentType?: string;
  /** Images of the ready pods that would answer. */
  images: string[];
}

interface Resource {
  name: string;
  kind: string;
  namespaced: boolean;
  verbs: string[];
}

const VERBS = ['create', 'delete', 'get', 'list', 'patch', 'update', 'watch'];
const GROUPS: Record<string, Resource[]> = {
  v1: [
    { name: 'namespaces', kind: 'Namespace', namespaced: false, verbs: VERBS },
    { name: 'pods', kind: 'Pod', namespaced: true, verbs: VERBS },
    { name: 'pods/log', kind: 'Pod', namespaced: true, verbs: ['get'] },
    { name: 'services', kind: 'Service', namespaced: true, verbs: VERBS },
    { name: 'services/proxy', kind: 'ServiceProxyOptions', namespaced: true, verbs: ['get'] },
    { name: 'configmaps', kind: 'ConfigMap', namespaced: true, verbs: VERBS },
    { name: 'secrets', kind: 'Secret', namespaced: true, verbs: VERBS },
    { name: 'serviceaccounts', kind: 'ServiceAccount', namespaced: true, verbs: VERBS },
    { name: 'events', kind: 'Event', namespaced: true, verbs: VERBS },
  ],
  'apps/v1': [
    { name: 'deployments', kind: 'Deployment', namespaced: true, verbs: VERBS },
    { name: 'deployments/status', kind: 'Deployment', namespaced: true, verbs: ['get', 'patch', 'update'] },
    { name: 'replicasets', kind: 'ReplicaSet', namespaced: true, verbs: VERBS },
    { name: 'statefulsets', kind: 'StatefulSet', namespaced: true, verbs: VERBS },
    { name: 'daemonsets', kind: 'DaemonSet', namespaced: true, verbs: VERBS },
  ],
  'batch/v1': [
    { name: 'jobs', kind: 'Job', namespaced: true, verbs: VERBS },
    { name: 'cronjobs', kind: 'CronJob', namespaced: true, verbs: VERBS },
  ],
  'networking.k8s.io/v1': [{ name: 'ingresses', kind: 'Ingress', namespaced: true, verbs: VERBS }],
  'rbac.authorization.k8s.io/v1': [
    { name: 'clusterroles', kind: 'ClusterRole', namespaced: false, verbs: VERBS },
    { name: 'roles', kind: 'Role', namespaced: true, verbs: VERBS },
  ],
};

/** Groups served only when a test installs their CRDs. */
const OPTIONAL_GROUPS: Record<string, Resource[]> = {
  gatewayApi: [
    { name: 'httproutes', kind: 'HTTPRoute', namespaced: true, verbs: VERBS },
    { name: 'gateways', kind: 'Gateway', namespaced: true, verbs: VERBS },
  ],
  smi: [{ name: 'trafficsplits', kind: 'TrafficSplit', namespaced: true, verbs: VERBS }],
};

let certs: { ca: string; cert: string; key: string } | undefined;

/** A CA and a server certificate for 127.0.0.1/localhost (generated once per process). */
export function testCertificates(): { ca: string; cert: string; key: string } {
  if (certs) return certs;
  const dir = mkdtempSync(join(tmpdir(), 'fake-apiserver-'));
  const run = (args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  try {
    run(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '2', '-subj', '/CN=fake-kube-ca']);
    run(['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=kube-apiserver']);
    writeFileSync(join(dir, 'ext.cnf'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n');
    run([
      'x509',
      '-req',
      '-in',
      'server.csr',
      '-CA',
      'ca.crt',
      '-CAkey',
      'ca.key',
      '-CAcreateserial',
      '-out',
      'server.crt',
      '-days',
      '2',
      '-extfile',
      'ext.cnf',
    ]);
    certs = {
      ca: readFileSync(join(dir, 'ca.crt'), 'utf8'),
      cert: readFileSync(join(dir, 'server.crt'), 'utf8'),
      key: readFileSync(join(dir, 'server.key'), 'utf8'),
    };
    return certs;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

interface Rollout {
  scenario: Scenario;
  tick: number;
  generation: number;
  oldReplicas: number;
  newRs: string;
}

const clone = <T>(v: T): T => JSON.parse(JSON.stringify(v)) as T;

function statusBody(code: number, reason: string, message: string): string {
  return JSON.stringify({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code });
}

function templateKey(tpl: unknown): string {
  const t = clone((tpl ?? {}) as Record<string, unknown>);
  const meta = t.metadata as { labels?: Record<string, string> } | undefined;
  if (meta?.labels) delete meta.labels['pod-template-hash'];
  return JSON.stringify(t);
}

function matchesSelector(labels: Record<string, string> | undefined, selector: string | undefined): boolean {
  if (!selector) return true;
  return selector.split(',').every((term) => {
    const [k, v] = term.split('=');
    return (labels ?? {})[k as string] === v;
  });
}

export class FakeApiServer {
  readonly requests: RecordedRequest[] = [];
  /** key: groupVersion|resource|namespace|name */
  readonly store = new Map<string, Obj>();
  private readonly rollouts = new Map<string, Rollout>();
  private readonly serviceReads = new Map<string, number>();
  private rv = 1;
  private readonly groups: Record<string, Resource[]>;
  readonly proxied: ProxiedRequest[] = [];
  private server!: https.Server;
  url = '';
  readonly ca: string;

  private constructor(readonly options: FakeApiServerOptions) {
    this.ca = testCertificates().ca;
    this.groups = { ...GROUPS };
    if (options.apis?.gatewayApi) this.groups[`gateway.networking.k8s.io/${options.apis.gatewayApi}`] = OPTIONAL_GROUPS.gatewayApi as Resource[];
    if (options.apis?.smi) this.groups[`split.smi-spec.io/${options.apis.smi}`] = OPTIONAL_GROUPS.smi as Resource[];
    for (const ns of ['default', 'kube-system']) this.put('v1', 'namespaces', undefined, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } });
  }

  static async start(options: FakeApiServerOptions = {}): Promise<FakeApiServer> {
    const s = new FakeApiServer(options);
    const { cert, key } = testCertificates();
    s.server = https.createServer({ cert, key }, (req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        try {
          s.handle(req, res, Buffer.concat(chunks).toString('utf8'));
        } catch (err) {
          s.send(res, 500, statusBody(500, 'InternalError', `fake server bug: ${(err as Error).stack}`));
        }
      });
    });
    await new Promise<void>((resolve) => s.server.listen(0, '127.0.0.1', resolve));
    s.url = `https://127.0.0.1:${(s.server.address() as AddressInfo).port}`;
    return s;
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  /** A kubeconfig for this server with the given token. */
  kubeconfig(token = this.options.tokens?.[0] ?? 'test-token', context = 'fake'): string {
    return yaml.dump({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'fake', cluster: { server: this.url, 'certificate-authority-data': Buffer.from(this.ca).toString('base64') } }],
      users: [{ name: 'tester', user: { token } }],
      contexts: [{ name: context, context: { cluster: 'fake', user: 'tester' } }],
      'current-context': context,
    });
  }

  get(groupVersion: string, resource: string, namespace: string | undefined, name: string): Obj | undefined {
    return this.store.get(`${groupVersion}|${resource}|${namespace ?? ''}|${name}`);
  }

  list(groupVersion: string, resource: string, namespace?: string): Obj[] {
    const prefix = `${groupVersion}|${resource}|`;
    return [...this.store.entries()]
      .filter(([k, v]) => k.startsWith(prefix) && (namespace === undefined || v.metadata.namespace === namespace))
      .map(([, v]) => v);
  }

  requestsMatching(method: string, pathPart: string): RecordedRequest[] {
    return this.requests.filter((r) => r.method === method && r.path.includes(pathPart));
  }

  private put(groupVersion: string, resource: string, namespace: string | undefined, obj: Record<string, unknown>): Obj {
    const o = obj as Obj;
    o.metadata.resourceVersion = String(++this.rv);
    o.metadata.uid = (o.metadata.uid as string | undefined) ?? randomUUID();
    o.metadata.creationTimestamp = (o.metadata.creationTimestamp as string | undefined) ?? new Date().toISOString();
    this.store.set(`${groupVersion}|${resource}|${namespace ?? ''}|${o.metadata.name}`, o);
    return o;
  }

  private send(res: ServerResponse, status: number, body: string, contentType = 'application/json'): void {
    res.writeHead(status, { 'Content-Type': contentType, 'Content-Length': Buffer.byteLength(body) });
    res.end(body);
  }

  private scenarioFor(image: string): Scenario {
    if (this.options.scenarioFor) return this.options.scenarioFor(image);
    return image.includes('bad') ? { kind: 'fail', podReason: 'CrashLoopBackOff', deadline: true } : { kind: 'success' };
  }

  private handle(req: IncomingMessage, res: ServerResponse, body: string): void {
    const url = new URL(req.url ?? '/', 'https://x');
    const method = req.method ?? 'GET';
    const query = Object.fromEntries(url.searchParams.entries());
    this.requests.push({ method, path: url.pathname, query, contentType: req.headers['content-type'], body: body || undefined });
    const auth = req.headers.authorization ?? '';
    const tokens = this.options.tokens ?? ['test-token'];
    if (!tokens.some((t) => auth === `Bearer ${t}`)) {
      this.send(res, 401, statusBody(401, 'Unauthorized', 'Unauthorized'));
      return;
    }
    const parts = url.pathname.split('/').filter(Boolean).map(decodeURIComponent);
    // Discovery
    if (url.pathname === '/api') return this.send(res, 200, JSON.stringify({ kind: 'APIVersions', versions: ['v1'] }));
    if (url.pathname === '/apis') {
      const groups = Object.keys(this.groups)
        .filter((g) => g.includes('/'))
        .map((gv) => {
          const [name, version] = gv.split('/') as [string, string];
          return { name, versions: [{ groupVersion: gv, version }], preferredVersion: { groupVersion: gv, version } };
        });
      return this.send(res, 200, JSON.stringify({ kind: 'APIGroupList', apiVersion: 'v1', groups }));
    }
    let gv: string;
    let rest: string[];
    if (parts[0] === 'api' && parts[1] === 'v1') {
      gv = 'v1';
      rest = parts.slice(2);
    } else if (parts[0] === 'apis' && parts.length >= 3) {
      gv = `${parts[1]}/${parts[2]}`;
      rest = parts.slice(3);
    } else return this.send(res, 404, statusBody(404, 'NotFound', 'the server could not find the requested resource'));
    const resources = this.groups[gv];
    if (!resources) return this.send(res, 404, statusBody(404, 'NotFound', 'the server could not find the requested resource'));
    if (rest.length === 0) return this.send(res, 200, JSON.stringify({ kind: 'APIResourceList', apiVersion: 'v1', groupVersion: gv, resources }));

    let namespace: string | undefined;
    if (rest[0] === 'namespaces' && rest.length >= 3) {
      namespace = rest[1];
      rest = rest.slice(2);
    }
    const [resource, name, sub] = rest as [string, string | undefined, string | undefined];
    const subPath = rest.slice(3);
    const def = resources.find((r) => r.name === resource);
    if (!def) return this.send(res, 404, statusBody(404, 'NotFound', 'the server could not find the requested resource'));
    if (namespace && this.options.forbiddenNamespaces?.includes(namespace)) {
      const verb = method === 'PATCH' ? 'patch' : method === 'POST' ? 'create' : name ? 'get' : 'list';
      const group = gv.includes('/') ? gv.split('/')[0] : '';
      return this.send(
        res,
        403,
        statusBody(
          403,
          'Forbidden',
          `${resource}${group ? `.${group}` : ''}${name ? ` "${name}"` : ''} is forbidden: User "system:serviceaccount:ci:deployer" cannot ${verb} resource "${resource}" in API group "${group}" in the namespace "${namespace}"`,
        ),
      );
    }
    if (def.namespaced && namespace && !this.get('v1', 'namespaces', undefined, namespace) && method !== 'GET') {
      return this.send(res, 404, statusBody(404, 'NotFound', `namespaces "${namespace}" not found`));
    }
    // Subresources
    if (sub === 'log' && resource === 'pods' && name) return this.podLog(res, namespace, name, query);
    if (sub === 'proxy' && resource === 'services' && name) return this.proxy(req, res, namespace, name, subPath, url.search, body);
    if (method === 'DELETE' && name) return this.remove(res, gv, def, namespace, name);

    if (method === 'GET' && !name) return this.listResponse(res, gv, def, namespace, query);
    if (method === 'GET' && name) {
      if (resource === 'pods') {
        const p = this.pods(namespace).find((x) => x.metadata.name === name);
        return p ? this.send(res, 200, JSON.stringify(p)) : this.send(res, 404, statusBody(404, 'NotFound', `pods "${name}" not found`));
      }
      const o = this.get(gv, resource, namespace, name);
      if (!o) return this.send(res, 404, statusBody(404, 'NotFound', `${resource}${gv.includes('/') ? `.${gv.split('/')[0]}` : ''} "${name}" not found`));
      if (resource === 'deployments') this.advance(o);
      if (resource === 'services') this.serviceRead(o);
      return this.send(res, 200, JSON.stringify(o));
    }
    if (method === 'POST' && resource === 'namespaces') {
      const obj = JSON.parse(body) as Obj;
      if (this.get('v1', 'namespaces', undefined, obj.metadata.name))
        return this.send(res, 409, statusBody(409, 'AlreadyExists', `namespaces "${obj.metadata.name}" already exists`));
      if (query.dryRun === 'All') return this.send(res, 201, JSON.stringify({ ...obj, status: { phase: 'Active' } }));
      const created = this.put('v1', 'namespaces', undefined, { ...obj, status: { phase: 'Active' } });
      return this.send(res, 201, JSON.stringify(created));
    }
    if (method === 'PATCH' && name) {
      const ct = (req.headers['content-type'] ?? '').split(';')[0];
      if (ct === 'application/apply-patch+yaml') return this.apply(res, gv, def, namespace, name, body, query);
      if (ct === 'application/json-patch+json') return this.jsonPatch(res, gv, resource, namespace, name, body);
      return this.send(
        res,
        415,
        statusBody(
          415,
          'UnsupportedMediaType',
          `the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml`,
        ),
      );
    }
    return this.send(res, 405, statusBody(405, 'MethodNotAllowed', `${method} is not supported by the fake server`));
  }

  private listResponse(res: ServerResponse, gv: string, def: Resource, namespace: string | undefined, query: Record<string, string>): void {
    let items: Obj[];
    if (def.name === 'pods') items = this.pods(namespace);
    else if (def.name === 'events') items = this.events(namespace);
    else items = this.list(gv, def.name, def.namespaced ? namespace : undefined);
    items = items.filter((o) => matchesSelector(o.metadata.labels, query.labelSelector));
    this.send(res, 200, JSON.stringify({ kind: `${def.kind}List`, apiVersion: gv, metadata: { resourceVersion: String(this.rv) }, items }));
  }

  private apply(
    res: ServerResponse,
    gv: string,
    def: Resource,
    namespace: string | undefined,
    name: string,
    body: string,
    query: Record<string, string>,
  ): void {
    if (!query.fieldManager)
      return this.send(
        res,
        422,
        statusBody(422, 'Invalid', 'PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required value: is required for apply patch'),
      );
    let obj: Obj;
    try {
      obj = yaml.load(body) as Obj;
    } catch (err) {
      return this.send(res, 400, statusBody(400, 'BadRequest', `error decoding YAML: ${(err as Error).message}`));
    }
    if (obj?.kind !== def.kind || obj.apiVersion !== gv)
      return this.send(res, 400, statusBody(400, 'BadRequest', `the kind or apiVersion in the body (${obj?.apiVersion}/${obj?.kind}) does not match the URL`));
    if (obj.metadata?.name !== name) return this.send(res, 400, statusBody(400, 'BadRequest', 'the name of the object does not match the name on the URL'));
    if (def.namespaced && (obj.metadata.namespace ?? namespace) !== namespace)
      return this.send(res, 400, statusBody(400, 'BadRequest', 'the namespace of the object does not match the namespace on the request'));
    const existing = this.get(gv, def.name, namespace, name);
    const merged = clone(existing ?? ({ metadata: { name } } as Obj));
    for (const [k, v] of Object.entries(obj)) if (k !== 'metadata' && k !== 'status') merged[k] = v;
    merged.metadata = {
      ...merged.metadata,
      ...(def.namespaced ? { namespace } : {}),
      labels: { ...(existing?.metadata.labels ?? {}), ...(obj.metadata.labels ?? {}) },
      annotations: { ...(existing?.metadata.annotations ?? {}), ...(obj.metadata.annotations ?? {}) },
      managedFields: [{ manager: query.fieldManager, operation: 'Apply', apiVersion: gv }],
    };
    const specChanged = JSON.stringify(existing?.spec) !== JSON.stringify(obj.spec);
    merged.metadata.generation = ((existing?.metadata.generation as number | undefined) ?? 0) + (specChanged || !existing ? 1 : 0);
    if (query.dryRun === 'All' && this.options.failDryRunOf?.includes(name)) {
      return this.send(
        res,
        403,
        statusBody(
          403,
          'Forbidden',
          `${def.name} "${name}" is forbidden: User "system:serviceaccount:ci:deployer" cannot patch resource "${def.name}"${namespace ? ` in the namespace "${namespace}"` : ' at the cluster scope'}`,
        ),
      );
    }
    if (query.dryRun === 'All') return this.send(res, 200, JSON.stringify(merged));
    if (this.options.failApplyOf?.includes(name))
      return this.send(res, 500, statusBody(500, 'InternalError', 'Internal error occurred: etcdserver: request timed out'));
    if (!existing) delete merged.status;
    const stored = this.put(gv, def.name, namespace, merged);
    if (def.name === 'deployments' && (specChanged || !existing)) this.reconcileDeployment(stored);
    this.send(res, existing ? 200 : 201, JSON.stringify(stored));
  }

  private jsonPatch(res: ServerResponse, gv: string, resource: string, namespace: string | undefined, name: string, body: string): void {
    const existing = this.get(gv, resource, namespace, name);
    if (!existing) return this.send(res, 404, statusBody(404, 'NotFound', `${resource} "${name}" not found`));
    const ops = JSON.parse(body) as { op: string; path: string; value?: unknown }[];
    const obj = clone(existing) as Record<string, unknown>;
    for (const op of ops) {
      const keys = op.path
        .split('/')
        .slice(1)
        .map((k) => k.replace(/~1/g, '/').replace(/~0/g, '~'));
      const last = keys.pop() as string;
      let cur = obj;
      for (const k of keys) cur = cur[k] as Record<string, unknown>;
      if (op.op === 'replace' || op.op === 'add') cur[last] = op.value;
      else if (op.op === 'remove') delete cur[last];
      else if (op.op === 'test' && JSON.stringify(cur[last]) !== JSON.stringify(op.value))
        // the API server answers a failed test operation with 422 Invalid
        return this.send(
          res,
          422,
          statusBody(422, 'Invalid', `the server rejected our request due to an error in our request: testing value ${op.path} failed`),
        );
    }
    const o = obj as Obj;
    const specChanged = JSON.stringify(existing.spec) !== JSON.stringify(o.spec);
    if (specChanged) o.metadata.generation = ((existing.metadata.generation as number | undefined) ?? 0) + 1;
    const stored = this.put(gv, resource, namespace, o);
    if (specChanged && resource === 'deployments') this.reconcileDeployment(stored);
    this.send(res, 200, JSON.stringify(stored));
  }

  /** The deployment controller's part: new or reused ReplicaSet, revision annotation, timeline start. */
  private reconcileDeployment(d: Obj): void {
    const ns = d.metadata.namespace as string;
    const spec = d.spec as { replicas?: number; template: { metadata?: { labels?: Record<string, string> }; spec: { containers: { image: string }[] } } };
    const owned = this.list('apps/v1', 'replicasets', ns).filter((rs) =>
      (rs.metadata.ownerReferences as { uid: string }[] | undefined)?.some((r) => r.uid === d.metadata.uid),
    );
    const maxRev = Math.max(0, ...owned.map((rs) => Number(rs.metadata.annotations?.['deployment.kubernetes.io/revision'] ?? 0)));
    const key = templateKey(spec.template);
    const current = owned.find((rs) => Number(rs.metadata.annotations?.['deployment.kubernetes.io/revision']) === maxRev);
    if (current && templateKey((current.spec as { template: unknown }).template) === key) return; // template unchanged
    let rs = owned.find((x) => templateKey((x.spec as { template: unknown }).template) === key);
    const revision = maxRev + 1;
    if (rs) {
      rs.metadata.annotations = { ...(rs.metadata.annotations ?? {}), 'deployment.kubernetes.io/revision': String(revision) };
    } else {
      const hash = createHash('sha256').update(key).digest('hex').slice(0, 10);
      const tpl = clone(spec.template);
      tpl.metadata = { ...(tpl.metadata ?? {}), labels: { ...(tpl.metadata?.labels ?? {}), 'pod-template-hash': hash } };
      rs = this.put('apps/v1', 'replicasets', ns, {
        apiVersion: 'apps/v1',
        kind: 'ReplicaSet',
        metadata: {
          name: `${d.metadata.name}-${hash}`,
          namespace: ns,
          labels: tpl.metadata.labels,
          annotations: { 'deployment.kubernetes.io/revision': String(revision) },
          ownerReferences: [{ apiVersion: 'apps/v1', kind: 'Deployment', name: d.metadata.name, uid: d.metadata.uid, controller: true }],
        },
        spec: { replicas: spec.replicas ?? 1, selector: (d.spec as { selector?: unknown } | undefined)?.selector, template: tpl },
      });
    }
    d.metadata.annotations = { ...(d.metadata.annotations ?? {}), 'deployment.kubernetes.io/revision': String(revision) };
    const previous = this.rollouts.get(`${ns}/${d.metadata.name}`);
    this.rollouts.set(`${ns}/${d.metadata.name}`, {
      scenario: this.scenarioFor(spec.template.spec.containers[0]?.image ?? ''),
      tick: 0,
      generation: d.metadata.generation as number,
      oldReplicas: previous || owned.length ? (spec.replicas ?? 1) : 0,
      newRs: rs.metadata.name,
    });
  }

  /** One step of the scripted status timeline, taken on each GET of the Deployment. */
  private advance(d: Obj): void {
    const r = this.rollouts.get(`${d.metadata.namespace}/${d.metadata.name}`);
    if (!r) return;
    const n = (d.spec as { replicas?: number }).replicas ?? 1;
    const gen = d.metadata.generation as number;
    const t = r.tick++;
    const progressing = (status: string, reason: string, message: string) => ({ type: 'Progressing', status, reason, message });
    const available = (ok: boolean) => ({
      type: 'Available',
      status: ok ? 'True' : 'False',
      reason: ok ? 'MinimumReplicasAvailable' : 'MinimumReplicasUnavailable',
      message: ok ? 'Deployment has minimum availability.' : 'Deployment does not have minimum availability.',
    });
    const old = r.oldReplicas;
    let status: Record<string, unknown>;
    if (t === 0) {
      // the controller has not seen the new generation yet
      status = { ...((d.status as Record<string, unknown>) ?? {}), ...(gen > 1 ? { observedGeneration: gen - 1 } : {}) };
      if (gen === 1) delete status.observedGeneration;
    } else if (r.scenario.kind === 'success') {
      const steps = [
        { updatedReplicas: 0, replicas: old, availableReplicas: old },
        { updatedReplicas: n, replicas: n + old, availableReplicas: old },
        { updatedReplicas: n, replicas: n, availableReplicas: Math.max(0, n - 1) },
        { updatedReplicas: n, replicas: n, availableReplicas: n },
      ];
      const s = steps[Math.min(t - 1, steps.length - 1)] as { updatedReplicas: number; replicas: number; availableReplicas: number };
      const done = t - 1 >= steps.length - 1;
      status = {
        observedGeneration: gen,
        ...Object.fromEntries(Object.entries(s).filter(([, v]) => v !== 0)), // Go omits zero fields
        ...(s.availableReplicas ? { readyReplicas: s.availableReplicas } : {}),
        conditions: [
          available(s.availableReplicas >= n - 0),
          progressing(
            'True',
            done ? 'NewReplicaSetAvailable' : 'ReplicaSetUpdated',
            `ReplicaSet "${r.newRs}" ${done ? 'has successfully progressed' : 'is progressing'}.`,
          ),
        ],
      };
    } else {
      const exceeded = r.scenario.deadline && t >= 3;
      status = {
        observedGeneration: gen,
        replicas: old + 1,
        updatedReplicas: 1,
        ...(old ? { availableReplicas: old, readyReplicas: old } : {}),
        unavailableReplicas: 1,
        conditions: [
          available(old >= n),
          exceeded
            ? progressing('False', 'ProgressDeadlineExceeded', `ReplicaSet "${r.newRs}" has timed out progressing.`)
            : progressing('True', 'ReplicaSetUpdated', `ReplicaSet "${r.newRs}" is progressing.`),
        ],
      };
    }
    d.status = status;
  }

  private serviceRead(s: Obj): void {
    const key = `${s.metadata.namespace}/${s.metadata.name}`;
    const n = (this.serviceReads.get(key) ?? 0) + 1;
    this.serviceReads.set(key, n);
    if ((s.spec as { type?: string }).type === 'LoadBalancer' && n >= 2 && this.options.lbIngress)
      s.status = { loadBalancer: { ingress: [this.options.lbIngress] } };
  }

  /** Pods of every Deployment's current and previous ReplicaSets, following the timelines. */
  private pods(namespace: string | undefined): Obj[] {
    const out: Obj[] = [];
    for (const d of this.list('apps/v1', 'deployments', namespace)) {
      const r = this.rollouts.get(`${d.metadata.namespace}/${d.metadata.name}`);
      const rss = this.list('apps/v1', 'replicasets', d.metadata.namespace).filter((rs) =>
        (rs.metadata.ownerReferences as { uid: string }[] | undefined)?.some((o) => o.uid === d.metadata.uid),
      );
      for (const rs of rss) {
        const isNew = rs.metadata.name === r?.newRs;
        const failing = isNew && r?.scenario.kind === 'fail';
        const count = isNew ? (failing ? 1 : ((d.spec as { replicas?: number }).replicas ?? 1)) : failing ? (r?.oldReplicas ?? 0) : 0;
        const tpl = (rs.spec as { template: { metadata: { labels: Record<string, string> }; spec: { containers: { name: string; image: string }[] } } })
          .template;
        for (let i = 0; i < count; i++) {
          const reason = r?.scenario.kind === 'fail' ? r.scenario.podReason : undefined;
          const containerStatuses = tpl.spec.containers.map((c) => {
            if (!failing) return { name: c.name, image: c.image, ready: true, restartCount: 0, state: { running: { startedAt: '2024-01-01T00:00:00Z' } } };
            if (reason === 'ImagePullBackOff')
              return {
                name: c.name,
                image: c.image,
                ready: false,
                restartCount: 0,
                state: { waiting: { reason, message: `Back-off pulling image "${c.image}"` } },
              };
            return {
              name: c.name,
              image: c.image,
              ready: false,
              restartCount: 4,
              state: { waiting: { reason: 'CrashLoopBackOff', message: `back-off 1m20s restarting failed container=${c.name}` } },
              lastState: { terminated: { reason: reason === 'OOMKilled' ? 'OOMKilled' : 'Error', exitCode: reason === 'OOMKilled' ? 137 : 1 } },
            };
          });
          out.push({
            apiVersion: 'v1',
            kind: 'Pod',
            metadata: { name: `${rs.metadata.name}-p${i}`, namespace: d.metadata.namespace, labels: tpl.metadata.labels },
            spec: tpl.spec,
            status: {
              phase: failing && reason === 'ImagePullBackOff' ? 'Pending' : 'Running',
              conditions: [{ type: 'Ready', status: failing ? 'False' : 'True' }],
              containerStatuses,
            },
          } as Obj);
        }
      }
    }
    return out;
  }

  private events(namespace: string | undefined): Obj[] {
    const out: Obj[] = [];
    for (const p of this.pods(namespace)) {
      const cs = (p.status as { containerStatuses: { state: { waiting?: { reason: string } } }[] }).containerStatuses[0]?.state.waiting?.reason ?? '';
      if (!cs) continue;
      out.push({
        apiVersion: 'v1',
        kind: 'Event',
        metadata: { name: `${p.metadata.name}.1`, namespace: p.metadata.namespace },
        involvedObject: { kind: 'Pod', name: p.metadata.name, namespace: p.metadata.namespace },
        type: 'Warning',
        reason: cs === 'ImagePullBackOff' ? 'Failed' : 'BackOff',
        message: cs === 'ImagePullBackOff' ? 'Error: ImagePullBackOff' : 'Back-off restarting failed container',
        count: 5,
        lastTimestamp: '2024-01-01T00:05:00Z',
      } as Obj);
    }
    return out;
  }

  private podLog(res: ServerResponse, namespace: string | undefined, name: string, query: Record<string, string>): void {
    const pod = this.pods(namespace).find((p) => p.metadata.name === name);
    if (!pod) return this.send(res, 404, statusBody(404, 'NotFound', `pods "${name}" not found`));
    const text = this.options.logs ?? 'starting model server\nloading model weights\nRuntimeError: model file not found\n';
    const lines = text.split('\n');
    const tail = query.tailLines ? lines.slice(-Number(query.tailLines) - 1) : lines;
    this.send(res, 200, (query.previous === 'true' ? tail : tail).join('\n'), 'text/plain');
  }

  private proxy(
    req: IncomingMessage,
    res: ServerResponse,
    namespace: string | undefined,
    nameAndPort: string,
    subPath: string[],
    search: string,
    body: string,
  ): void {
    const [name, port = ''] = nameAndPort.split(':') as [string, string | undefined];
    const svc = this.get('v1', 'services', namespace, name);
    if (!svc) return this.send(res, 404, statusBody(404, 'NotFound', `services "${name}" not found`));
    // Like the API server: the request goes to a ready pod the Service selects, or fails with 503.
    const selector = ((svc.spec as { selector?: Record<string, string> }).selector ?? {}) as Record<string, string>;
    const ready = this.pods(namespace).filter(
      (p) =>
        Object.keys(selector).length > 0 &&
        Object.entries(selector).every(([k, v]) => p.metadata.labels?.[k] === v) &&
        (p.status as { conditions: { type: string; status: string }[] }).conditions.some((c) => c.type === 'Ready' && c.status === 'True'),
    );
    if (ready.length === 0) return this.send(res, 503, statusBody(503, 'ServiceUnavailable', `no endpoints available for service "${name}"`));
    const images = ready.map((p) => (p.spec as { containers: { image: string }[] }).containers[0]?.image ?? '');
    const proxied: ProxiedRequest = {
      namespace: namespace ?? '',
      service: name,
      port,
      method: req.method ?? 'GET',
      path: `/${subPath.map(encodeURIComponent).join('/')}${search}`,
      body,
      contentType: req.headers['content-type'],
      images,
    };
    this.proxied.push(proxied);
    if (this.options.proxyAnswer) {
      const a = this.options.proxyAnswer(proxied);
      return this.send(res, a.status, a.body, a.contentType ?? 'application/json');
    }
    const status = this.options.proxyStatus ?? 200;
    this.send(res, status, status < 300 ? '{"status":"ok"}' : 'model not loaded', status < 300 ? 'application/json' : 'text/plain');
  }

  /** DELETE of a named object; a Deployment's ReplicaSets (and so its pods) go with it, as the garbage collector does. */
  private remove(res: ServerResponse, gv: string, def: Resource, namespace: string | undefined, name: string): void {
    const existing = this.get(gv, def.name, def.namespaced ? namespace : undefined, name);
    if (!existing) return this.send(res, 404, statusBody(404, 'NotFound', `${def.name}${gv.includes('/') ? `.${gv.split('/')[0]}` : ''} "${name}" not found`));
    this.store.delete(`${gv}|${def.name}|${def.namespaced ? (namespace ?? '') : ''}|${name}`);
    if (def.name === 'deployments') {
      for (const rs of this.list('apps/v1', 'replicasets', namespace)) {
        if ((rs.metadata.ownerReferences as { uid: string }[] | undefined)?.some((o) => o.uid === existing.metadata.uid))
          this.store.delete(`apps/v1|replicasets|${namespace ?? ''}|${rs.metadata.name}`);
      }
      this.rollouts.delete(`${namespace}/${name}`);
    }
    this.send(
      res,
      200,
      JSON.stringify({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success', details: { name, kind: def.name, uid: existing.metadata.uid } }),
    );
  }

  /** Test helper: creates or replaces an object as a user's kubectl would (e.g. an HTTPRoute the canary must find). */
  seed(groupVersion: string, resource: string, namespace: string | undefined, obj: Record<string, unknown>): void {
    this.put(groupVersion, resource, namespace, clone(obj));
  }
}

/**
 * A fake ARM endpoint for managedClusters list*Credential: checks the bearer
 * token and api-version, returns base64 kubeconfigs (user, admin, or an Entra ID
 * user that runs kubelogin), or the status configured per cluster name.
 */
export interface FakeArmCluster {
  subscriptionId: string;
  resourceGroup: string;
  name: string;
  userKubeconfig: string;
  adminKubeconfig?: string;
  /** HTTP status to answer with instead (e.g. 403). */
  failWith?: number;
}

/** The IDENTITY_HEADER value FakeArm's managed identity endpoint (`<url>/msi/token`) expects. */
export const MSI_HEADER = 'fake-identity-header';

export class FakeArm {
  readonly requests: { method: string; path: string; query: Record<string, string> }[] = [];
  private server!: https.Server;
  url = '';
  constructor(
    readonly clusters: FakeArmCluster[],
    readonly token = 'arm-token',
  ) {}

  async start(): Promise<this> {
    const { cert, key } = testCertificates();
    this.server = https.createServer({ cert, key }, (req, res) => {
      req.resume();
      req.on('end', () => this.handle(req, res));
    });
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.url = `https://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? '/', 'https://x');
    const reply0 = (body: unknown) => {
      const text = JSON.stringify(body);
      res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
      res.end(text);
    };
    if (url.pathname === '/_test/requests') return reply0(this.requests); // inspection for tests running it in another process
    this.requests.push({ method: req.method ?? '', path: url.pathname, query: Object.fromEntries(url.searchParams.entries()) });
    const reply = (status: number, body: unknown) => {
      const text = JSON.stringify(body);
      res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
      res.end(text);
    };
    // A managed identity endpoint in the App Service style (IDENTITY_ENDPOINT + IDENTITY_HEADER, as the Azure SDK reads them):
    // the task's real credential code gets this fake's token for every resource.
    if (url.pathname === '/msi/token') {
      if (req.headers['x-identity-header'] !== MSI_HEADER) return reply(401, { error: 'unauthorized', error_description: 'missing X-IDENTITY-HEADER' });
      const expiresOn = Math.floor(Date.now() / 1000) + 3600;
      return reply(200, {
        access_token: this.token,
        expires_on: String(expiresOn),
        resource: url.searchParams.get('resource') ?? '',
        token_type: 'Bearer',
        client_id: 'fake-msi',
      });
    }
    if (req.headers.authorization !== `Bearer ${this.token}`)
      return reply(401, { error: { code: 'InvalidAuthenticationToken', message: 'The access token is invalid.' } });
    const m =
      /^\/subscriptions\/([^/]+)\/resourceGroups\/([^/]+)\/providers\/Microsoft\.ContainerService\/managedClusters\/([^/]+)\/(listClusterUserCredential|listClusterAdminCredential)$/i.exec(
        url.pathname,
      );
    if (req.method !== 'POST' || !m) return reply(404, { error: { code: 'NotFound', message: `no route ${req.method} ${url.pathname}` } });
    if (url.searchParams.get('api-version') !== '2024-05-01')
      return reply(400, { error: { code: 'InvalidApiVersionParameter', message: 'unsupported api-version' } });
    const c = this.clusters.find((x) => x.subscriptionId === m[1] && x.resourceGroup.toLowerCase() === (m[2] as string).toLowerCase() && x.name === m[3]);
    if (!c)
      return reply(404, {
        error: {
          code: 'ResourceNotFound',
          message: `The Resource 'Microsoft.ContainerService/managedClusters/${m[3]}' under resource group '${m[2]}' was not found.`,
        },
      });
    if (c.failWith === 403)
      return reply(403, {
        error: {
          code: 'AuthorizationFailed',
          message: `The client does not have authorization to perform action 'Microsoft.ContainerService/managedClusters/${m[4]}/action'.`,
        },
      });
    if (c.failWith) return reply(c.failWith, { error: { code: 'Failure', message: 'configured failure' } });
    const admin = m[4] === 'listClusterAdminCredential';
    if (admin && !c.adminKubeconfig)
      return reply(400, {
        error: { code: 'BadRequest', message: 'Getting static credential is not allowed because this cluster is set to disable local accounts.' },
      });
    const value = Buffer.from(admin ? (c.adminKubeconfig as string) : c.userKubeconfig).toString('base64');
    return reply(200, { kubeconfigs: [{ name: admin ? 'clusterAdmin' : 'clusterUser', value }] });
  }
}

/** An Entra ID AKS user kubeconfig (exec kubelogin) for the fake API server's address and CA. */
export function entraKubeconfig(server: FakeApiServer): string {
  return yaml.dump({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'aks', cluster: { server: server.url, 'certificate-authority-data': Buffer.from(server.ca).toString('base64') } }],
    users: [
      {
        name: 'clusterUser_rg_aks',
        user: {
          exec: {
            apiVersion: 'client.authentication.k8s.io/v1beta1',
            command: 'kubelogin',
            args: [
              'get-token',
              '--environment',
              'AzurePublicCloud',
              '--server-id',
              '6dae42f8-4368-4678-94ff-3960e28e3630',
              '--client-id',
              '80faf920-1908-4b52-b5ef-a8e7bedfc67a',
              '--tenant-id',
              'tenant',
              '--login',
              'devicecode',
            ],
            interactiveMode: 'IfAvailable',
            provideClusterInfo: false,
          },
        },
      },
    ],
    contexts: [{ name: 'aks', context: { cluster: 'aks', user: 'clusterUser_rg_aks' } }],
    'current-context': 'aks',
  });
}
