/**
 * applyObjects / ensureNamespace driven directly: against the behavioural
 * fake API server (discovery, server-side apply, namespaces, RBAC denial) for
 * the main paths, and against a scripted server for the branches: discovery
 * that misses or fails, unknown kinds, namespace reads that are forbidden or
 * fail, dry-run rejections, and a real apply failing half-way.
 */
import assert from 'node:assert/strict';
import { AuthError, UserError } from '../../../shared/errors';
import { applyObjects, namespaceExists, createNamespace, FIELD_MANAGER } from '../../../shared/k8s/apply';
import { KubeClient } from '../../../shared/k8s/client';
import { kubeConfigFromString } from '../../../shared/k8s/kubeconfig';
import type { KubeObject } from '../../../shared/k8s/types';
import type { Logger } from '../../../shared/log';
import { FakeApiServer } from '../../helpers/fake-apiserver';
import { discoveryRoutes, ScriptedApiServer, status, type Route } from './scripted-apiserver';

function capture(): Logger & { lines: string[] } {
  const lines: string[] = [];
  return { lines, info: (m) => lines.push(m), warn: (m) => lines.push(`WARN ${m}`), debug: (m) => lines.push(`DEBUG ${m}`) };
}

const deployment = (name = 'web', extra: Record<string, unknown> = {}): KubeObject => ({
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: { name, labels: { app: name } },
  spec: {
    selector: { matchLabels: { app: name } },
    template: { metadata: { labels: { app: name } }, spec: { containers: [{ name: 'c', image: 'img@sha256:' + 'a'.repeat(64) }] } },
  },
  ...extra,
});
const service = (name = 'web'): KubeObject => ({
  apiVersion: 'v1',
  kind: 'Service',
  metadata: { name },
  spec: { selector: { app: name }, ports: [{ port: 80 }] },
});
const clusterRole = (name = 'reader'): KubeObject => ({
  apiVersion: 'rbac.authorization.k8s.io/v1',
  kind: 'ClusterRole',
  metadata: { name, namespace: 'ignored' },
  rules: [],
});

