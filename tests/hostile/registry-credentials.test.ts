/**
 * Hostile registries against the real PushToACR bundle: upload Locations,
 * redirects and token realms on another origin, an https registry whose
 * Location downgrades to http, and an ACR-like registry whose realm points
 * elsewhere. Leaks are asserted from the other origin's side: it must never
 * see an Authorization header, the password, the Entra token or a token the
 * registry issued, in headers, URL or body.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startHostileRegistryProcess, type HostileRegistryOptions, type HostileRegistryProcess, type RecordedRequest } from '../helpers/hostile-registry';
import { buildTestImage, type TestImage } from '../integration/registry/fixture';
import { runMock, type EndpointSpec, type MockRun } from '../task/mock-task';

const USER = 'pusher';
const PASSWORD = `hostile-pw-${randomBytes(8).toString('hex')}`;
const ENTRA = `fake-entra.${randomBytes(12).toString('hex')}`;
const TENANT = '11111111-2222-3333-4444-555555555555';

/** Values that must never reach the foreign side. */
function secretsOf(reg: HostileRegistryProcess): string[] {
  return [PASSWORD, Buffer.from(`${USER}:${PASSWORD}`).toString('base64'), ENTRA, reg.refreshToken, reg.accessToken];
}

function assertNoLeak(foreign: RecordedRequest[], secrets: string[]): void {
  for (const r of foreign) {
    const names = Object.keys(r.headers).map((k) => k.toLowerCase());
    assert.ok(!names.includes('authorization'), `the other origin got an Authorization header: ${r.method} ${r.url}`);
    const text = `${r.url}\n${JSON.stringify(r.headers)}\n${r.body}`;
    for (const s of secrets) assert.ok(!text.includes(s) && !text.includes(encodeURIComponent(s)), `the other origin saw a credential in ${r.method} ${r.url}`);
  }
}

function oneLine(run: MockRun): string {
  assert.ok(!run.succeeded, `expected a failure:\n${run.stdout.slice(-3000)}`);
  assert.ok(run.message && !/\n/.test(run.message), 'one line');
  assert.ok(!/^\s+at /m.test(run.stdout), 'no stack trace');
  return run.message;
}

interface Case {
  name: string;
  options: HostileRegistryOptions;
  /** 'loopback': the registry listener; 'https': registry.invalid through the proxy, over TLS; 'acr': Entra sign-in. */
  target: 'loopback' | 'https' | 'acr';
  /** Success, or the failure line expected. */
  expect: 'success' | RegExp;
  /** Requests the foreign side must have received (it played the storage). */
  foreignSaw?: RegExp[];
}

