/**
 * Entra ID sign-in has a client-side time limit: a credential whose authority
 * (or managed identity endpoint) accepts the connection and never answers
 * fails with one line naming where it signs in, instead of waiting for the
 * job's own timeout.
 */
import assert from 'node:assert/strict';
import type { AccessToken, TokenCredential } from '@azure/identity';
import { azureCredentialFor, withTokenTimeout } from '../../../shared/azure/credential';
import { AuthError } from '../../../shared/errors';
import { startBlackHole, type BlackHole } from '../../helpers/black-hole';

describe('Entra ID sign-in time limit', () => {
  let hole: BlackHole;
  before(async () => {
    hole = await startBlackHole();
  });
  after(() => hole.stop());

  it('a credential that never answers fails after the limit with an AuthError naming the authority', async () => {
    const never: TokenCredential = { getToken: () => new Promise<AccessToken | null>(() => undefined) };
    const started = Date.now();
    await assert.rejects(withTokenTimeout(never, { timeoutMs: 300, where: 'https://login.example' }).getToken('scope/.default'), (e: unknown) => {
      assert.ok(e instanceof AuthError);
      assert.match(e.message, /Entra ID sign-in at https:\/\/login\.example gave no token within 0\.3 s/);
      return true;
    });
    assert.ok(Date.now() - started < 2000);
  });

  it('passes a token through and honours the caller’s abort signal', async () => {
    const token: AccessToken = { token: 't', expiresOnTimestamp: Date.now() + 60_000 };
    assert.deepEqual(await withTokenTimeout({ getToken: async () => token }, { timeoutMs: 300, where: 'x' }).getToken('s'), token);
    const ac = new AbortController();
    const slow: TokenCredential = { getToken: () => new Promise<AccessToken | null>(() => undefined) };
    const p = withTokenTimeout(slow, { timeoutMs: 60_000, where: 'x' }).getToken('s', { abortSignal: ac.signal });
    ac.abort(new Error('cancelled'));
    await assert.rejects(p, /cancelled/);
  });

  it('a managed identity whose endpoint is a black hole fails within the limit, naming the connection', async () => {
    const saved = { endpoint: process.env.IDENTITY_ENDPOINT, header: process.env.IDENTITY_HEADER };
    process.env.IDENTITY_ENDPOINT = `${hole.url}/msi/token`;
    process.env.IDENTITY_HEADER = 'h';
    try {
      const credential = azureCredentialFor({ id: 'conn', scheme: 'ManagedServiceIdentity' }, { timeoutMs: 1500 });
      const before = hole.connections;
      const started = Date.now();
      await assert.rejects(credential.getToken('https://management.azure.com/.default'), (e: unknown) => {
        assert.ok(e instanceof AuthError, String(e));
        assert.match(e.message, /Entra ID sign-in at the managed identity endpoint gave no token within 1\.5 s for service connection 'conn'/);
        return true;
      });
      assert.ok(Date.now() - started < 10_000, `took ${Date.now() - started} ms`);
      await new Promise((r) => setTimeout(r, 50));
      assert.ok(hole.connections > before, 'the sign-in did reach the identity endpoint');
    } finally {
      for (const [k, v] of [
        ['IDENTITY_ENDPOINT', saved.endpoint],
        ['IDENTITY_HEADER', saved.header],
      ] as const) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
    }
  });
});