describe('k8s apply against the fake API server', () => {
  let server: FakeApiServer;
  let client: KubeClient;
  before(async () => {
    server = await FakeApiServer.start({ forbiddenNamespaces: ['locked'], failApplyOf: ['explodes'] });
    client = new KubeClient(kubeConfigFromString(server.kubeconfig(), { input: 'kubeconfig' }));
  });
  after(() => server.stop());
  beforeEach(() => {
    server.requests.length = 0;
  });

  it('creates the missing namespace, dry-runs everything, then applies with the field manager, bodies verbatim', async () => {
    const logger = capture();
    const dep = deployment('web', { metadata: { name: 'web', labels: { app: 'web' }, annotations: { 'x-unknown/field': 'kept' } } });
    const applied = await applyObjects(client, [dep, service('web'), clusterRole()], { namespace: 'ml', logger });
    assert.deepEqual(
      applied.map((a) => [a.resource.name, a.object.metadata?.namespace]),
      [
        ['deployments', 'ml'],
        ['services', 'ml'],
        ['clusterroles', undefined],
      ],
    );
    assert.ok(server.get('v1', 'namespaces', undefined, 'ml'), 'namespace created');
    assert.ok(server.get('apps/v1', 'deployments', 'ml', 'web'));
    assert.ok(logger.lines.includes('Created namespace ml.'), logger.lines.join('\n'));
    assert.ok(logger.lines.some((l) => /^Applied .*web/.test(l)));
    const patches = server.requests.filter((r) => r.method === 'PATCH');
    assert.equal(patches.length, 6, 'three dry runs then three applies');
    assert.deepEqual(
      patches.map((p) => p.query.dryRun ?? 'real'),
      ['All', 'All', 'All', 'real', 'real', 'real'],
    );
    for (const p of patches) {
      assert.equal(p.contentType, 'application/apply-patch+yaml');
      assert.equal(p.query.fieldManager, FIELD_MANAGER);
      assert.equal(p.query.force, 'true');
    }
    const sent = JSON.parse(patches[3]?.body ?? '{}') as KubeObject;
    assert.equal(sent.metadata?.annotations?.['x-unknown/field'], 'kept');
    assert.equal(sent.metadata?.namespace, 'ml');
    assert.equal((JSON.parse(patches[5]?.body ?? '{}') as KubeObject).metadata?.namespace, undefined, 'cluster-scoped objects lose their namespace');
    assert.equal(dep.metadata?.namespace, undefined, 'the caller’s object is not modified');
  });

  it('keeps an object’s own namespace and honours a custom field manager', async () => {
    await applyObjects(client, [{ ...service('other'), metadata: { name: 'other', namespace: 'default' } }], {
      namespace: 'ml',
      fieldManager: 'me',
      logger: capture(),
    });
    assert.ok(server.get('v1', 'services', 'default', 'other'));
    assert.ok(server.requests.filter((r) => r.method === 'PATCH').every((r) => r.query.fieldManager === 'me'));
  });

  it('a Namespace in the manifests is applied first-class: no namespace read, and its objects are not dry-run', async () => {
    const ns: KubeObject = { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'fresh' } };
    await applyObjects(client, [ns, service('svc')], { namespace: 'fresh', logger: capture() });
    assert.equal(server.requestsMatching('GET', '/api/v1/namespaces/fresh').length, 0);
    assert.equal(server.requests.filter((r) => r.method === 'PATCH' && r.query.dryRun).length, 0);
    assert.ok(server.get('v1', 'services', 'fresh', 'svc'));
  });

  it('an unknown kind fails before anything is applied, naming the kind', async () => {
    const widget: KubeObject = { apiVersion: 'example.com/v1', kind: 'Widget', metadata: { name: 'w' } };
    await assert.rejects(applyObjects(client, [service('before-widget'), widget], { namespace: 'ml', logger: capture() }), (e: unknown) => {
      assert.ok(e instanceof UserError);
      assert.equal(e.code, 'UnknownKind');
      assert.match(e.message, /Widget \(apiVersion example\.com\/v1\).*resolving Widget\/w.*nothing was applied/);
      return true;
    });
    assert.equal(server.requests.filter((r) => r.method === 'PATCH').length, 0);
    assert.equal(server.get('v1', 'services', 'ml', 'before-widget'), undefined);
  });

  it('a kind missing from a known group is unknown too', async () => {
    await assert.rejects(
      applyObjects(client, [{ apiVersion: 'apps/v1', kind: 'Gadget', metadata: { name: 'g' } }], { namespace: 'ml', logger: capture() }),
      (e: unknown) => e instanceof UserError && e.code === 'UnknownKind',
    );
  });

  it('a namespace the identity may not use: the dry run fails with an AuthError and nothing is applied', async () => {
    await assert.rejects(applyObjects(client, [deployment('web')], { namespace: 'locked', logger: capture() }), (e: unknown) => {
      assert.ok(e instanceof AuthError, String(e));
      assert.match(e.message, /Forbidden \(HTTP 403\) while checking Deployment\/web.*with a dry run; nothing was applied/);
      return true;
    });
    assert.equal(server.requests.filter((r) => r.method === 'PATCH' && !r.query.dryRun).length, 0);
  });

  it('a real apply failing half-way says what was already applied', async () => {
    await assert.rejects(
      applyObjects(client, [service('first'), service('explodes'), service('never')], { namespace: 'ml', logger: capture() }),
      (e: unknown) => {
        assert.ok(e instanceof UserError);
        assert.match(e.message, /HTTP 500 while applying Service\/explodes.*already applied: Service\/first/);
        assert.match(e.message, /etcdserver: request timed out/);
        return true;
      },
    );
    assert.equal(server.get('v1', 'services', 'ml', 'never'), undefined, 'stops at the failure');
  });

  it("a failed apply keeps the explained error (its class, the API server's status as data), not a re-wrapped copy", async () => {
    await assert.rejects(applyObjects(client, [service('explodes')], { namespace: 'ml', logger: capture() }), (e: unknown) => {
      assert.ok(e instanceof UserError);
      assert.equal(e.statusCode, 500);
      return true;
    });
  });
});

