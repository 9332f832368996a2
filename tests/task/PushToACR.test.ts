import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { constants as cryptoConstants, randomBytes, verify as cryptoVerify, X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bundleImage } from '../../shared/oci/bundle';
import { FakeEntra } from '../helpers/fake-entra';
import { startRegistry, freePort, type TestRegistry } from '../helpers/registry';
import { startTokenServerProcess, type TokenServerProcess } from '../helpers/token-server';
import { buildTestImage, type TestImage } from '../integration/registry/fixture';
import { ensureBuilt, runMock, type EndpointSpec, type MockRun, summaryOf } from './mock-task';

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
  let entra: FakeEntra;
  const TENANT = '11111111-2222-3333-4444-555555555555';

  before(async function () {
    ensureBuilt('PushToACR');
    entra = await FakeEntra.start();
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
    await entra?.stop();
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
    const summary = summaryOf(r, 'Push (PushToACR)');
    assert.ok(summary.includes(`| **Pinned reference** | \`${basic.host}/models/scorer@${image.manifestDigest}\``), summary);
    assert.ok(summary.includes('| **Tags** | `101`, `latest`, `model-3.1-rc-2` |'));
    assert.equal((summary.match(/\| \*\*uploaded\*\* in /g) ?? []).length, image.manifest.layers.length + 1, 'config and every layer uploaded');
  });

  it('second run uploads only the manifest', async () => {
    const r = await run(
      { imageLayout: image.layout.dir, registryType: 'serviceConnection', dockerRegistryConnection: 'dockerOthers', repository: 'models/scorer', tags: '102' },
      [others()],
    );
    assert.ok(r.succeeded, failure(r));
    assert.equal(r.outputs['bytesUploaded'], String(image.manifestSize));
    assert.ok(r.stdout.includes('skipped, already in the repository'));
    const summary = summaryOf(r, 'Push (PushToACR)');
    assert.equal((summary.match(/skipped: already in the repository/g) ?? []).length, image.manifest.layers.length + 1, summary);
    assert.ok(summary.includes('0 uploaded'));
  });

  it('a deferred model layer (BundleModelImage default) is streamed from the model file; a model gone since fails with one line naming it and writeModelBlob', async () => {
    const dir = mkdtempSync(join(work, 'deferred-'));
    writeFileSync(join(dir, 'model.bin'), randomBytes((2 << 20) + 5));
    const bundled = await bundleImage({ baseImage: 'scratch', model: { path: join(dir, 'model.bin') }, tags: ['1'], outputPath: join(dir, 'layout') });
    assert.equal(bundled.layers.find((l) => l.role === 'model')?.deferred, true);
    const inputs = { imageLayout: join(dir, 'layout'), registryType: 'serviceConnection', dockerRegistryConnection: 'dockerOthers', tags: '1' };
    const ok = await run({ ...inputs, repository: 'models/deferred' }, [others()]);
    assert.ok(ok.succeeded, failure(ok));
    assert.equal(ok.outputs['imageDigest'], bundled.manifestDigest);
    assert.match(ok.stdout, /Layer sha256:[0-9a-f]{12} \(2\.0 MiB\): uploaded from the model files/);
    rmSync(join(dir, 'model.bin'));
    const gone = await run({ ...inputs, repository: 'models/deferred-gone' }, [others()]);
    assert.equal(gone.succeeded, false);
    const line = failure(gone);
    assert.ok(line.includes(join(dir, 'model.bin')) && line.includes('writeModelBlob'), line);
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

  // Entra sign-in against a fake authority (the connection's activeDirectoryAuthority) that records what
  // the client sends and refuses it; the task must fail with one line carrying the authority's reason.
  const JOB_TOKEN = 'job-access-token-7f3e9a';
  const armRun = (ep: Endpoint, env: Record<string, string | undefined>) =>
    run(
      {
        imageLayout: image.layout.dir,
        registryType: 'azureContainerRegistry',
        azureSubscription: ep.id,
        azureContainerRegistry: tokenRegistry.host,
        repository: 'apps/x',
        tags: '1',
      },
      [ep],
      { NODE_EXTRA_CA_CERTS: entra.caFile, ...env },
    );
  const withAuthority = (ep: Endpoint): Endpoint => ({
    ...ep,
    data: { environment: 'AzureCloud', ...(ep.data ?? {}), activeDirectoryAuthority: `${entra.url}/` },
  });
  const refusedLine = new RegExp(`Could not get an Entra ID token for registry .* from the Azure service connection: .*AADSTS7000215`);

  it('AzureRM service principal (secret): reaches the Entra sign-in with its client id and secret, and fails with one clear line', async () => {
    entra.reset();
    const ep = withAuthority({
      id: 'armSecret',
      scheme: 'ServicePrincipal',
      parameters: { serviceprincipalid: 'app-id', serviceprincipalkey: 'app-secret', tenantid: TENANT, authenticationType: 'spnKey' },
    });
    const r = await armRun(ep, {});
    assert.ok(!r.succeeded);
    assert.match(failure(r), refusedLine);
    const [sent, ...more] = entra.tokenRequests();
    assert.ok(sent, `no token request reached the authority: ${failure(r)}`);
    assert.equal(more.length, 0, 'an invalid_client refusal is not retried');
    assert.equal(sent.path.split('?')[0], `/${TENANT}/oauth2/v2.0/token`);
    assert.equal(sent.form.grant_type, 'client_credentials');
    assert.equal(sent.form.client_id, 'app-id');
    assert.equal(sent.form.client_secret, 'app-secret');
    assert.match(sent.form.scope ?? '', /\/\.default\b/);
    assert.ok(!leaks(r, 'app-secret'));
  });

  it('AzureRM workload identity federation without an OIDC request URI: fails with one clear line before any sign-in', async () => {
    entra.reset();
    const ep = withAuthority({ id: 'armWif', scheme: 'WorkloadIdentityFederation', parameters: { serviceprincipalid: 'app-id', tenantid: TENANT } });
    const r = await armRun(ep, { [SYSTEM_TOKEN]: JOB_TOKEN, SYSTEM_OIDCREQUESTURI: undefined });
    assert.ok(!r.succeeded);
    assert.match(failure(r), /workload identity federation but SYSTEM_OIDCREQUESTURI is not set/);
    assert.deepEqual(entra.requests, []);
    assert.ok(!leaks(r, JOB_TOKEN), 'the job access token was printed');
  });

  it('AzureRM workload identity federation: asks the OIDC endpoint with the job token, reaches the Entra sign-in with the federated token, and fails with one clear line', async () => {
    entra.reset();
    const ep = withAuthority({ id: 'armWif2', scheme: 'WorkloadIdentityFederation', parameters: { serviceprincipalid: 'app-id', tenantid: TENANT } });
    const r = await armRun(ep, { [SYSTEM_TOKEN]: JOB_TOKEN, SYSTEM_OIDCREQUESTURI: `${entra.url}/oidc` });
    assert.ok(!r.succeeded);
    assert.match(failure(r), refusedLine);
    const oidc = entra.requests.filter((q) => q.path.startsWith('/oidc'));
    assert.ok(oidc.length >= 1, JSON.stringify(entra.requests.map((q) => q.path)));
    for (const q of oidc) {
      assert.equal(q.method, 'POST');
      assert.equal(q.headers.authorization, `Bearer ${JOB_TOKEN}`);
      assert.match(q.path, /serviceConnectionId=armWif2\b/);
    }
    const [sent] = entra.tokenRequests();
    assert.ok(sent, `no token request reached the authority: ${failure(r)}`);
    assert.equal(sent.form.client_id, 'app-id');
    assert.equal(sent.form.client_assertion, entra.oidcToken);
    assert.equal(sent.form.client_assertion_type, 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer');
    assert.ok(!leaks(r, JOB_TOKEN), 'the job access token was printed');
  });

  // The certificate's PEM is multi-line: the adapter registers its body line by line (task-lib refuses multi-line secrets).
  it('AzureRM service principal with a certificate: reaches the Entra sign-in with an assertion signed by its key, without printing the key', async () => {
    entra.reset();
    const dir = mkdtempSync(join(work, 'cert-'));
    execFileSync(
      'openssl',
      ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', join(dir, 'k.pem'), '-out', join(dir, 'c.pem'), '-days', '1', '-subj', '/CN=sp'],
      { stdio: 'ignore' },
    );
    const certPem = readFileSync(join(dir, 'c.pem'), 'utf8');
    const pem = readFileSync(join(dir, 'k.pem'), 'utf8') + certPem;
    const ep = withAuthority({
      id: 'armCert',
      scheme: 'ServicePrincipal',
      parameters: { serviceprincipalid: 'app-id', tenantid: TENANT, authenticationType: 'spnCertificate', servicePrincipalCertificate: pem },
    });
    const r = await armRun(ep, {});
    assert.ok(!r.succeeded);
    assert.match(failure(r), refusedLine);
    const [sent] = entra.tokenRequests();
    assert.ok(sent, `no token request reached the authority: ${failure(r)}`);
    assert.equal(sent.form.client_id, 'app-id');
    assert.equal(sent.form.client_assertion_type, 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer');
    // The assertion is a JWT signed with the connection's private key: it verifies with the certificate's public key.
    const [h, p, sig] = (sent.form.client_assertion ?? '').split('.') as [string, string, string];
    const header = JSON.parse(Buffer.from(h, 'base64url').toString('utf8')) as { alg: string };
    const claims = JSON.parse(Buffer.from(p, 'base64url').toString('utf8')) as { aud: string; iss: string; sub: string };
    assert.equal(claims.iss, 'app-id');
    assert.equal(claims.sub, 'app-id');
    assert.ok(claims.aud.startsWith(`${entra.url}/${TENANT}/`), claims.aud);
    const publicKey = new X509Certificate(certPem).publicKey;
    const signed = Buffer.from(`${h}.${p}`);
    const ok =
      header.alg === 'PS256'
        ? cryptoVerify(
            'sha256',
            signed,
            { key: publicKey, padding: cryptoConstants.RSA_PKCS1_PSS_PADDING, saltLength: cryptoConstants.RSA_PSS_SALTLEN_DIGEST },
            Buffer.from(sig, 'base64url'),
          )
        : header.alg === 'RS256' && cryptoVerify('sha256', signed, publicKey, Buffer.from(sig, 'base64url'));
    assert.ok(ok, `the client assertion (${header.alg}) does not verify with the connection's certificate`);
    assert.ok(!leaks(r, 'PRIVATE KEY'));
    const keyLine = pem.split('\n')[1] as string;
    assert.ok(r.stdout.includes(`##vso[task.setsecret]${keyLine}`), 'the private key lines were not registered as secrets');
    assert.ok(!leaks(r, keyLine));
  });

  it('ACR connection with managed identity: asks the identity endpoint for a registry token, and fails with one clear line', async () => {
    // An App Service style identity endpoint (instead of IMDS) that records and refuses.
    const asked: Array<{ url?: string; header?: string | string[] }> = [];
    const identity = http.createServer((req, res) => {
      req.resume();
      asked.push({ url: req.url, header: req.headers['x-identity-header'] });
      res.writeHead(400, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: 'invalid_request', error_description: 'No managed identity is assigned to this resource.' }));
    });
    await new Promise<void>((resolve) => identity.listen(0, '127.0.0.1', resolve));
    try {
      const ep: Endpoint = {
        id: 'acrMsi',
        scheme: 'ManagedServiceIdentity',
        parameters: { loginServer: tokenRegistry.host, tenantid: TENANT },
        data: { registrytype: 'ACR' },
      };
      const r = await run(
        { imageLayout: image.layout.dir, registryType: 'serviceConnection', dockerRegistryConnection: 'acrMsi', repository: 'apps/x', tags: '1' },
        [ep],
        { IDENTITY_ENDPOINT: `http://127.0.0.1:${(identity.address() as AddressInfo).port}/msi`, IDENTITY_HEADER: 'h' },
      );
      assert.ok(!r.succeeded);
      assert.match(failure(r), /Could not get an Entra ID token for registry .*: .*No managed identity is assigned/);
      assert.ok(asked.length >= 1, `the identity endpoint was not asked: ${failure(r)}`);
      const url = new URL(asked[0]?.url as string, 'http://127.0.0.1');
      assert.equal(url.pathname, '/msi');
      assert.equal(asked[0]?.header, 'h');
      assert.equal(url.searchParams.get('resource'), 'https://containerregistry.azure.net');
    } finally {
      identity.close();
    }
  });

  it('ACR connection with workload identity federation: asks the OIDC endpoint with the job token, and fails with one clear line', async () => {
    entra.reset();
    const ep: Endpoint = {
      id: 'acrWif',
      scheme: 'WorkloadIdentityFederation',
      parameters: { loginServer: tokenRegistry.host, tenantid: TENANT, serviceprincipalid: 'app-id' },
      data: { registrytype: 'ACR' },
    };
    // The ACR connection names no authority: sign-in goes to the public cloud's, which is not reachable from the tests.
    const r = await run(
      { imageLayout: image.layout.dir, registryType: 'serviceConnection', dockerRegistryConnection: 'acrWif', repository: 'apps/x', tags: '1' },
      [ep],
      { NODE_EXTRA_CA_CERTS: entra.caFile, [SYSTEM_TOKEN]: JOB_TOKEN, SYSTEM_OIDCREQUESTURI: `${entra.url}/oidc` },
    );
    assert.ok(!r.succeeded);
    assert.match(failure(r), /Could not get an Entra ID token/);
    const oidc = entra.requests.filter((q) => q.path.startsWith('/oidc'));
    assert.ok(oidc.length >= 1, JSON.stringify(entra.requests.map((q) => q.path)));
    for (const q of oidc) assert.equal(q.headers.authorization, `Bearer ${JOB_TOKEN}`);
    assert.match(oidc[0]?.path ?? '', /serviceConnectionId=acrWif\b/);
    assert.ok(!leaks(r, JOB_TOKEN), 'the job access token was printed');
    assert.ok(!leaks(r, entra.oidcToken), 'the federated token was printed');
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
      /Input 'tags' must list tags of letters, digits.*\(got '-bad' among its items\)/,
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
      /Input 'repository' must be a repository name .*\(got 'Models\/Scorer'\)/,
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
