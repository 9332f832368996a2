/**
 * DeployToAKS checks with a server-side dry run before it creates any
 * namespace, so a failing dry run leaves the cluster as it was and "nothing
 * was applied" is true. Objects in a namespace that does not exist yet can
 * only be dry-run once it exists (the API server refuses them otherwise);
 * when one of those fails, the message says the namespace was created.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { applyObjects } from '../../../shared/k8s/apply';
import { KubeClient } from '../../../shared/k8s/client';
import { kubeConfigFromString } from '../../../shared/k8s/kubeconfig';
import type { KubeObject } from '../../../shared/k8s/types';
import { silentLogger } from '../../../shared/log';
import { FakeApiServer, type FakeApiServerOptions, type RecordedRequest } from '../../helpers/fake-apiserver';

describe('apply: dry run before any namespace is created', function () {
  const servers: FakeApiServer[] = [];
  let work: string;
  before(() => {
    work = mkdtempSync(join(tmpdir(), 'apply-order-'));
  });
  after(async () => {
    for (const s of servers) await s.stop();
    rmSync(work, { recursive: true, force: true });
  });

  async function fake(options: FakeApiServerOptions = {}): Promise<{ server: FakeApiServer; client: KubeClient }> {
    const server = await FakeApiServer.start(options);
    servers.push(server);
    return { server, client: new KubeClient(kubeConfigFromString(server.kubeconfig(), { input: 'kubeconfig' })) };
  }

  const clusterRole = (name: string): KubeObject => ({ apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', metadata: { name }, rules: [] });
  const configMap = (name: string, namespace?: string): KubeObject => ({
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name, ...(namespace ? { namespace } : {}) },
    data: { a: '1' },
  });

  const isDryRun = (r: RecordedRequest) => r.query.dryRun === 'All';
  const realNamespacePosts = (s: FakeApiServer) => s.requestsMatching('POST', '/api/v1/namespaces').filter((r) => !isDryRun(r));

  it('a failing dry run of a cluster-scoped object leaves the new namespace uncreated', async () => {
    const { server, client } = await fake({ failDryRunOf: ['locked-role'] });
    await assert.rejects(
      applyObjects(client, [clusterRole('locked-role'), configMap('settings')], { namespace: 'fresh', logger: silentLogger }),
      (err: Error) => {
        assert.match(err.message, /ClusterRole\/locked-role.*nothing was applied/);
        return true;
      },
    );
    assert.equal(server.get('v1', 'namespaces', undefined, 'fresh'), undefined, 'namespace fresh was created although nothing was applied');
    assert.deepEqual(realNamespacePosts(server), []);
  });

  it('a failing dry run in an existing namespace leaves the new namespace uncreated', async () => {
    const { server, client } = await fake({ failDryRunOf: ['guarded'] });
    await assert.rejects(
      applyObjects(client, [configMap('guarded', 'default'), configMap('settings')], { namespace: 'fresh', logger: silentLogger }),
      /nothing was applied/,
    );
    assert.equal(server.get('v1', 'namespaces', undefined, 'fresh'), undefined);
  });

  it('dry-runs everything it can before creating the namespace', async () => {
    const { server, client } = await fake();
    const applied = await applyObjects(client, [clusterRole('reader'), configMap('shared', 'default'), configMap('settings')], {
      namespace: 'fresh',
      logger: silentLogger,
    });
    assert.equal(applied.length, 3);
    assert.ok(server.get('v1', 'namespaces', undefined, 'fresh'));
    const order = server.requests.filter((r) => r.method !== 'GET');
    const create = order.findIndex((r) => r.method === 'POST' && r.path === '/api/v1/namespaces' && !isDryRun(r));
    assert.ok(create >= 0);
    for (const path of ['/clusterroles/reader', '/namespaces/default/configmaps/shared']) {
      const dry = order.findIndex((r) => r.method === 'PATCH' && r.path.endsWith(path) && isDryRun(r));
      assert.ok(dry >= 0 && dry < create, `${path} is dry-run before the namespace is created`);
    }
    // Objects in the new namespace can only be dry-run once it exists, still before any real apply.
    const dryInFresh = order.findIndex((r) => r.method === 'PATCH' && r.path.endsWith('/namespaces/fresh/configmaps/settings') && isDryRun(r));
    const firstReal = order.findIndex((r) => r.method === 'PATCH' && !isDryRun(r));
    assert.ok(create < dryInFresh && dryInFresh < firstReal);
  });

  it('says the namespace was created when a dry run inside it fails', async () => {
    const { server, client } = await fake({ failDryRunOf: ['settings'] });
    await assert.rejects(applyObjects(client, [clusterRole('reader'), configMap('settings')], { namespace: 'fresh', logger: silentLogger }), (err: Error) => {
      assert.match(err.message, /ConfigMap\/settings/);
      assert.match(err.message, /nothing was applied except creating namespace fresh/);
      return true;
    });
    assert.deepEqual(
      server.requestsMatching('PATCH', '/clusterroles/reader').filter((r) => !isDryRun(r)),
      [],
      'nothing applied for real',
    );
  });
});