describe('k8s apply branches (scripted API server)', () => {
  let server: ScriptedApiServer;
  const groups = discoveryRoutes({
    v1: [
      { name: 'namespaces', kind: 'Namespace', namespaced: false },
      // A subresource listed first must not be taken for the kind.
      { name: 'services/status', kind: 'Service', namespaced: true },
      { name: 'services', kind: 'Service', namespaced: true },
    ],
  });
  const applyOk: Route = { method: 'PATCH', path: /^\/api\/v1\/namespaces\/[^/]+\/services\//, answer: (r) => ({ status: 200, body: r.body }) };
  beforeEach(async () => {
    server = await ScriptedApiServer.start();
  });
  afterEach(() => server.stop());

  it('namespaceExists: an existing namespace is found, nothing is created', async () => {
    server.routes = [{ path: '/api/v1/namespaces/ml', answer: { status: 200, body: { kind: 'Namespace', metadata: { name: 'ml' } } } }];
    assert.equal(await namespaceExists(server.client(), 'ml', capture()), true);
    assert.equal(server.requests('POST', '/namespaces').length, 0);
  });

  it('namespaceExists: a missing namespace (404) is false', async () => {
    server.routes = [{ path: '/api/v1/namespaces/ml', answer: status(404, 'NotFound', 'namespaces "ml" not found') }];
    assert.equal(await namespaceExists(server.client(), 'ml', capture()), false);
  });

  it('namespaceExists: a namespace that may not be read (403) is unknown, assumed to exist', async () => {
    server.routes = [{ path: '/api/v1/namespaces/ml', answer: status(403, 'Forbidden', 'namespaces "ml" is forbidden') }];
    const logger = capture();
    assert.equal(await namespaceExists(server.client(), 'ml', logger), undefined);
    assert.equal(server.requests('POST', '/namespaces').length, 0);
    assert.ok(logger.lines.some((l) => l.startsWith('DEBUG') && l.includes('403')));
  });

  it('createNamespace: a namespace created concurrently (409 on create) is fine', async () => {
    server.routes = [{ method: 'POST', path: '/api/v1/namespaces', answer: status(409, 'AlreadyExists', 'namespaces "ml" already exists') }];
    assert.equal(await createNamespace(server.client(), 'ml', capture()), false);
    const post = server.requests('POST', '/api/v1/namespaces')[0];
    assert.deepEqual(JSON.parse(post?.body ?? '{}'), { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'ml' } });
  });

  it('createNamespace: a refused create is explained, naming the namespace', async () => {
    server.routes = [{ method: 'POST', path: '/api/v1/namespaces', answer: status(403, 'Forbidden', 'namespaces is forbidden: cannot create') }];
    await assert.rejects(createNamespace(server.client(), 'ml', capture()), (e: unknown) => {
      assert.ok(e instanceof AuthError);
      assert.match(e.message, /while creating namespace ml \(it does not exist; nothing else was applied\)/);
      return true;
    });
  });

  it('namespaceExists: a failing read (500) is explained and nothing is created', async () => {
    server.routes = [{ path: '/api/v1/namespaces/ml', answer: status(500, 'InternalError', 'etcd down') }];
    await assert.rejects(
      namespaceExists(server.client(), 'ml', capture()),
      (e: unknown) => e instanceof UserError && /HTTP 500 while reading namespace ml: etcd down/.test(e.message),
    );
    assert.equal(server.requests('POST', '/namespaces').length, 0);
  });

  it('discovery that fails (500) is explained with what was being resolved; nothing is applied', async () => {
    server.routes = [{ path: '/api/v1', answer: status(500, 'InternalError', 'discovery broke') }, applyOk];
    await assert.rejects(applyObjects(server.client(), [service('web')], { namespace: 'default', logger: capture() }), (e: unknown) => {
      assert.ok(e instanceof UserError);
      assert.match(e.message, /HTTP 500 while resolving Service\/web.*nothing was applied: discovery broke/);
      return true;
    });
    assert.equal(server.requests('PATCH', '/').length, 0);
  });

  it('a group the cluster does not serve (404 on its discovery document) is an unknown kind', async () => {
    server.routes = [...groups];
    await assert.rejects(
      applyObjects(server.client(), [{ apiVersion: 'example.com/v1', kind: 'Widget', metadata: { name: 'w' } }], { namespace: 'default', logger: capture() }),
      (e: unknown) => e instanceof UserError && e.code === 'UnknownKind',
    );
    const seenDiscovery = server.seen.filter((r) => r.path === '/apis/example.com/v1').length;
    assert.equal(seenDiscovery, 1);
  });

  it('an unreachable API server while resolving is explained as such', async () => {
    const client = server.client({ requestTimeoutMs: 200 });
    server.routes = [{ path: '/api/v1', answer: 'hang' }];
    await assert.rejects(
      applyObjects(client, [service('web')], { namespace: 'default', logger: capture() }),
      (e: unknown) => e instanceof UserError && e.code === 'ClusterUnreachable' && /resolving Service\/web/.test(e.message),
    );
  });

  it('a dry run rejected as invalid (422) stops before any real apply', async () => {
    server.routes = [
      ...groups,
      { path: '/api/v1/namespaces/default', answer: { status: 200, body: {} } },
      {
        method: 'PATCH',
        path: /\/services\//,
        answer: (r) =>
          r.query.dryRun === 'All' ? status(422, 'Invalid', 'Service "web" is invalid: spec.ports: Required value') : { status: 200, body: r.body },
      },
    ];
    await assert.rejects(applyObjects(server.client(), [service('web')], { namespace: 'default', logger: capture() }), (e: unknown) => {
      assert.ok(e instanceof UserError);
      assert.equal(e.code, 'Invalid');
      assert.match(e.message, /HTTP 422 Invalid\) while checking Service\/web.*dry run; nothing was applied: .*spec\.ports: Required value; fix the manifest/);
      return true;
    });
    assert.equal(server.seen.filter((r) => r.method === 'PATCH' && !r.query.dryRun).length, 0);
  });

  it('a real apply that fails keeps the mapped error code and the cause', async () => {
    let n = 0;
    server.routes = [
      ...groups,
      { path: '/api/v1/namespaces/default', answer: { status: 200, body: {} } },
      {
        method: 'PATCH',
        path: /\/services\//,
        answer: (r) => (r.query.dryRun === 'All' || n++ === 0 ? { status: 200, body: r.body } : status(409, 'Conflict', 'Apply failed with 1 conflict')),
      },
    ];
    await assert.rejects(applyObjects(server.client(), [service('a'), service('b')], { namespace: 'default', logger: capture() }), (e: unknown) => {
      assert.ok(e instanceof UserError);
      assert.equal(e.code, 'Invalid');
      assert.match(e.message, /while applying Service\/b.*\(already applied: Service\/a \(namespace default\)\)/);
      assert.ok(e.cause instanceof Error);
      return true;
    });
  });

  it('returns what the server answered as the live object, and the resource (not a subresource) it went to', async () => {
    server.routes = [
      ...groups,
      { path: '/api/v1/namespaces/default', answer: { status: 200, body: {} } },
      {
        method: 'PATCH',
        path: /\/services\//,
        answer: (r) => ({ status: 200, body: { ...(JSON.parse(r.body) as object), status: { loadBalancer: {} }, metadata: { name: 'web', uid: 'u-1' } } }),
      },
    ];
    const [a] = await applyObjects(server.client(), [service('web')], { namespace: 'default', logger: capture() });
    assert.equal(a?.live.metadata?.uid, 'u-1');
    assert.equal(a?.resource.name, 'services');
    assert.equal(a?.object.metadata?.namespace, 'default');
  });
});
