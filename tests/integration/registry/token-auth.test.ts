import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AccessToken, TokenCredential } from '@azure/identity';
import { acrCredentials } from '../../../shared/azure/acr';
import { silentLogger } from '../../../shared/log';
import { OciLayout } from '../../../shared/oci/layout';
import { parseReference } from '../../../shared/oci/reference';
import { RegistryClient } from '../../../shared/oci/registry/client';
import { pullImage } from '../../../shared/oci/registry/pull';
import { pushImage } from '../../../shared/oci/registry/push';
import { MediaType } from '../../../shared/oci/types';
import { startFaultProxy } from '../../helpers/fault-proxy';
import { startRegistry, type TestRegistry } from '../../helpers/registry';
import { startAcrLoginServer, startTokenServer, type TokenServer } from '../../helpers/token-server';
import { buildTestImage, buildTestIndex, skopeoInspectArgs, type TestImage, type TestIndex } from './fixture';

const SERVICE = 'test-registry.local';
const TENANT = '11111111-2222-3333-4444-555555555555';

/** A stubbed Entra credential: returns a fake token the token server accepts, counting calls. */
export function fakeEntraCredential(lifetimeMs = 3600_000): TokenCredential & { calls: number; scopes: string[] } {
  const cred = {
    calls: 0,
    scopes: [] as string[],
    async getToken(scopes: string | string[]): Promise<AccessToken> {
      cred.calls++;
      cred.scopes.push(...(Array.isArray(scopes) ? scopes : [scopes]));
      return { token: `fake-entra.${cred.calls}`, expiresOnTimestamp: Date.now() + lifetimeMs };
    },
  };
  return cred;
}

async function pushIndex(registry: TestRegistry, repo: string, index: TestIndex, credentials: { username: string; password: string }): Promise<void> {
  for (const arch of ['amd64', 'arm64']) {
    await pushImage({ layout: index.layout, source: arch, registry: registry.host, repository: repo, tags: [], credentials, logger: silentLogger });
  }
  const client = new RegistryClient({ registry: registry.host, credentials });
  await client.putManifest(repo, 'multi', index.indexBytes, MediaType.OciIndex);
}

