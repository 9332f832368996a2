import assert from 'node:assert/strict';
import { HttpProxyAgent } from 'http-proxy-agent';
import { HttpsProxyAgent } from 'https-proxy-agent';
import { InputError } from '../../../shared/errors';
import { bypassesProxy, configuredNoProxy, configuredProxyUrl, matchesBypassPattern, proxyAgent, proxyFor } from '../../../shared/net/proxy';

describe('net/proxy', () => {
  describe('proxy URL precedence', () => {
    const cases: Array<[string, { proxyUrl?: string; env: NodeJS.ProcessEnv }, string | undefined]> = [
      ['explicit wins over the environment', { proxyUrl: 'http://agent:3128', env: { HTTPS_PROXY: 'http://env:1' } }, 'http://agent:3128'],
      ['HTTPS_PROXY', { env: { HTTPS_PROXY: 'http://a:1', HTTP_PROXY: 'http://b:2' } }, 'http://a:1'],
      ['https_proxy', { env: { https_proxy: 'http://a:1', HTTP_PROXY: 'http://b:2' } }, 'http://a:1'],
      ['HTTP_PROXY as fallback', { env: { HTTP_PROXY: 'http://b:2' } }, 'http://b:2'],
      ['http_proxy as fallback', { env: { http_proxy: 'http://c:3' } }, 'http://c:3'],
      ['blank explicit falls back', { proxyUrl: '  ', env: { HTTPS_PROXY: 'http://a:1' } }, 'http://a:1'],
      ['none', { env: {} }, undefined],
    ];
    for (const [name, opts, expected] of cases) it(name, () => assert.equal(configuredProxyUrl(opts), expected));
    it('explicit no-proxy list wins over NO_PROXY, then no_proxy', () => {
      assert.equal(configuredNoProxy({ noProxy: 'a', env: { NO_PROXY: 'b' } }), 'a');
      assert.equal(configuredNoProxy({ env: { NO_PROXY: 'b', no_proxy: 'c' } }), 'b');
      assert.equal(configuredNoProxy({ env: { no_proxy: 'c' } }), 'c');
    });
  });

  describe('NO_PROXY matching', () => {
    const cases: Array<[string, string, boolean]> = [
      ['https://acct.blob.core.windows.net', '*', true],
      ['https://acct.blob.core.windows.net', 'core.windows.net', true],
      ['https://acct.blob.core.windows.net', '.core.windows.net', true],
      ['https://acct.blob.core.windows.net', '*.core.windows.net', true],
      ['https://core.windows.net', '.core.windows.net', true],
      ['https://notcore.windows.net', 'core.windows.net', false],
      ['https://acct.blob.core.windows.net', 'blob.core.windows.net:443', true],
      ['https://acct.blob.core.windows.net', 'blob.core.windows.net:8443', false],
      ['http://minio.local:9000', 'minio.local:9000', true],
      ['http://minio.local:9000', 'minio.local:9001', false],
      ['http://minio.local:9000', 'minio.local', true],
      ['http://127.0.0.1:10000/devstoreaccount1', 'localhost,127.0.0.1', true],
      ['http://127.0.0.1:10000', '127.0.0.2', false],
      ['http://10.1.2.3:9000', '10.0.0.0/8', true],
      ['http://11.1.2.3:9000', '10.0.0.0/8', false],
      ['http://[::1]:9000', '::1', true],
      ['http://[::1]:9000', '[::1]:9000', true],
      ['http://[::1]:9000', '[::1]:9001', false],
      ['https://s3.eu-west-1.amazonaws.com', 'example.com amazonaws.com', true],
      ['https://S3.Amazonaws.COM', 'AMAZONAWS.com', true],
      ['https://s3.amazonaws.com', '', false],
      ['https://s3.amazonaws.com', ' , ,', false],
      ['https://s3.amazonaws.com.', 'amazonaws.com', true],
      ['not a url', '*', false],
    ];
    for (const [url, noProxy, expected] of cases) {
      it(`${url} with NO_PROXY='${noProxy}' -> ${expected ? 'direct' : 'proxy'}`, () => assert.equal(bypassesProxy(url, noProxy), expected));
    }
  });

  it('proxyFor combines both', () => {
    const env = { HTTPS_PROXY: 'http://proxy:3128', NO_PROXY: 'localhost,127.0.0.1' };
    assert.equal(proxyFor('https://acct.blob.core.windows.net', { env }), 'http://proxy:3128');
    assert.equal(proxyFor('http://127.0.0.1:10000', { env }), undefined);
    assert.equal(proxyFor('http://127.0.0.1:10000', { env, proxyUrl: 'http://agent:8888', noProxy: '' }), 'http://agent:8888');
    assert.equal(proxyFor('https://x', { env: {} }), undefined);
  });

  it("honours the agent's bypass list (regular expressions over the URL)", () => {
    const env = { HTTPS_PROXY: 'http://proxy:3128' };
    const patterns = ['\\.blob\\.core\\.windows\\.net', '(bad'];
    assert.equal(proxyFor('https://acct.blob.core.windows.net/models', { env, bypassPatterns: patterns }), undefined);
    assert.equal(proxyFor('https://s3.amazonaws.com', { env, bypassPatterns: patterns }), 'http://proxy:3128');
    assert.equal(matchesBypassPattern('https://GITHUB.com/x', ['github\\.com']), true);
    assert.equal(matchesBypassPattern('https://x', undefined), false);
    assert.equal(matchesBypassPattern('https://x', ['  ']), false);
  });

  it('builds a tunnelling agent for https targets and an absolute-form one for http, and names an invalid proxy URL', () => {
    assert.ok(proxyAgent('http://proxy.corp.test:3128', true, {}) instanceof HttpsProxyAgent);
    assert.ok(proxyAgent('http://proxy.corp.test:3128', false, {}) instanceof HttpProxyAgent);
    assert.throws(
      () => proxyAgent('not a url', true, {}),
      (e: unknown) => e instanceof InputError && /The proxy URL is not a valid URL/.test(e.message),
    );
  });
});
