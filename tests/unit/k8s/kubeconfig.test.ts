import assert from 'node:assert/strict';
import type { AccessToken, TokenCredential } from '@azure/identity';
import * as yaml from 'js-yaml';
import { fetchAksKubeconfig } from '../../../shared/k8s/aks';
import { AKS_SERVER_APP_ID, EntraTokenSource, kubeConfigFromServiceAccount, kubeConfigFromString, useEntraTokens } from '../../../shared/k8s/kubeconfig';

const entra = yaml.dump({
  apiVersion: 'v1',
  kind: 'Config',
  clusters: [{ name: 'aks', cluster: { server: 'https://aks.example:443' } }],
  users: [
    {
      name: 'u',
      user: { exec: { apiVersion: 'client.authentication.k8s.io/v1beta1', command: 'kubelogin', args: ['get-token', '--server-id', AKS_SERVER_APP_ID] } },
    },
  ],
  contexts: [{ name: 'aks', context: { cluster: 'aks', user: 'u' } }],
  'current-context': 'aks',
});

class CountingCredential implements TokenCredential {
  calls: string[] = [];
  constructor(private readonly lifetimeMs: number) {}
  async getToken(scope: string | string[]): Promise<AccessToken> {
    this.calls.push(String(scope));
    return { token: `tok-${this.calls.length}`, expiresOnTimestamp: Date.now() + this.lifetimeMs };
  }
}

describe('kubeconfig', () => {
  it('replaces a kubelogin exec user by bearer tokens for the AKS server app, renewed as they expire', async () => {
    const kc = kubeConfigFromString(entra, { input: 'kubeconfig' });
    const cred = new CountingCredential(60 * 60_000);
    assert.equal(useEntraTokens(kc, cred), 1);
    const opts: { headers?: Record<string, string> } = {};
    await kc.applyToHTTPSOptions(opts);
    assert.equal(opts.headers?.Authorization, 'Bearer tok-1');
    assert.deepEqual(cred.calls, [`${AKS_SERVER_APP_ID}/.default`]);
    await kc.applyToHTTPSOptions({});
    assert.equal(cred.calls.length, 1, 'a fresh token is cached');
    const shortLived = new CountingCredential(60_000); // expires within the 5-minute margin
    const src = new EntraTokenSource(shortLived, 's/.default');
    await src.getToken();
    await src.getToken();
    assert.equal(shortLived.calls.length, 2, 'an expiring token is renewed');
  });

  it('leaves token users alone', () => {
    const kc = kubeConfigFromServiceAccount(
      { server: 'https://k:6443', certificate: '-----BEGIN CERTIFICATE-----\nx\n-----END CERTIFICATE-----\n', token: 't' },
      'kubernetesServiceConnection',
    );
    assert.equal(useEntraTokens(kc, new CountingCredential(1)), 0);
    assert.equal(kc.getCurrentUser()?.token, 't');
  });

  it('a kubeconfig that cannot be parsed gives one line that quotes none of it', () => {
    const broken = [
      '{"users":[{"name":"u","user":{"token":"leaky-kube-123"}}', // JSON cut short
      'users:\n- name: u\n  user:\n    token: *leaky-kube-123\n', // alias naming the secret
      'users:\n- user: !leaky-kube-123 x\n', // tag naming it
    ];
    for (const text of broken) {
      assert.throws(
        () => kubeConfigFromString(text, { input: 'kubeconfig' }),
        (e: unknown) =>
          e instanceof Error &&
          /^The kubeconfig given in 'kubeconfig' cannot be read: .*check it is a valid kubeconfig YAML file\.$/.test(e.message) &&
          !e.message.includes('leaky') &&
          !/\n/.test(e.message),
      );
    }
  });

  it('names a missing context and lists the known ones', () => {
    assert.throws(() => kubeConfigFromString(entra, { input: 'kubernetesServiceConnection', context: 'prod' }), /has no context 'prod' \(contexts: aks\)/);
  });

  it('turns ARM statuses into one actionable sentence', async () => {
    const cred: TokenCredential = { getToken: async () => ({ token: 't', expiresOnTimestamp: Date.now() + 3600_000 }) };
    const reply = (status: number, body: unknown) => (async () => new Response(JSON.stringify(body), { status })) as unknown as typeof fetch;
    const req = {
      credential: cred,
      armEndpoint: 'https://arm.example',
      subscriptionId: 's',
      resourceGroup: 'rg',
      clusterName: 'aks',
      admin: false,
      retries: 0,
    };
    await assert.rejects(
      fetchAksKubeconfig({ ...req, fetchImpl: reply(404, { error: { code: 'ResourceNotFound', message: 'x' } }) }),
      /AKS cluster 'aks' in resource group 'rg' \(subscription s\) was not found/,
    );
    await assert.rejects(
      fetchAksKubeconfig({ ...req, fetchImpl: reply(401, { error: { code: 'InvalidAuthenticationToken', message: 'x' } }) }),
      /rejected the token/,
    );
    await assert.rejects(
      fetchAksKubeconfig({ ...req, admin: true, fetchImpl: reply(400, { error: { code: 'BadRequest', message: 'local accounts disabled' } }) }),
      /set useClusterAdmin to false/,
    );
    const ok = await fetchAksKubeconfig({
      ...req,
      fetchImpl: reply(200, { kubeconfigs: [{ name: 'clusterUser', value: Buffer.from('apiVersion: v1').toString('base64') }] }),
    });
    assert.equal(ok, 'apiVersion: v1');
  });
});
