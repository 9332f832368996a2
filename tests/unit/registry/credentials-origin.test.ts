/**
 * Where registry credentials may go: the token-realm rule, the ACR exchange
 * URL, upload Locations (own origin, another origin, a downgrade to http) and
 * the message of a push that stopped after some tags were written.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { exchangeUrlFor } from '../../../shared/azure/acr';
import { isUserError } from '../../../shared/errors';
import { credentialsAllowedAt } from '../../../shared/oci/registry/auth';
import { RegistryClient } from '../../../shared/oci/registry/client';
import { drain } from '../../../shared/oci/registry/http';
import { withTagsWritten } from '../../../shared/oci/registry/push';

describe('registry credentials stay with the registry', () => {
  // [realm, registry origin, allowed]
  const realms: Array<[string, string, boolean]> = [
    ['https://auth.example.test/token', 'https://registry.example.test', true], // another host over https (Docker Hub style)
    ['https://registry.example.test/oauth2/token', 'https://registry.example.test', true],
    ['http://registry.example.test/token', 'https://registry.example.test', false], // https registry, plain http realm
    ['http://127.0.0.1:5001/token', 'https://registry.example.test', false], // even loopback: the registry is https
    ['http://auth.example.test/token', 'http://127.0.0.1:5000', false], // loopback registry, remote plain-http realm
    ['http://127.0.0.1:5001/token', 'http://127.0.0.1:5000', true], // both loopback (tests, local registries)
    ['http://localhost:5001/token', 'http://127.0.0.1:5000', true],
    ['http://registry.lan:5001/token', 'http://registry.lan:5000', true], // insecure registry, realm on its own host
    ['http://other.lan/token', 'http://registry.lan:5000', false], // insecure registry, realm elsewhere
    ['ftp://registry.lan/token', 'http://registry.lan:5000', false],
  ];
  for (const [realm, registry, allowed] of realms) {
    it(`${allowed ? 'sends' : 'refuses to send'} credentials to realm ${realm} of registry ${registry}`, () => {
      assert.equal(credentialsAllowedAt(new URL(realm), new URL(registry)), allowed);
    });
  }

  it('exchanges the Entra token at the login server, whatever the realm', () => {
    assert.equal(exchangeUrlFor('https://contoso.example.test').toString(), 'https://contoso.example.test/oauth2/exchange');
    assert.equal(exchangeUrlFor('http://127.0.0.1:5000').toString(), 'http://127.0.0.1:5000/oauth2/exchange');
  });

  it('keeps Locations on https for an https registry and knows its own origin', () => {
    const client = new RegistryClient({ registry: 'registry.example.test' });
    assert.ok(client.isOwnOrigin(new URL('https://registry.example.test/v2/a/blobs/uploads/1?_state=x')));
    assert.ok(!client.isOwnOrigin(new URL('https://storage.example.test/up/1')));
    assert.ok(!client.isOwnOrigin(new URL('http://registry.example.test/v2/')));
    assert.equal(client.checkLocation(new URL('https://storage.example.test/up/1')).host, 'storage.example.test');
    assert.throws(
      () => client.checkLocation(new URL('http://storage.example.test/up/1?sig=x')),
      (e: unknown) =>
        isUserError(e) && /sent an upload location on plain http \(http:\/\/storage\.example\.test\)/.test(e.message) && !e.message.includes('sig=x'),
    );
    assert.throws(() => client.checkLocation(new URL('file:///etc/passwd')), /not an http\(s\) URL \(file:\)/);
    // A plain-http (loopback) registry may hand out any http(s) Location.
    assert.equal(new RegistryClient({ registry: '127.0.0.1:5000' }).checkLocation(new URL('http://127.0.0.1:5001/u')).port, '5001');
  });

  it('a 401 from another origin neither gets credentials nor changes how the registry is signed in to', async () => {
    const seen: Array<string | undefined> = [];
    const foreign = http.createServer((req, res) => {
      seen.push(req.headers.authorization);
      res.writeHead(401, { 'WWW-Authenticate': `Bearer realm="http://127.0.0.1:${(foreign.address() as AddressInfo).port}/token",service="x"` });
      res.end();
    });
    const registry = http.createServer((req, res) => {
      if (req.headers.authorization !== `Basic ${Buffer.from('u:p').toString('base64')}`) {
        res.writeHead(401, { 'WWW-Authenticate': 'Basic realm="r"' });
        return res.end();
      }
      res.end('{}');
    });
    await new Promise<void>((r) => foreign.listen(0, '127.0.0.1', r));
    await new Promise<void>((r) => registry.listen(0, '127.0.0.1', r));
    try {
      const client = new RegistryClient({
        registry: `127.0.0.1:${(registry.address() as AddressInfo).port}`,
        credentials: { username: 'u', password: 'p' },
        retries: 0,
      });
      const context = { operation: 'upload', registry: client.registry };
      await assert.rejects(
        client.request({
          method: 'PUT',
          path: new URL(`http://127.0.0.1:${(foreign.address() as AddressInfo).port}/up/1`),
          scopes: [],
          expect: [201],
          context,
        }),
      );
      assert.equal(client.auth.scheme, 'basic', 'the other origin taught the client a new challenge');
      const res = await client.request({ method: 'GET', path: '/v2/a/tags/list', scopes: [], expect: [200], context });
      await drain(res);
      assert.deepEqual(
        seen.filter((a) => a !== undefined),
        [],
      );
    } finally {
      foreign.close();
      registry.close();
    }
  });

  it('a push stopped after some tags names the tags written and those not', () => {
    const msg = withTagsWritten(
      "The identity is not allowed to push to repository 'a' (DENIED: immutable): grant it AcrPush.",
      'two',
      ['one'],
      ['two', 'three'],
    );
    assert.equal(
      msg,
      "The identity is not allowed to push to repository 'a' (DENIED: immutable): grant it AcrPush. Pushing stopped at tag 'two': already written: one; not written: two, three (the image is complete under the written tags; fix the cause and re-run to write the rest).",
    );
    assert.ok(!/\n/.test(msg));
  });
});