const cases: Case[] = [
  {
    name: 'upload Location on another origin (Basic): the upload goes there without credentials',
    options: { auth: 'basic', username: USER, password: PASSWORD, uploadLocation: '{foreign}/uploads/{id}?_state=opaque' },
    target: 'loopback',
    expect: 'success',
    foreignSaw: [/^PATCH /, /^PUT .*digest=sha256/],
  },
  {
    name: 'upload Location on another origin (Bearer token): no token goes there',
    options: { auth: 'bearer', username: USER, password: PASSWORD, uploadLocation: '{foreign}/uploads/{id}' },
    target: 'loopback',
    expect: 'success',
    foreignSaw: [/^PATCH /, /^PUT /],
  },
  {
    name: 'upload Location on another origin that asks for a sign-in of its own: not given one',
    options: { auth: 'basic', username: USER, password: PASSWORD, uploadLocation: '{foreign}/uploads/{id}', foreignChallenges: true },
    target: 'loopback',
    expect: /upload of blob sha256:[0-9a-f]{12}|401/,
  },
  {
    name: 'blob check redirected to another origin: followed without credentials',
    options: { auth: 'bearer', username: USER, password: PASSWORD, blobRedirect: '{foreign}/blobs/{digest}' },
    target: 'loopback',
    expect: 'success',
    foreignSaw: [/^HEAD .*\/blobs\/sha256:/],
  },
  {
    name: 'https registry, upload Location on another https origin: the upload goes there without credentials',
    options: { auth: 'basic', username: USER, password: PASSWORD, uploadLocation: 'https://storage.invalid/uploads/{id}' },
    target: 'https',
    expect: 'success',
    foreignSaw: [/^PATCH https:\/\/storage\.invalid\//, /^PUT https:\/\/storage\.invalid\//],
  },
  {
    name: 'https registry whose upload Location downgrades to plain http: refused',
    options: { auth: 'basic', username: USER, password: PASSWORD, uploadLocation: 'http://storage.invalid/uploads/{id}' },
    target: 'https',
    expect: /Registry registry\.invalid sent an upload location on plain http \(http:\/\/storage\.invalid\)/,
  },
  {
    name: 'https registry naming a token realm over plain http on another host: no Basic credentials sent',
    options: { auth: 'bearer', username: USER, password: PASSWORD, realm: 'http://auth.invalid/token' },
    target: 'https',
    expect: /Registry registry\.invalid wants the credentials sent to the token server http:\/\/auth\.invalid over plain http/,
  },
  {
    name: 'ACR-like registry whose realm points to another origin: the Entra token and refresh token stay at the login server',
    options: { auth: 'acr', entraToken: ENTRA, realm: '{foreign}/oauth2/token' },
    target: 'acr',
    expect: 'success',
  },
];

describe('hostile registries: credentials go only to the registry (PushToACR bundle)', function () {
  this.timeout(120_000);
  let work: string;
  let image: TestImage;

  before(async () => {
    work = mkdtempSync(join(tmpdir(), 'hostile-push-'));
    // 1.5 MiB model with 1 MiB chunks: the model layer goes up as PATCH chunks, the rest as single PUTs.
    image = await buildTestImage(join(work, 'layout'), { modelSize: 3 << 19, base: false });
  });
  after(() => rmSync(work, { recursive: true, force: true }));

  async function push(reg: HostileRegistryProcess, target: Case['target'], extra: Record<string, string> = {}): Promise<MockRun> {
    const env: Record<string, string> = { NODE_EXTRA_CA_CERTS: reg.caFile, HTTPS_PROXY: reg.proxy, HTTP_PROXY: reg.proxy, NO_PROXY: '127.0.0.1,localhost' };
    const inputs: Record<string, string> = { imageLayout: image.layout.dir, repository: 'models/scorer', tags: '1', chunkSizeMiB: '1', ...extra };
    const endpoints: Record<string, EndpointSpec> = {};
    if (target === 'acr') {
      Object.assign(inputs, { registryType: 'azureContainerRegistry', azureSubscription: 'armMsi', azureContainerRegistry: reg.registry });
      endpoints['armMsi'] = { scheme: 'ManagedServiceIdentity', parameters: { tenantid: TENANT } };
      Object.assign(env, { IDENTITY_ENDPOINT: reg.identityEndpoint, IDENTITY_HEADER: 'hostile' });
    } else {
      Object.assign(inputs, { registryType: 'serviceConnection', dockerRegistryConnection: 'hostile' });
      const registry = target === 'https' ? 'https://registry.invalid' : `http://${reg.registry}`;
      endpoints['hostile'] = { scheme: 'UsernamePassword', parameters: { registry, username: USER, password: PASSWORD }, data: { registrytype: 'Others' } };
    }
    return runMock({ task: 'PushToACR', inputs, endpoints, env });
  }

  for (const c of cases) {
    it(c.name, async () => {
      const reg = await startHostileRegistryProcess(c.options);
      try {
        const run = await push(reg, c.target);
        const recorded = await reg.recorded();
        const foreign = recorded.filter((r) => r.listener === 'foreign');
        assertNoLeak(foreign, secretsOf(reg));
        if (c.expect === 'success') {
          assert.ok(run.succeeded, run.message || run.stdout.slice(-3000));
          assert.equal(run.outputs['imageDigest'], image.manifestDigest);
        } else {
          assert.match(oneLine(run), c.expect);
        }
        const seen = foreign.map((r) => `${r.method} ${r.url}`);
        for (const want of c.foreignSaw ?? [])
          assert.ok(
            seen.some((s) => want.test(s)),
            `the other origin never got ${want}: ${seen.join(', ')}`,
          );
        if (c.target === 'acr') {
          // The sign-in happened at the login server, nowhere else.
          const own = recorded.filter((r) => r.listener === 'registry').map((r) => `${r.method} ${new URL(r.url).pathname}`);
          assert.ok(own.includes('POST /oauth2/exchange'), own.join(', '));
          assert.ok(own.includes('POST /oauth2/token'), own.join(', '));
          assert.deepEqual(seen, [], 'the realm named another origin: nothing may be sent there');
        }
        for (const s of secretsOf(reg)) assert.ok(!run.visible.includes(s), 'a credential reached the log');
      } finally {
        await reg.stop();
      }
    });
  }

  it('a registry connection whose stored JSON is malformed fails with one line that does not echo it', async () => {
    const run = await runMock({
      task: 'PushToACR',
      inputs: { imageLayout: image.layout.dir, registryType: 'serviceConnection', dockerRegistryConnection: 'broken', repository: 'models/scorer', tags: '1' },
      env: {
        ENDPOINT_AUTH_broken: `{"scheme":"UsernamePassword","parameters":{"registry":"127.0.0.1:1","username":"${USER}","password":"${PASSWORD}"`,
        ENDPOINT_DATA_broken_REGISTRYTYPE: 'Others',
      },
    });
    const line = oneLine(run);
    assert.match(line, /Service connection 'broken' given in 'dockerRegistryConnection' is stored in a form that cannot be read/);
    assert.ok(!run.visible.includes(PASSWORD) && !line.includes('{'), run.visible);
  });

  it('a push whose second tag is refused names the tag already written', async () => {
    const reg = await startHostileRegistryProcess({ auth: 'basic', username: USER, password: PASSWORD, refuseTags: ['two'] });
    try {
      const run = await push(reg, 'loopback', { tags: 'one\ntwo\nthree' });
      const line = oneLine(run);
      assert.match(line, /tag 'two'/);
      assert.match(line, /already written: one\b/);
      assert.match(line, /not written: two, three/);
    } finally {
      await reg.stop();
    }
  });
});
