/**
 * DeployToAKS as the agent runs it (task-lib's MockTestRunner over the built
 * bundle) against the HTTPS fake API server, for each connection type, and the
 * fake ARM endpoint for AKS (user credentials of an Entra ID cluster, admin).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { entraKubeconfig, FakeApiServer, FakeArm } from '../helpers/fake-apiserver';
import { ensureBuilt, runMock, type TaskSpec } from './mock-task';

const IMAGE = `127.0.0.1:5000/models/resnet@sha256:${'a'.repeat(64)}`;

describe('DeployToAKS task (MockTestRunner)', function () {
  let server: FakeApiServer;
  let arm: FakeArm;
  let work: string;
  let caFile: string;

  before(async function () {
    this.timeout(120_000);
    ensureBuilt('DeployToAKS');
    work = mkdtempSync(join(tmpdir(), 'deploytoaks-task-'));
    server = await FakeApiServer.start({ tokens: ['test-token', 'entra-token', 'admin-token'], lbIngress: { ip: '10.0.0.42' } });
    caFile = join(work, 'ca.pem');
    writeFileSync(caFile, server.ca);
    arm = await new FakeArm(
      [
        { subscriptionId: 'sub-1', resourceGroup: 'rg', name: 'aks', userKubeconfig: entraKubeconfig(server), adminKubeconfig: server.kubeconfig('admin-token') },
        { subscriptionId: 'sub-1', resourceGroup: 'rg', name: 'locked', userKubeconfig: entraKubeconfig(server), failWith: 403 },
      ],
      'entra-token',
    ).start();
  });

  after(async () => {
    await server?.stop();
    await arm?.stop();
    rmSync(work, { recursive: true, force: true });
  });

  const base = (inputs: TaskSpec['inputs'], extra: Partial<TaskSpec> = {}): TaskSpec => ({
    task: 'DeployToAKS',
    inputs: { image: IMAGE, appName: 'resnet', replicas: '2', rolloutTimeoutSeconds: '30', ...inputs },
    variables: { 'Agent.TempDirectory': work, 'System.DefaultWorkingDirectory': work, 'Build.BuildId': '77', 'System.CollectionUri': 'https://dev.azure.com/org/', 'System.TeamProject': 'proj' },
    env: { DEPLOYTOAKS_TEST_POLL_MS: '5', NODE_EXTRA_CA_CERTS: caFile },
    ...extra,
  });

  it('deploys with a kubeconfig file and sets the outputs', async () => {
    const kc = join(work, 'kubeconfig.yaml');
    writeFileSync(kc, server.kubeconfig());
    const r = await runMock(base({ connectionType: 'kubeconfig', kubeconfig: kc, namespace: 'file-ns', serviceType: 'LoadBalancer', smokeTestPath: '/healthz' }));
    assert.ok(r.succeeded, r.stdout);
    assert.equal(r.outputs.deployedImage, IMAGE);
    assert.equal(r.outputs.revision, '1');
    assert.equal(r.outputs.serviceEndpoint, '10.0.0.42:80');
    assert.ok(r.outputs.renderedManifests?.startsWith(work));
    assert.ok(r.stdout.includes('deployment "resnet" successfully rolled out'));
    const d = server.get('apps/v1', 'deployments', 'file-ns', 'resnet');
    assert.equal(d?.metadata.annotations?.['modeltoaks.io/pipeline-run-url'], 'https://dev.azure.com/org/proj/_build/results?buildId=77');
    assert.ok(r.secrets.length > 0, 'the kubeconfig is registered as a secret');
  });

  it('deploys through a Kubernetes service connection (kubeconfig with a cluster context)', async () => {
    const kc = server.kubeconfig('test-token', 'second');
    const r = await runMock(
      base(
        { connectionType: 'kubernetesServiceConnection', kubernetesServiceConnection: 'k8s', namespace: 'sc-ns' },
        { endpoints: { k8s: { scheme: 'Kubernetes', parameters: { kubeconfig: kc, clusterContext: 'second' }, data: { authorizationType: 'Kubeconfig' } } } },
      ),
    );
    assert.ok(r.succeeded, r.stdout);
    assert.equal(r.outputs.serviceEndpoint, 'resnet.sc-ns.svc.cluster.local:80');
  });

  it('deploys through a Kubernetes service connection (service account)', async () => {
    const r = await runMock(
      base(
        { connectionType: 'kubernetesServiceConnection', kubernetesServiceConnection: 'sa', namespace: 'sa-ns' },
        {
          endpoints: {
            sa: {
              scheme: 'Token',
              url: server.url,
              parameters: { serviceAccountCertificate: Buffer.from(server.ca).toString('base64'), apiToken: Buffer.from('test-token').toString('base64') },
              data: { authorizationType: 'ServiceAccount' },
            },
          },
        },
      ),
    );
    assert.ok(r.succeeded, r.stdout);
    assert.ok(server.get('apps/v1', 'deployments', 'sa-ns', 'resnet'));
  });

  const azureEndpoint = { azure: { scheme: 'ServicePrincipal', parameters: { serviceprincipalid: 'app', serviceprincipalkey: 'secret', tenantid: 'tenant' }, data: { subscriptionId: 'sub-1', environment: 'AzureCloud' } } };
  const armEnv = () => ({ DEPLOYTOAKS_TEST_POLL_MS: '5', NODE_EXTRA_CA_CERTS: caFile, DEPLOYTOAKS_TEST_ARM_ENDPOINT: arm.url, DEPLOYTOAKS_TEST_AZURE_TOKEN: 'entra-token' });

  it('deploys to an Entra ID AKS cluster from ARM user credentials without kubelogin', async () => {
    const r = await runMock(base({ connectionType: 'azureResourceManager', azureSubscription: 'azure', resourceGroup: 'rg', kubernetesCluster: 'aks', namespace: 'aks-ns' }, { endpoints: azureEndpoint, env: armEnv() }));
    assert.ok(r.succeeded, r.stdout);
    assert.ok(r.stdout.includes('no kubelogin needed'));
    assert.ok(arm.requests.some((q) => q.path.endsWith('/managedClusters/aks/listClusterUserCredential') && q.query['api-version'] === '2024-05-01'));
    assert.ok(server.get('apps/v1', 'deployments', 'aks-ns', 'resnet'));
  });

  it('uses listClusterAdminCredential with useClusterAdmin', async () => {
    const r = await runMock(
      base({ connectionType: 'azureResourceManager', azureSubscription: 'azure', resourceGroup: 'rg', kubernetesCluster: 'aks', useClusterAdmin: 'true', namespace: 'admin-ns' }, { endpoints: azureEndpoint, env: armEnv() }),
    );
    assert.ok(r.succeeded, r.stdout);
    assert.ok(arm.requests.some((q) => q.path.endsWith('/listClusterAdminCredential')));
  });

  it('fails in one sentence when the identity may not list the cluster credentials (403)', async () => {
    const r = await runMock(base({ connectionType: 'azureResourceManager', azureSubscription: 'azure', resourceGroup: 'rg', kubernetesCluster: 'locked' }, { endpoints: azureEndpoint, env: armEnv() }));
    assert.equal(r.succeeded, false);
    assert.match(r.message, /may not listClusterUserCredential on AKS cluster 'locked'.*Azure Kubernetes Service Cluster User Role/);
  });

  it('fails on a tag-only image before contacting the cluster', async () => {
    const r = await runMock(base({ connectionType: 'kubeconfig', kubeconfig: join(work, 'missing.yaml'), image: '127.0.0.1:5000/models/resnet:1.0' }));
    assert.equal(r.succeeded, false);
    assert.match(r.message, /Image '127\.0\.0\.1:5000\/models\/resnet:1\.0' is not pinned by digest/);
  });

  it('fails on invalid YAML naming the file and line, and on a missing kubeconfig file', async () => {
    writeFileSync(join(work, 'bad.yaml'), 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\ndata: [\n');
    const r = await runMock(base({ connectionType: 'kubeconfig', kubeconfig: join(work, 'missing.yaml'), manifests: 'bad.yaml' }));
    assert.equal(r.succeeded, false);
    assert.match(r.message, /Invalid YAML in bad\.yaml at line \d+/);
    const r2 = await runMock(base({ connectionType: 'kubeconfig', kubeconfig: join(work, 'missing.yaml') }));
    assert.equal(r2.succeeded, false);
    assert.match(r2.message, /Cannot read the kubeconfig file .*missing\.yaml/);
  });

  it('renderOnly writes the manifests without any connection', async () => {
    const r = await runMock(base({ connectionType: 'kubeconfig', kubeconfig: join(work, 'missing.yaml'), renderOnly: 'true' }));
    assert.ok(r.succeeded, r.stdout);
    assert.ok(r.outputs.renderedManifests);
    assert.match(r.message, /nothing was applied/);
  });

  it('rejects a bad connection type', async () => {
    const r = await runMock(base({ connectionType: 'ssh' }));
    assert.equal(r.succeeded, false);
    assert.match(r.message, /Input 'connectionType' must be one of/);
  });
});
