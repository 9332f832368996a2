import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as yaml from 'js-yaml';
import { MSI_HEADER } from '../helpers/fake-apiserver';
import { CLASSIC_RELEASE, YAML_DEPLOYMENT_JOB } from '../helpers/agent-variables';
import { ensureBuilt, root, runMock, summaryOf, type TaskSpec } from './mock-task';

const IMAGE = `127.0.0.1:5000/models/resnet@sha256:${'a'.repeat(64)}`;
const NEW = `127.0.0.1:5000/models/resnet@sha256:${'d'.repeat(64)}`;

function kubeconfigFor(url: string, ca: string, token: string, context = 'fake'): string {
  return yaml.dump({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'fake', cluster: { server: url, 'certificate-authority-data': Buffer.from(ca).toString('base64') } }],
    users: [{ name: 'tester', user: { token } }],
    contexts: [
      { name: 'other', context: { cluster: 'fake', user: 'nobody' } },
      { name: context, context: { cluster: 'fake', user: 'tester' } },
    ],
    'current-context': 'other',
  });
}

describe('DeployToAKS task (as the agent runs it)', function () {
  let fake: { url: string; ca: string; armUrl: string };
  let child: ChildProcess;
  let work: string;
  let caFile: string;

  /** GET against the fake servers (they run in their own process). */
  const get = <T>(url: string, token = 'test-token'): Promise<{ status: number; body: T }> =>
    new Promise((resolve, reject) => {
      https
        .get(url, { ca: fake.ca, headers: { Authorization: `Bearer ${token}` } }, (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(Buffer.concat(chunks).toString('utf8') || 'null') as T }));
        })
        .on('error', reject);
    });
  type Dep = { metadata: { annotations?: Record<string, string> } };
  const armRequests = async () => (await get<{ path: string; query: Record<string, string> }[]>(`${fake.armUrl}/_test/requests`)).body;

  before(async function () {
    this.timeout(120_000);
    ensureBuilt('DeployToAKS');
    work = mkdtempSync(join(tmpdir(), 'deploytoaks-task-'));
    const config = {
      tokens: ['test-token', 'entra-token', 'admin-token'],
      lbIngress: { ip: '10.0.0.42' },
      armToken: 'entra-token',
      clusters: [
        { subscriptionId: 'sub-1', resourceGroup: 'rg', name: 'aks', user: 'entra', admin: 'admin-token' },
        { subscriptionId: 'sub-1', resourceGroup: 'rg', name: 'locked', user: 'entra', failWith: 403 },
      ],
      // the model server behind the service proxy: the old model predicts "tabby" for the sample, the new one "tiger"
      predictions: { path: '/v1/predict', byImage: { [IMAGE]: { label: 'tabby' }, [NEW]: { label: 'tiger' } } },
    };
    child = spawn(process.execPath, ['--import', 'tsx', join(root, 'tests', 'helpers', 'fake-apiserver-process.ts')], {
      cwd: root,
      env: { ...process.env, FAKE_APISERVER_CONFIG: JSON.stringify(config) },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    fake = await new Promise((resolve, reject) => {
      let buf = '';
      child.stdout?.on('data', (c: Buffer) => {
        buf += c.toString('utf8');
        const nl = buf.indexOf('\n');
        if (nl >= 0) resolve(JSON.parse(buf.slice(0, nl)) as { url: string; ca: string; armUrl: string });
      });
      child.on('exit', (code) => reject(new Error(`fake API server process exited with ${code}`)));
    });
    caFile = join(work, 'ca.pem');
    writeFileSync(caFile, fake.ca);
  });

  after(async () => {
    if (child?.pid && child.exitCode === null) {
      const exited = new Promise((resolve) => child.on('exit', resolve));
      process.kill(child.pid, 'SIGTERM');
      await exited;
    }
    if (work) rmSync(work, { recursive: true, force: true });
  });

  const base = (inputs: TaskSpec['inputs'], extra: Partial<TaskSpec> = {}): TaskSpec => ({
    task: 'DeployToAKS',
    inputs: { image: IMAGE, appName: 'resnet', replicas: '2', rolloutTimeoutSeconds: '30', statusPollIntervalMs: '100', ...inputs },
    variables: {
      'Agent.TempDirectory': work,
      'System.DefaultWorkingDirectory': work,
      'Build.BuildId': '77',
      'System.CollectionUri': 'https://dev.azure.com/org/',
      'System.TeamProject': 'proj',
    },
    env: { NODE_EXTRA_CA_CERTS: caFile },
    ...extra,
  });

  it('deploys with a kubeconfig file and sets the outputs', async () => {
    const kc = join(work, 'kubeconfig.yaml');
    writeFileSync(kc, kubeconfigFor(fake.url, fake.ca, 'test-token').replace('current-context: other', 'current-context: fake'));
    const r = await runMock(
      base({ connectionType: 'kubeconfig', kubeconfig: kc, namespace: 'file-ns', serviceType: 'LoadBalancer', smokeTestPath: '/healthz' }),
    );
    assert.ok(r.succeeded, r.stdout);
    assert.equal(r.outputs.deployedImage, IMAGE);
    assert.equal(r.outputs.revision, '1');
    assert.equal(r.outputs.serviceEndpoint, '10.0.0.42:80');
    assert.ok(r.outputs.renderedManifests?.startsWith(work));
    assert.ok(r.stdout.includes('deployment "resnet" successfully rolled out'));
    const d = await get<Dep>(`${fake.url}/apis/apps/v1/namespaces/file-ns/deployments/resnet`);
    assert.equal(d.body.metadata.annotations?.['modeltoaks.io/pipeline-run-url'], 'https://dev.azure.com/org/proj/_build/results?buildId=77');
    assert.ok(r.secrets.includes('test-token'), 'the kubeconfig token is registered as a secret');
  });

  it('deploys through a Kubernetes service connection (kubeconfig with a cluster context)', async () => {
    // single-line (JSON) kubeconfig: see the pending test below for multi-line YAML
    const kc = JSON.stringify(yaml.load(kubeconfigFor(fake.url, fake.ca, 'test-token', 'second')));
    const r = await runMock(
      base(
        { connectionType: 'kubernetesServiceConnection', kubernetesServiceConnection: 'k8s', namespace: 'sc-ns' },
        { endpoints: { k8s: { scheme: 'Kubernetes', parameters: { kubeconfig: kc, clusterContext: 'second' }, data: { authorizationType: 'Kubeconfig' } } } },
      ),
    );
    assert.ok(r.succeeded, r.stdout);
    assert.equal(r.outputs.serviceEndpoint, 'resnet.sc-ns.svc.cluster.local:80');
  });

  // task-lib refuses multi-line secrets: the adapter registers the kubeconfig's credentials, not the document.
  it('deploys through a Kubernetes service connection holding a multi-line YAML kubeconfig, masking its token', async () => {
    const r = await runMock(
      base(
        { connectionType: 'kubernetesServiceConnection', kubernetesServiceConnection: 'k8s', namespace: 'yaml-ns' },
        {
          endpoints: {
            k8s: {
              scheme: 'Kubernetes',
              parameters: { kubeconfig: kubeconfigFor(fake.url, fake.ca, 'test-token', 'second'), clusterContext: 'second' },
              data: { authorizationType: 'Kubeconfig' },
            },
          },
        },
      ),
    );
    assert.ok(r.succeeded, r.stdout);
    assert.ok(r.stdout.includes('##vso[task.setsecret]test-token'), 'the kubeconfig token was not registered as a secret');
    const visible = r.stdout
      .split('\n')
      .filter((l) => !l.startsWith('##vso[task.setsecret]'))
      .join('\n');
    assert.ok(!visible.includes('test-token'), 'the kubeconfig token was printed');
  });

  it('deploys through a Kubernetes service connection (service account)', async () => {
    const r = await runMock(
      base(
        { connectionType: 'kubernetesServiceConnection', kubernetesServiceConnection: 'sa', namespace: 'sa-ns' },
        {
          endpoints: {
            sa: {
              scheme: 'Token',
              url: fake.url,
              parameters: { serviceAccountCertificate: Buffer.from(fake.ca).toString('base64'), apiToken: Buffer.from('test-token').toString('base64') },
              data: { authorizationType: 'ServiceAccount' },
            },
          },
        },
      ),
    );
    assert.ok(r.succeeded, r.stdout);
    assert.equal((await get(`${fake.url}/apis/apps/v1/namespaces/sa-ns/deployments/resnet`)).status, 200);
  });

  // A YAML deployment job `environment: model-prod.scoring`: the server hands the task the Kubernetes service
  // connection of the Environment's resource (type kubernetes, authorizationType AzureSubscription, its namespace as
  // data) and the agent sets the Environment.* variables. No 'namespace' input: the resource's namespace is used.
  it("in a deployment job on environment name.resource: the resource's namespace, and the annotations the Environment view reads", async () => {
    const r = await runMock({
      ...base(
        { connectionType: 'kubernetesServiceConnection', kubernetesServiceConnection: 'env-scoring' },
        {
          endpoints: {
            'env-scoring': {
              scheme: 'Token',
              url: fake.url,
              parameters: {
                serviceAccountCertificate: Buffer.from(fake.ca).toString('base64'),
                serviceAccountToken: Buffer.from('test-token').toString('base64'),
              },
              data: { authorizationType: 'AzureSubscription', namespace: 'scoring' },
            },
          },
        },
      ),
      variables: { ...YAML_DEPLOYMENT_JOB, 'Agent.TempDirectory': work, 'System.DefaultWorkingDirectory': work },
    });
    assert.ok(r.succeeded, r.stdout);
    assert.equal(r.outputs.serviceEndpoint, 'resnet.scoring.svc.cluster.local:80');
    const d = await get<Dep & { spec: { template: Dep } }>(`${fake.url}/apis/apps/v1/namespaces/scoring/deployments/resnet`);
    assert.equal(d.status, 200, "the Deployment is in the resource's namespace");
    const runUri = 'https://dev.azure.com/contoso/Model%20Serving/_build/results?buildId=4711';
    for (const a of [d.body.metadata.annotations, d.body.spec.template.metadata.annotations]) {
      assert.equal(a?.['azure-pipelines/run'], '20261201.3');
      assert.equal(a?.['azure-pipelines/runuri'], runUri);
      assert.equal(a?.['azure-pipelines/pipeline'], 'model-release');
      assert.equal(a?.['azure-pipelines/pipelineId'], '12');
      assert.equal(a?.['azure-pipelines/jobName'], 'Deploy resnet');
      assert.equal(a?.['azure-pipelines/project'], 'Model Serving');
      assert.equal(a?.['azure-pipelines/org'], 'https://dev.azure.com/contoso/');
      assert.equal(a?.['modeltoaks.io/pipeline-run-url'], runUri);
      assert.equal(a?.['modeltoaks.io/environment'], 'model-prod.scoring');
    }
    const svc = await get<Dep>(`${fake.url}/api/v1/namespaces/scoring/services/resnet`);
    assert.equal(svc.body.metadata.annotations?.['azure-pipelines/runuri'], runUri);
    const summary = summaryOf(r, 'Deployment (DeployToAKS)');
    assert.match(summary, /^### Deployment succeeded: revision 1/);
    assert.ok(summary.includes('| **Namespace** | `scoring` |'), summary);
    assert.ok(summary.includes('| **Environment** | `model-prod.scoring` |'));
    assert.match(summary, /\| \*\*Rollout\*\* \| succeeded in [\d.]+ s \|/);
    assert.ok(summary.includes('| **Endpoint** | `resnet.scoring.svc.cluster.local:80` |'));
    assert.ok(summary.includes(`| **Run** | [20261201.3](${runUri}) |`));
    assert.ok(summary.includes('- Deployment/resnet (namespace scoring)'));
  });

  it('in a classic release: the release page and release id, not the build of the artifact', async () => {
    const kc = join(work, 'kubeconfig-release.yaml');
    writeFileSync(kc, kubeconfigFor(fake.url, fake.ca, 'test-token').replace('current-context: other', 'current-context: fake'));
    const r = await runMock({
      ...base({ connectionType: 'kubeconfig', kubeconfig: kc, namespace: 'rel-ns' }),
      variables: { ...CLASSIC_RELEASE, 'Agent.TempDirectory': work, 'System.DefaultWorkingDirectory': work },
    });
    assert.ok(r.succeeded, r.stdout);
    const d = await get<Dep>(`${fake.url}/apis/apps/v1/namespaces/rel-ns/deployments/resnet`);
    const a = d.body.metadata.annotations ?? {};
    assert.equal(a['modeltoaks.io/pipeline-run-url'], CLASSIC_RELEASE['Release.ReleaseWebURL']);
    assert.equal(a['modeltoaks.io/pipeline-run-id'], '57');
    assert.equal(a['azure-pipelines/run'], '57');
    assert.equal(a['azure-pipelines/pipeline'], 'resnet-CD');
    assert.ok(!JSON.stringify(a).includes('_build/results'), JSON.stringify(a));
  });

  // As a user's agent would: the connection's URL is its ARM endpoint, and the managed identity's token comes from
  // the Azure SDK's App Service-style endpoint (IDENTITY_ENDPOINT/IDENTITY_HEADER), here the fake ARM's, which issues 'entra-token'.
  const azureEndpoints = () => ({
    azure: {
      scheme: 'ManagedServiceIdentity',
      url: `${fake.armUrl}/`,
      parameters: { tenantid: 'tenant' },
      data: { subscriptionId: 'sub-1', environment: 'AzureCloud' },
    },
  });
  const armEnv = () => ({ NODE_EXTRA_CA_CERTS: caFile, IDENTITY_ENDPOINT: `${fake.armUrl}/msi/token`, IDENTITY_HEADER: MSI_HEADER });

  it('deploys to an Entra ID AKS cluster from ARM user credentials without kubelogin', async () => {
    const r = await runMock(
      base(
        { connectionType: 'azureResourceManager', azureSubscription: 'azure', resourceGroup: 'rg', kubernetesCluster: 'aks', namespace: 'aks-ns' },
        { endpoints: azureEndpoints(), env: armEnv() },
      ),
    );
    assert.ok(r.succeeded, r.stdout);
    assert.ok(r.stdout.includes('no kubelogin needed'));
    assert.ok((await armRequests()).some((q) => q.path.endsWith('/managedClusters/aks/listClusterUserCredential') && q.query['api-version'] === '2024-05-01'));
    assert.equal((await get(`${fake.url}/apis/apps/v1/namespaces/aks-ns/deployments/resnet`)).status, 200);
  });

  it('uses listClusterAdminCredential with useClusterAdmin', async () => {
    const r = await runMock(
      base(
        {
          connectionType: 'azureResourceManager',
          azureSubscription: 'azure',
          resourceGroup: 'rg',
          kubernetesCluster: 'aks',
          useClusterAdmin: 'true',
          namespace: 'admin-ns',
        },
        { endpoints: azureEndpoints(), env: armEnv() },
      ),
    );
    assert.ok(r.succeeded, r.stdout);
    assert.ok((await armRequests()).some((q) => q.path.endsWith('/listClusterAdminCredential')));
  });

  it('fails in one sentence when the identity may not list the cluster credentials (403)', async () => {
    const r = await runMock(
      base(
        { connectionType: 'azureResourceManager', azureSubscription: 'azure', resourceGroup: 'rg', kubernetesCluster: 'locked' },
        { endpoints: azureEndpoints(), env: armEnv() },
      ),
    );
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

  describe('canary releases', () => {
    const kc = () => {
      const file = join(work, 'kubeconfig-canary.yaml');
      writeFileSync(file, kubeconfigFor(fake.url, fake.ca, 'test-token').replace('current-context: other', 'current-context: fake'));
      writeFileSync(join(work, 'cat.json'), '{"image":"cat.png"}');
      return file;
    };
    const status = async (path: string) => (await get(`${fake.url}${path}`)).status;

    it('ships a new model version to 10% with a prediction check, then promotes it', async () => {
      const cluster = { connectionType: 'kubeconfig', kubeconfig: kc(), namespace: 'canary-ns', replicas: '9' };
      assert.ok((await runMock(base({ ...cluster, modelVersion: '1.1.0' }))).succeeded);
      const r = await runMock(
        base({
          ...cluster,
          image: NEW,
          modelVersion: '1.2.0',
          strategy: 'canary',
          percentage: '10',
          smokeTestRequest: 'POST /v1/predict @cat.json',
          smokeTestExpect: 'status 200\n$.label == "tiger"',
        }),
      );
      assert.ok(r.succeeded, r.stdout);
      const serving = JSON.parse(r.outputs.serving ?? '[]') as { track: string; workload: string; modelVersion: string; percent: number }[];
      assert.deepEqual(
        serving.map((x) => [x.track, x.workload, x.modelVersion, x.percent]),
        [
          ['stable', 'Deployment/resnet', '1.1.0', 90],
          ['canary', 'Deployment/resnet-canary', '1.2.0', 10],
        ],
      );
      assert.match(
        r.outputs.servingSummary ?? '',
        /^stable Deployment\/resnet \(model 1\.1\.0.*\): 90% of the pods.*; canary Deployment\/resnet-canary \(model 1\.2\.0/,
      );
      assert.match(r.stdout, /Prediction check 'POST \/v1\/predict': passed \(HTTP 200/);
      assert.match(
        r.message,
        /^Canary of .*d{64} is running\. Serving: Deployment\/resnet \(model 1\.1\.0\) 90%, Deployment\/resnet-canary \(model 1\.2\.0\) 10%\.$/,
      );

      const p = await runMock(base({ ...cluster, action: 'promote', image: '' }));
      assert.ok(p.succeeded, p.stdout);
      const d = await get<{ spec: { template: { spec: { containers: { image: string }[] } } } }>(
        `${fake.url}/apis/apps/v1/namespaces/canary-ns/deployments/resnet`,
      );
      assert.equal(d.body.spec.template.spec.containers[0]?.image, NEW);
      assert.equal(await status('/apis/apps/v1/namespaces/canary-ns/deployments/resnet-canary'), 404);
      assert.equal(await status('/api/v1/namespaces/canary-ns/services/resnet-canary'), 404);
      assert.match(JSON.parse(p.outputs.serving ?? '[]')[0]?.modelVersion ?? '', /^1\.2\.0$/);
    });

    it('a canary whose predictions are wrong is rejected, with the request, answer and expectation in the log', async () => {
      const cluster = { connectionType: 'kubeconfig', kubeconfig: kc(), namespace: 'wrong-ns' };
      assert.ok((await runMock(base(cluster))).succeeded);
      const r = await runMock(
        base({ ...cluster, image: NEW, strategy: 'canary', smokeTestRequest: 'POST /v1/predict @cat.json', smokeTestExpect: '$.label == "leopard"' }),
      );
      assert.equal(r.succeeded, false);
      assert.ok(!r.message.includes('\n'));
      assert.match(r.message, /check\(s\) failed on the canary Deployment\/resnet-canary.*the canary was removed/);
      assert.match(r.stdout, /Request: POST \/v1\/predict \(body from .*cat\.json\)/);
      assert.match(r.stdout, /"label": "tiger"/);
      assert.match(r.stdout, /Expected: status 2xx; \$\.label == "leopard"/);
      assert.equal(await status('/apis/apps/v1/namespaces/wrong-ns/deployments/resnet-canary'), 404);
    });

    it('reject with no canary fails in one line and changes nothing', async () => {
      const r = await runMock(base({ connectionType: 'kubeconfig', kubeconfig: kc(), namespace: 'file-ns', action: 'reject', image: '' }));
      assert.equal(r.succeeded, false);
      assert.match(r.message, /^There is no canary to reject in namespace file-ns \(Deployment\/resnet-canary not found\): nothing was changed/);
    });
  });

  it('rejects a bad connection type', async () => {
    const r = await runMock(base({ connectionType: 'ssh' }));
    assert.equal(r.succeeded, false);
    assert.match(r.message, /Input 'connectionType' must be one of/);
  });
});
