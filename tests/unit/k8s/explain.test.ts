/**
 * explainKubeError: every kind of client failure becomes one actionable
 * sentence naming what was being done, with a typed error (auth, not found,
 * invalid object, unreachable cluster, unknown kind) and the cause kept.
 */
import assert from 'node:assert/strict';
import { AuthError, NotFoundError, UserError } from '../../../shared/errors';
import { KubeApiError, KubeConnectionError, UnknownKindError } from '../../../shared/k8s/client';
import { explainKubeError } from '../../../shared/k8s/explain';

const DOING = 'applying Deployment/web (namespace ml)';
const api = (code: number, reason?: string, message = 'the server said no') =>
  new KubeApiError(code, 'PATCH', '/apis/apps/v1/namespaces/ml/deployments/web', reason, message);

describe('explainKubeError', () => {
  it('passes a UserError through unchanged', () => {
    const original = new UserError('already explained', { code: 'Ambiguous' });
    assert.equal(explainKubeError(original, DOING), original);
  });

  it('an unreachable server: names the server and what was being done, and says to check the address and network', () => {
    const err = new KubeConnectionError(
      'https://10.0.0.1:443',
      'ECONNREFUSED',
      'cannot reach the Kubernetes API server https://10.0.0.1:443: connect ECONNREFUSED 10.0.0.1:443',
    );
    const e = explainKubeError(err, DOING);
    assert.equal(e.code, 'ClusterUnreachable');
    assert.match(e.message, /^Cannot reach the Kubernetes API server https:\/\/10\.0\.0\.1:443 while applying Deployment\/web \(namespace ml\)/);
    assert.match(e.message, /connect ECONNREFUSED 10\.0\.0\.1:443/);
    assert.ok(!/cannot reach the Kubernetes API server https:\/\/10\.0\.0\.1:443: /.test(e.message), 'the low-level prefix is not repeated');
    assert.match(e.message, /private clusters/);
    assert.equal(e.cause, err);
  });

  it('an unknown kind: says to install the CRD or fix apiVersion/kind', () => {
    const e = explainKubeError(new UnknownKindError('example.com/v1', 'Widget'), DOING);
    assert.equal(e.code, 'UnknownKind');
    assert.match(e.message, /does not know kind Widget \(apiVersion example\.com\/v1\) while applying/);
    assert.match(e.message, /install its CRD/);
  });

  it('401: an AuthError about the credentials', () => {
    const e = explainKubeError(api(401, 'Unauthorized'), DOING);
    assert.ok(e instanceof AuthError);
    assert.match(e.message, /HTTP 401/);
    assert.match(e.message, /update the service connection or kubeconfig/);
  });

  it("keeps the API server's status and reason as data", () => {
    const e = explainKubeError(api(422, 'Invalid', 'spec.replicas: Invalid value'), DOING);
    assert.equal(e.code, 'Invalid');
    assert.equal(e.statusCode, 422);
    assert.equal(e.remoteCode, 'Invalid');
    assert.equal(explainKubeError(api(401, 'Unauthorized'), DOING).remoteCode, 'Unauthorized');
  });

  it('403: an AuthError quoting the API server and asking for a role', () => {
    const e = explainKubeError(api(403, 'Forbidden', 'deployments.apps "web" is forbidden: User "x" cannot patch'), DOING);
    assert.ok(e instanceof AuthError);
    assert.match(e.message, /^Forbidden \(HTTP 403\) while applying Deployment\/web/);
    assert.match(e.message, /cannot patch/);
    assert.match(e.message, /grant the identity/);
  });

  it('404: a NotFoundError quoting the API server', () => {
    const e = explainKubeError(api(404, 'NotFound', 'namespaces "ml" not found'), DOING);
    assert.ok(e instanceof NotFoundError);
    assert.match(e.message, /Not found \(HTTP 404\) while applying .*namespaces "ml" not found/);
  });

  for (const code of [400, 409, 422]) {
    it(`${code}: an invalid object, with the reason, asking to fix the manifest`, () => {
      const e = explainKubeError(api(code, 'Invalid', 'spec.replicas: Invalid value: -1'), DOING);
      assert.equal(e.code, 'Invalid');
      assert.ok(e.message.includes(`HTTP ${code} Invalid`), e.message);
      assert.match(e.message, /spec\.replicas: Invalid value: -1; fix the manifest/);
    });
  }

  it('400 without a reason leaves the reason out', () => {
    const e = explainKubeError(api(400, undefined, 'bad'), DOING);
    assert.match(e.message, /\(HTTP 400\) while/);
  });

  it('another status (500): says to retry later', () => {
    const e = explainKubeError(api(500, 'InternalError', 'etcdserver: request timed out'), DOING);
    assert.ok(e instanceof UserError);
    assert.match(e.message, /failed with HTTP 500 while applying .*etcdserver: request timed out; retry later/);
  });

  it('anything else: "Unexpected failure" with its message, Error or not', () => {
    assert.match(explainKubeError(new Error('boom'), DOING).message, /^Unexpected failure while applying Deployment\/web \(namespace ml\): boom\.$/);
    assert.match(explainKubeError('a string', DOING).message, /: a string\.$/);
  });
});
