import assert from 'node:assert/strict';
import { isAddressOrLocalName, isLoopbackAuthority, isLoopbackHost } from '../../../shared/net/loopback';

describe('net/loopback', () => {
  it('isLoopbackHost: localhost, 127.0.0.0/8 and ::1, bracketed or not, any case', () => {
    for (const h of ['localhost', 'LocalHost', '127.0.0.1', '127.1.2.3', '::1', '[::1]']) assert.equal(isLoopbackHost(h), true, h);
    for (const h of ['10.0.0.1', '128.0.0.1', '[2001:db8::1]', 'localhost.example.com', 'example.com', '']) assert.equal(isLoopbackHost(h), false, h);
  });

  it('isLoopbackAuthority: host[:port] as a registry is written', () => {
    for (const a of ['127.0.0.1:5000', '[::1]:5000', 'localhost', 'localhost:5000']) assert.equal(isLoopbackAuthority(a), true, a);
    for (const a of ['contoso.azurecr.io', '[2001:db8::1]:5000', '10.1.1.1:443']) assert.equal(isLoopbackAuthority(a), false, a);
  });

  it('isAddressOrLocalName: any IP literal, localhost and *.localhost (path-style storage URLs)', () => {
    for (const h of ['10.0.0.1', '127.0.0.1', '[::1]', '2001:db8::1', 'localhost', 'azurite.localhost']) assert.equal(isAddressOrLocalName(h), true, h);
    for (const h of ['account.blob.core.windows.net', 'minio.example.com', 'localhostx']) assert.equal(isAddressOrLocalName(h), false, h);
  });
});
