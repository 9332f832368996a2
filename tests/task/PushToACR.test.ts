import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startRegistry, freePort, type TestRegistry } from '../helpers/registry';
import { startTokenServerProcess, type TokenServerProcess } from '../helpers/token-server';
import { buildTestImage, type TestImage } from '../integration/registry/fixture';
import { ensureBuilt, runMock, type EndpointSpec, type MockRun } from './mock-task';

interface Endpoint extends EndpointSpec {
  id: string;
}

type RunResult = MockRun;

/** The job's access token (SYSTEMVSSCONNECTION), when the test gives one. */
const SYSTEM_TOKEN = 'TEST_PUSH_SYSTEM_TOKEN';

function run(inputs: Record<string, string>, endpoints: Endpoint[] = [], env: Record<string, string | undefined> = {}): Promise<RunResult> {
  const { [SYSTEM_TOKEN]: systemToken, ...rest } = env;
  const byId: Record<string, EndpointSpec> = Object.fromEntries(endpoints.map(({ id, ...e }) => [id, e]));
  if (systemToken) byId['SYSTEMVSSCONNECTION'] = { scheme: 'OAuth', parameters: { AccessToken: systemToken } };
  return runMock({ task: 'PushToACR', inputs, endpoints: byId, env: rest });
}

function failure(r: RunResult): string {
  const m = /##vso\[task\.(?:complete result=Failed|issue type=error)[^\]]*\]([^\n]*)/.exec(r.stdout);
  return m ? (m[1] as string) : r.stdout.slice(-2000);
}

/** True when `secret` appears in the log other than in the ##vso[task.setsecret] line that registers it for masking. */
function leaks(r: RunResult, secret: string): boolean {
  return r.stdout.split('\n').some((l) => !l.startsWith('##vso[task.setsecret]') && l.includes(secret));
}