describe('registry token auth (distribution 2.8 + test token server)', function () {
  const users = { alice: 'alice-pw', reader: 'reader-pw' };
  let tokens: TokenServer;
  let registry: TestRegistry;
  /** ACR serves /oauth2/* on the login server itself: the Entra token is exchanged there, never at the realm's origin. */
  let loginServer: { host: string; stop(): Promise<void> };
  let work: string;
  let image: TestImage;
  let index: TestIndex;

  before(async () => {
    tokens = await startTokenServer({
      service: SERVICE,
      users,
      policy: (identity, _repo, asked) => (identity === 'reader' ? asked.filter((a) => a === 'pull') : asked),
      validateEntraToken: (token, tenant) => (token.startsWith('fake-entra.') && tenant === TENANT ? 'entra-app' : undefined),
    });
    registry = await startRegistry({
      mode: 'token',
      realm: tokens.realm,
      service: SERVICE,
      issuer: tokens.issuer,
      rootCertBundlePath: tokens.rootCertBundlePath,
    });
    loginServer = await startAcrLoginServer(registry.host, tokens.url);
    work = mkdtempSync(join(tmpdir(), 'push-token-'));
    image = await buildTestImage(join(work, 'img'), { modelSize: 2 << 20 });
    index = await buildTestIndex(join(work, 'index'));
  });
  after(async () => {
    await loginServer?.stop();
    await registry?.stop();
    await tokens?.stop();
    rmSync(work, { recursive: true, force: true });
  });

  it('pushes with Basic credentials traded for a Bearer token; skopeo reads it back', async () => {
    const before = tokens.stats.basicTokens;
    const result = await pushImage({
      layout: image.layout,
      registry: registry.host,
      repository: 'apps/scorer',
      tags: ['1', '2'],
      credentials: { username: 'alice', password: users.alice },
      logger: silentLogger,
    });
    assert.ok(tokens.stats.basicTokens > before);
    // async: skopeo signs in at the token server, which runs in this process
    const { stdout } = await promisify(execFile)('skopeo', skopeoInspectArgs(`${registry.host}/apps/scorer:2`, { username: 'alice', password: users.alice }), {
      encoding: 'utf8',
    });
    const info = JSON.parse(stdout) as { Digest: string; RepoTags: string[] };
    assert.equal(info.Digest, result.digest);
    assert.deepEqual([...info.RepoTags].sort(), ['1', '2']);
  });

  it('refuses a push when the identity may only pull, naming the role to grant', async () => {
    await assert.rejects(
      pushImage({
        layout: image.layout,
        registry: registry.host,
        repository: 'apps/readonly',
        tags: ['1'],
        credentials: { username: 'reader', password: users.reader },
        logger: silentLogger,
        retries: 0,
      }),
      /not allowed to push to repository 'apps\/readonly'.*AcrPush/,
    );
  });

  it('fails clearly on a wrong password at the token server', async () => {
    await assert.rejects(
      pushImage({
        layout: image.layout,
        registry: registry.host,
        repository: 'apps/x',
        tags: ['1'],
        credentials: { username: 'alice', password: 'nope' },
        logger: silentLogger,
        retries: 0,
      }),
      /refused to sign in with the given credentials/,
    );
  });

  it('signs in like ACR: Entra token -> /oauth2/exchange (retried on 429) -> refresh token -> /oauth2/token', async () => {
    const cred = fakeEntraCredential();
    tokens.failExchanges(2, 429);
    const exchanges = tokens.stats.exchanges;
    const refreshes = tokens.stats.refreshTokens;
    const result = await pushImage({
      layout: image.layout,
      registry: loginServer.host,
      repository: 'apps/acr',
      tags: ['7'],
      credentials: acrCredentials({ registry: loginServer.host, credential: cred, tenantId: TENANT, retryBaseMs: 50 }),
      logger: silentLogger,
    });
    assert.equal(result.digest, image.manifestDigest);
    assert.equal(tokens.stats.exchanges, exchanges + 1);
    assert.ok(tokens.stats.refreshTokens > refreshes);
    assert.deepEqual([...new Set(cred.scopes)], ['https://containerregistry.azure.net/.default']);
  });

  it('fails with a clear message when the Entra token is refused by the exchange', async () => {
    const bad: TokenCredential = { getToken: async () => ({ token: 'not-entra', expiresOnTimestamp: Date.now() + 3600_000 }) };
    await assert.rejects(
      pushImage({
        layout: image.layout,
        registry: loginServer.host,
        repository: 'apps/acr',
        tags: ['8'],
        credentials: acrCredentials({ registry: loginServer.host, credential: bad, tenantId: TENANT, retryBaseMs: 10 }),
        logger: silentLogger,
        retries: 0,
      }),
      /refused the Entra ID token.*AcrPush/,
    );
  });

  it('pulls by tag and by digest from a multi-platform index, choosing the platform', async () => {
    const creds = { username: 'alice', password: users.alice };
    await pushIndex(registry, 'base/multi', index, creds);
    const dest = await OciLayout.create(join(work, 'pulled-token'));
    const byTag = await pullImage({ reference: parseReference(`${registry.host}/base/multi:multi`), layout: dest, credentials: creds, logger: silentLogger });
    assert.equal(byTag.manifestDescriptor.digest, index.amd64);
    assert.equal(byTag.indexDigest, index.indexDigest);
    assert.equal(byTag.config.architecture, 'amd64');
    for (const d of [byTag.manifest.config, ...byTag.manifest.layers]) assert.ok(await dest.hasBlob(d.digest));
    const arm = await pullImage({
      reference: parseReference(`${registry.host}/base/multi@${index.indexDigest}`),
      platform: { os: 'linux', architecture: 'arm64' },
      layout: dest,
      credentials: creds,
      logger: silentLogger,
    });
    assert.equal(arm.manifestDescriptor.digest, index.arm64);
    const direct = await pullImage({
      reference: parseReference(`${registry.host}/base/multi@${index.amd64}`),
      layout: dest,
      credentials: creds,
      logger: silentLogger,
    });
    assert.equal(direct.indexDigest, undefined);
    assert.equal(direct.manifestDescriptor.digest, index.amd64);
    await assert.rejects(
      pullImage({
        reference: parseReference(`${registry.host}/base/multi:multi`),
        platform: { os: 'linux', architecture: 's390x' },
        layout: dest,
        credentials: creds,
        logger: silentLogger,
      }),
      /has no linux\/s390x variant \(it has: linux\/amd64, linux\/arm64\)/,
    );
    await assert.rejects(
      pullImage({ reference: parseReference(`${registry.host}/base/multi:nope`), layout: dest, credentials: creds, logger: silentLogger }),
      /Image not found/,
    );
  });

  it('renews short-lived tokens during a long push (proactively and on invalid_token)', async function () {
    // Every request goes through a proxy that logs when it arrived and with which token, so each
    // Bearer token can be checked against the time the registry really stops accepting it.
    const proxy = await startFaultProxy({ targetHost: '127.0.0.1', targetPort: registry.port });
    const host = `127.0.0.1:${proxy.port}`;
    /** Requests that carried a token the registry no longer accepts (exp is moved back by its 60 s leeway). */
    const expiredTokenRequests = () =>
      proxy.stats.log.filter((r) => {
        const m = /^Bearer ([^.]+)\.([^.]+)\./.exec(r.headers['authorization'] ?? '');
        if (!m) return false;
        const { exp } = JSON.parse(Buffer.from(m[2] as string, 'base64url').toString('utf8')) as { exp: number };
        return r.at >= (exp + 60) * 1000;
      }).length;
    const slowChunks = (ms: number) => () => new Promise<void>((r) => setTimeout(r, ms));
    try {
      const big = await buildTestImage(join(work, 'big'), { modelSize: 5 << 20, modelSeed: 'expiry' });
      // Tokens the registry really refuses after 2 s; the client is told they last 300 s, so it only learns from 401 invalid_token.
      tokens.options.tokenLifetimeSec = 2;
      tokens.options.compensateRegistryLeeway = true;
      tokens.options.advertisedLifetimeSec = 300;
      const issued = tokens.stats.tokensIssued;
      const result = await pushImage({
        layout: big.layout,
        registry: host,
        repository: 'apps/expiry',
        tags: ['1'],
        credentials: { username: 'alice', password: users.alice },
        chunkSize: 1 << 20,
        concurrency: 1,
        onChunk: slowChunks(700),
        logger: silentLogger,
      });
      assert.equal(result.digest, big.manifestDigest);
      assert.ok(tokens.stats.tokensIssued >= issued + 2, `tokens issued: ${tokens.stats.tokensIssued - issued}`);
      assert.ok(expiredTokenRequests() >= 1, 'the registry refused an expired token and the client renewed it');

      // With honest lifetimes (6 s: renewed after 4.8 s, the registry accepts it for more than 5 s) the
      // client renews before expiry: no request may carry an expired token, though the push lasts
      // longer than a token (8 chunk pauses of 1.2 s). A client that renews only on 401 sends expired ones.
      tokens.options.tokenLifetimeSec = 6;
      tokens.options.advertisedLifetimeSec = undefined;
      proxy.resetStats();
      const issued2 = tokens.stats.tokensIssued;
      const started = Date.now();
      const again = await pushImage({
        layout: big.layout,
        registry: host,
        repository: 'apps/expiry2',
        tags: ['1'],
        credentials: { username: 'alice', password: users.alice },
        chunkSize: 640 << 10,
        concurrency: 1,
        onChunk: slowChunks(1200),
        logger: silentLogger,
      });
      assert.equal(again.digest, big.manifestDigest);
      assert.ok(Date.now() - started > 9000, `the push outlasted a token: ${Date.now() - started} ms`);
      assert.ok(tokens.stats.tokensIssued >= issued2 + 2, `tokens issued: ${tokens.stats.tokensIssued - issued2}`);
      assert.equal(expiredTokenRequests(), 0, 'requests sent with an expired token');
      assert.ok(proxy.stats.log.filter((r) => r.headers['authorization']?.startsWith('Bearer ')).length >= 8);
    } finally {
      tokens.options.tokenLifetimeSec = undefined;
      tokens.options.compensateRegistryLeeway = undefined;
      tokens.options.advertisedLifetimeSec = undefined;
      await proxy.stop();
    }
  });
});
