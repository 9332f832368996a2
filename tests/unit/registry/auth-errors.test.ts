import assert from 'node:assert/strict';
import { parseChallenges } from '../../../shared/oci/registry/auth';
import { parseErrorBody, registryError } from '../../../shared/oci/registry/errors';
import { isTransientError } from '../../../shared/retry';
import { AuthError, ChecksumMismatchError, NotFoundError, UserError } from '../../../shared/errors';

describe('WWW-Authenticate parsing', () => {
  const cases: Array<[string, Array<{ scheme: string; params: Record<string, string> }>]> = [
    [
      'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:samalba/my-app:pull,push"',
      [{ scheme: 'bearer', params: { realm: 'https://auth.docker.io/token', service: 'registry.docker.io', scope: 'repository:samalba/my-app:pull,push' } }],
    ],
    ['Basic realm="Registry Realm"', [{ scheme: 'basic', params: { realm: 'Registry Realm' } }]],
    [
      'Bearer realm="https://contoso.azurecr.io/oauth2/token",service="contoso.azurecr.io",scope="repository:a:pull",error="invalid_token"',
      [
        {
          scheme: 'bearer',
          params: { realm: 'https://contoso.azurecr.io/oauth2/token', service: 'contoso.azurecr.io', scope: 'repository:a:pull', error: 'invalid_token' },
        },
      ],
    ],
    [
      'Basic realm="a", Bearer realm="b",service=c',
      [
        { scheme: 'basic', params: { realm: 'a' } },
        { scheme: 'bearer', params: { realm: 'b', service: 'c' } },
      ],
    ],
    ['Bearer realm="with \\"quote\\", comma"', [{ scheme: 'bearer', params: { realm: 'with "quote", comma' } }]],
    ['', []],
  ];
  for (const [header, expected] of cases) {
    it(`parses ${header.slice(0, 60) || '(empty)'}`, () => assert.deepEqual(parseChallenges(header), expected));
  }
});

describe('registry error bodies', () => {
  const ctx = { operation: 'push of the manifest (tag 1)', registry: 'contoso.azurecr.io', repository: 'apps/scorer', input: 'repository' };
  const body = (code: string, message = 'm') => JSON.stringify({ errors: [{ code, message, detail: {} }] });
  const cases: Array<[number, string | undefined, RegExp, string, boolean]> = [
    [404, body('NAME_UNKNOWN', 'repository name not known to registry'), /Repository 'apps\/scorer' does not exist on contoso\.azurecr\.io/, 'NotFound', false],
    [404, body('MANIFEST_UNKNOWN'), /Image not found/, 'NotFound', false],
    [403, body('DENIED', 'requested access to the resource is denied'), /not allowed to push to repository 'apps\/scorer'.*AcrPush/, 'AuthFailed', false],
    [401, body('UNAUTHORIZED', 'authentication required'), /rejected the credentials/, 'AuthFailed', false],
    [400, body('MANIFEST_INVALID', 'manifest invalid'), /refused the image manifest/, 'ManifestInvalid', false],
    [404, body('BLOB_UNKNOWN'), /does not have a blob/, 'NotFound', false],
    [429, body('TOOMANYREQUESTS', 'slow down'), /throttling requests/, 'Throttled', true],
    [400, body('DIGEST_INVALID'), /different digest/, 'ChecksumMismatch', false],
    [404, body('BLOB_UPLOAD_UNKNOWN'), /lost or refused the upload session/, 'UploadInvalid', false],
    [503, '<html>busy</html>', /failed during .* HTTP 503/, 'RegistryError', true],
    [404, 'not json', /answered 404 Not Found/, 'NotFound', false],
  ];
  for (const [status, text, re, code, transient] of cases) {
    it(`maps ${status} ${text?.slice(0, 40)}`, () => {
      const err = registryError(status, text, ctx);
      assert.match(err.message, re);
      assert.equal(err.code, code);
      assert.equal(err.transient, transient);
      assert.equal(isTransientError(err), transient);
      assert.ok(!err.message.includes('\n'));
    });
  }
  it('maps registry errors into the one hierarchy, keeping the status and the registry code as data', () => {
    const unauthorized = registryError(401, body('UNAUTHORIZED', 'authentication required'), ctx);
    assert.ok(unauthorized instanceof AuthError);
    assert.equal(unauthorized.statusCode, 401);
    assert.equal(unauthorized.remoteCode, 'UNAUTHORIZED');
    assert.equal(unauthorized.input, 'repository');
    assert.ok(registryError(403, body('DENIED'), ctx) instanceof AuthError);
    const unknown = registryError(404, body('NAME_UNKNOWN'), ctx);
    assert.ok(unknown instanceof NotFoundError);
    assert.equal(unknown.remoteCode, 'NAME_UNKNOWN');
    assert.ok(registryError(400, body('DIGEST_INVALID'), ctx) instanceof ChecksumMismatchError);
    const busy = registryError(503, undefined, ctx);
    assert.ok(busy instanceof UserError);
    assert.equal(busy.statusCode, 503);
  });
  it('treats a 401 with insufficient_scope as a permission problem', () => {
    const err = registryError(401, body('UNAUTHORIZED'), ctx, { 'www-authenticate': 'Bearer realm="x",error="insufficient_scope"' });
    assert.match(err.message, /not allowed to push/);
  });
  it('reads OAuth2 error bodies', () => {
    assert.deepEqual(parseErrorBody('{"error":"invalid_grant","error_description":"expired"}'), [{ code: 'INVALID_GRANT', message: 'expired' }]);
    assert.equal(parseErrorBody('nope'), undefined);
  });
});