function inspectDigest(ref: string, creds: string): string {
  const out = execFileSync('skopeo', ['inspect', '--tls-verify=false', '--creds', creds, `docker://${ref}`], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return (JSON.parse(out) as { Digest: string }).Digest;
}

describe('PushToACR task (as the agent runs it, real registries)', function () {
  let basic: TestRegistry;
  let tokens: TokenServerProcess;
  let tokenRegistry: TestRegistry;
  let work: string;
  let image: TestImage;
  let notRegistry: ChildProcess;
  let notRegistryPort: number;
  const TENANT = '11111111-2222-3333-4444-555555555555';

  before(async function () {
    ensureBuilt('PushToACR');
    basic = await startRegistry({ mode: 'htpasswd', users: { pusher: 'pusher-pw' } });
    // In its own process (the token server also serves tests that block their event loop).
    tokens = await startTokenServerProcess({ service: 'acr-like.local', users: { 'sp-client-id': 'sp-secret', reader: 'reader-pw' }, readOnly: ['reader'] });
    tokenRegistry = await startRegistry({
      mode: 'token',
      realm: tokens.realm,
      service: 'acr-like.local',
      issuer: tokens.issuer,
      rootCertBundlePath: tokens.rootCertBundlePath,
    });
    work = mkdtempSync(join(tmpdir(), 'push-task-'));
    image = await buildTestImage(join(work, 'layout'), { modelSize: 1 << 20, modelVersion: '3.1+rc/2' });
    // A web server that is not a registry, in its own process.
    notRegistryPort = await freePort();
    const script = `require('http').createServer((q, s) => { s.writeHead(404, { 'Content-Type': 'text/html' }); s.end('<html>nope</html>'); }).listen(${notRegistryPort}, '127.0.0.1', () => console.log('up'))`;
    notRegistry = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise((r) => notRegistry.stdout?.once('data', r));
  });
  after(async () => {
    await basic?.stop();
    await tokenRegistry?.stop();
    await tokens?.stop();
    if (notRegistry?.pid && notRegistry.exitCode === null) process.kill(notRegistry.pid, 'SIGTERM');
    rmSync(work, { recursive: true, force: true });
  });

  const others = (): Endpoint => ({
    id: 'dockerOthers',
    scheme: 'UsernamePassword',
    parameters: { registry: `http://${basic.host}`, username: 'pusher', password: 'pusher-pw' },
    data: { registrytype: 'Others' },
  });

  it('Others connection (user name/password): pushes, tags, model version tag and outputs', async () => {
    const r = await run(
      {
        imageLayout: image.layout.dir,
        registryType: 'serviceConnection',
        dockerRegistryConnection: 'dockerOthers',
        repository: 'models/scorer',
        tags: '101\nlatest',
        addModelVersionTag: 'true',
      },
      [others()],
    );
    assert.ok(r.succeeded, failure(r));
    assert.equal(r.outputs['imageDigest'], image.manifestDigest);
    assert.equal(r.outputs['imageRef'], `${basic.host}/models/scorer@${image.manifestDigest}`);
    assert.equal(r.outputs['imageTags'], '101,latest,model-3.1-rc-2');
    assert.ok(Number(r.outputs['bytesUploaded']) > image.model.size);
    assert.equal(r.outputs['bytesSkipped'], '0');
    for (const t of ['101', 'latest', 'model-3.1-rc-2'])
      assert.equal(inspectDigest(`${basic.host}/models/scorer:${t}`, 'pusher:pusher-pw'), image.manifestDigest);
    assert.ok(/Layer sha256:[0-9a-f]{12} \(1\.0 MiB\): uploaded/.test(r.stdout), r.stdout);
    assert.ok(!leaks(r, 'pusher-pw'), 'password never printed (only registered as a secret)');
  });

  it('second run uploads only the manifest', async () => {
    const r = await run(
      { imageLayout: image.layout.dir, registryType: 'serviceConnection', dockerRegistryConnection: 'dockerOthers', repository: 'models/scorer', tags: '102' },
      [others()],
    );
    assert.ok(r.succeeded, failure(r));
    assert.equal(r.outputs['bytesUploaded'], String(image.manifestSize));
    assert.ok(r.stdout.includes('skipped, already in the repository'));
  });

  it('ACR connection with service principal (Basic credentials traded for tokens)', async () => {
    const ep: Endpoint = {
      id: 'acrSp',
      scheme: 'ServicePrincipal',
      parameters: { loginServer: tokenRegistry.host, serviceprincipalid: 'sp-client-id', serviceprincipalkey: 'sp-secret', tenantid: TENANT },
      data: { registrytype: 'ACR' },
    };
    const r = await run(
      { imageLayout: image.layout.dir, registryType: 'serviceConnection', dockerRegistryConnection: 'acrSp', repository: 'apps/scorer', tags: '1' },
      [ep],
    );
    assert.ok(r.succeeded, failure(r));
    assert.equal(r.outputs['imageDigest'], image.manifestDigest);
    assert.equal(inspectDigest(`${tokenRegistry.host}/apps/scorer:1`, 'sp-client-id:sp-secret'), image.manifestDigest);
  });

  it('ACR connection whose identity may only pull fails naming AcrPush, and writes no tag', async () => {
    const ep: Endpoint = {
      id: 'acrReader',
      scheme: 'ServicePrincipal',
      parameters: { loginServer: tokenRegistry.host, serviceprincipalid: 'reader', serviceprincipalkey: 'reader-pw' },
      data: { registrytype: 'ACR' },
    };
    const r = await run(
      { imageLayout: image.layout.dir, registryType: 'serviceConnection', dockerRegistryConnection: 'acrReader', repository: 'apps/locked', tags: '1' },
      [ep],
    );
    assert.ok(!r.succeeded);
    assert.match(failure(r), /not allowed to push to repository 'apps\/locked'.*AcrPush/);
    assert.throws(() => inspectDigest(`${tokenRegistry.host}/apps/locked:1`, 'sp-client-id:sp-secret'));
  });

  const entraCases: Array<[string, Endpoint, Record<string, string | undefined>, RegExp]> = [
    [
      'AzureRM service principal (secret)',
      {
        id: 'armSecret',
        scheme: 'ServicePrincipal',
        parameters: { serviceprincipalid: 'app-id', serviceprincipalkey: 'app-secret', tenantid: TENANT, authenticationType: 'spnKey' },
        data: { environment: 'AzureCloud' },
      },
      {},
      /Could not get an Entra ID token for registry .* from the Azure service connection/,
    ],
    [
      'AzureRM workload identity federation without an OIDC request URI',
      { id: 'armWif', scheme: 'WorkloadIdentityFederation', parameters: { serviceprincipalid: 'app-id', tenantid: TENANT } },
      { TEST_PUSH_SYSTEM_TOKEN: 'job-token', SYSTEM_OIDCREQUESTURI: undefined },
      /workload identity federation but SYSTEM_OIDCREQUESTURI is not set/,
    ],
    [
      'AzureRM workload identity federation (OIDC endpoint unreachable)',
      { id: 'armWif2', scheme: 'WorkloadIdentityFederation', parameters: { serviceprincipalid: 'app-id', tenantid: TENANT } },
      { TEST_PUSH_SYSTEM_TOKEN: 'job-token' },
      /Could not get an Entra ID token for registry .* from the Azure service connection/,
    ],
  ];
  for (const [name, ep, env, expected] of entraCases) {
    it(`${name}: reaches the Entra sign-in and fails with one clear line`, async () => {
      const port = await freePort();
      const envWithOidc = { ...env };
      if (!('SYSTEM_OIDCREQUESTURI' in env)) envWithOidc.SYSTEM_OIDCREQUESTURI = `http://127.0.0.1:${port}/oidc`;
      const epWithAuthority = { ...ep, data: { ...(ep.data ?? {}), activeDirectoryAuthority: `https://127.0.0.1:${port}` } };
      const r = await run(
        {
          imageLayout: image.layout.dir,
          registryType: 'azureContainerRegistry',
          azureSubscription: ep.id,
          azureContainerRegistry: tokenRegistry.host,
          repository: 'apps/x',
          tags: '1',
        },
        [epWithAuthority],
        envWithOidc,
      );
      assert.ok(!r.succeeded);
      assert.match(failure(r), expected);
      assert.ok(!leaks(r, 'app-secret'));
    });
  }

  // The certificate's PEM is multi-line: the adapter registers its body line by line (task-lib refuses multi-line secrets).
  it('AzureRM service principal with a certificate: reaches the Entra sign-in without printing the key', async () => {
    const dir = mkdtempSync(join(work, 'cert-'));
    execFileSync(
      'openssl',
      ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', join(dir, 'k.pem'), '-out', join(dir, 'c.pem'), '-days', '1', '-subj', '/CN=sp'],
      { stdio: 'ignore' },
    );
    const pem = readFileSync(join(dir, 'k.pem'), 'utf8') + readFileSync(join(dir, 'c.pem'), 'utf8');
    const port = await freePort();
    const ep: Endpoint = {
      id: 'armCert',
      scheme: 'ServicePrincipal',
      parameters: { serviceprincipalid: 'app-id', tenantid: TENANT, authenticationType: 'spnCertificate', servicePrincipalCertificate: pem },
      data: { activeDirectoryAuthority: `https://127.0.0.1:${port}` },
    };
    const r = await run(
      {
        imageLayout: image.layout.dir,
        registryType: 'azureContainerRegistry',
        azureSubscription: 'armCert',
        azureContainerRegistry: tokenRegistry.host,
        repository: 'apps/x',
        tags: '1',
      },
      [ep],
    );
    assert.ok(!r.succeeded);
    assert.match(failure(r), /Could not get an Entra ID token/);
    assert.ok(!leaks(r, 'PRIVATE KEY'));
    const keyLine = pem.split('\n')[1] as string;
    assert.ok(r.stdout.includes(`##vso[task.setsecret]${keyLine}`), 'the private key lines were not registered as secrets');
    assert.ok(!leaks(r, keyLine));
  });

  it('ACR connection with managed identity: reaches the Entra sign-in', async () => {
    const port = await freePort();
    const ep: Endpoint = {
      id: 'acrMsi',
      scheme: 'ManagedServiceIdentity',
      parameters: { loginServer: tokenRegistry.host, tenantid: TENANT },
      data: { registrytype: 'ACR' },
    };
    // Point the managed identity endpoint (App Service style) at a closed local port instead of IMDS.
    const r = await run(
      { imageLayout: image.layout.dir, registryType: 'serviceConnection', dockerRegistryConnection: 'acrMsi', repository: 'apps/x', tags: '1' },
      [ep],
      { IDENTITY_ENDPOINT: `http://127.0.0.1:${port}/msi`, IDENTITY_HEADER: 'h' },
    );
    assert.ok(!r.succeeded);
    assert.match(failure(r), /Could not get an Entra ID token/);
  });

  it('ACR connection with workload identity federation: reaches the Entra sign-in', async () => {
    const port = await freePort();
    const ep: Endpoint = {
      id: 'acrWif',
      scheme: 'WorkloadIdentityFederation',
      parameters: { loginServer: tokenRegistry.host, tenantid: TENANT, serviceprincipalid: 'app-id' },
      data: { registrytype: 'ACR' },
    };
    const r = await run(
      { imageLayout: image.layout.dir, registryType: 'serviceConnection', dockerRegistryConnection: 'acrWif', repository: 'apps/x', tags: '1' },
      [ep],
      { TEST_PUSH_SYSTEM_TOKEN: 'job-token', SYSTEM_OIDCREQUESTURI: `http://127.0.0.1:${port}/oidc` },
    );
    assert.ok(!r.succeeded);
    assert.match(failure(r), /Could not get an Entra ID token/);
  });

  const badCases: Array<[string, () => { inputs: Record<string, string>; endpoints: Endpoint[] }, RegExp]> = [
    [
      'missing layout folder',
      () => ({
        inputs: { imageLayout: join(work, 'nope'), registryType: 'serviceConnection', dockerRegistryConnection: 'dockerOthers', repository: 'a/b', tags: '1' },
        endpoints: [others()],
      }),
      /imageLayout.*not an OCI image layout/,
    ],
    [
      'folder that is not a layout',
      () => ({
        inputs: { imageLayout: work, registryType: 'serviceConnection', dockerRegistryConnection: 'dockerOthers', repository: 'a/b', tags: '1' },
        endpoints: [others()],
      }),
      /not an OCI image layout/,
    ],
    [
      'invalid tag',
      () => ({
        inputs: {
          imageLayout: image.layout.dir,
          registryType: 'serviceConnection',
          dockerRegistryConnection: 'dockerOthers',
          repository: 'a/b',
          tags: 'ok\n-bad',
        },
        endpoints: [others()],
      }),
      /Tag '-bad' in input 'tags' is not a valid tag/,
    ],
    [
      'invalid repository',
      () => ({
        inputs: {
          imageLayout: image.layout.dir,
          registryType: 'serviceConnection',
          dockerRegistryConnection: 'dockerOthers',
          repository: 'Models/Scorer',
          tags: '1',
        },
        endpoints: [others()],
      }),
      /Input 'repository' is not a valid repository name/,
    ],
    [
      'unknown source tag',
      () => ({
        inputs: {
          imageLayout: image.layout.dir,
          sourceTag: 'v9',
          registryType: 'serviceConnection',
          dockerRegistryConnection: 'dockerOthers',
          repository: 'a/b',
          tags: '1',
        },
        endpoints: [others()],
      }),
      /has no image named 'v9'/,
    ],
    [
      'wrong credentials',
      () => ({
        inputs: { imageLayout: image.layout.dir, registryType: 'serviceConnection', dockerRegistryConnection: 'bad', repository: 'a/b', tags: '1' },
        endpoints: [{ ...others(), id: 'bad', parameters: { registry: basic.host, username: 'pusher', password: 'wrong' } }],
      }),
      /rejected the credentials/,
    ],
    [
      'not an OCI registry',
      () => ({
        inputs: { imageLayout: image.layout.dir, registryType: 'serviceConnection', dockerRegistryConnection: 'web', repository: 'a/b', tags: '1' },
        endpoints: [{ ...others(), id: 'web', parameters: { registry: `127.0.0.1:${notRegistryPort}`, username: 'u', password: 'p' } }],
      }),
      /is not an OCI registry: GET .* answered HTTP 404/,
    ],
  ];
  for (const [name, make, expected] of badCases) {
    it(`fails with one clear line on ${name}`, async () => {
      const { inputs, endpoints } = make();
      const r = await run(inputs, endpoints);
      assert.ok(!r.succeeded, r.stdout);
      const msg = failure(r);
      assert.match(msg, expected);
      assert.ok(!/\n/.test(msg) && !/^\s+at /m.test(r.stdout), 'no stack trace');
    });
  }

  it('fails clearly when the registry is unreachable', async function () {
    const port = await freePort();
    const r = await run({ imageLayout: image.layout.dir, registryType: 'serviceConnection', dockerRegistryConnection: 'gone', repository: 'a/b', tags: '1' }, [
      { ...others(), id: 'gone', parameters: { registry: `127.0.0.1:${port}`, username: 'u', password: 'p' } },
    ]);
    assert.ok(!r.succeeded);
    assert.match(failure(r), /is unreachable at http:\/\/127\.0\.0\.1:\d+ \(ECONNREFUSED\)/);
  });
});
