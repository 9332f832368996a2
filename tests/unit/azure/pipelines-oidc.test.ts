/** The OIDC token request's own checks, before anything is sent. */
import { strict as assert } from 'node:assert';
import { requestPipelineOidcToken, tokenClaims } from '../../../shared/azure/pipelines-oidc';
import { AuthError } from '../../../shared/errors';

describe('pipelines-oidc', () => {
  const base = { serviceConnectionId: 'c', accessToken: 'job-token-never-sent-1', label: "S3 service connection 'c'", input: 's3Connection' };

  it('never sends the job access token over plain http to another machine', async () => {
    await assert.rejects(
      requestPipelineOidcToken({ ...base, requestUri: 'http://dev.azure.example/o/p/_apis/distributedtask/hubs/build/plans/a/jobs/b/oidctoken' }),
      (err: unknown) => err instanceof AuthError && /not an https URL/.test(err.message) && err.input === 's3Connection',
    );
  });

  it('refuses an OIDC endpoint that is not a URL', async () => {
    await assert.rejects(requestPipelineOidcToken({ ...base, requestUri: 'not a url' }), /System\.OidcRequestUri\) is not a URL/);
  });

  it('reads the claims of a token for messages, and nothing from a non-token', () => {
    const payload = Buffer.from(JSON.stringify({ iss: 'https://vstoken.dev.azure.com/x', sub: 'sc://o/p/c', aud: 'api://AzureADTokenExchange' })).toString(
      'base64url',
    );
    assert.deepEqual(tokenClaims(`h.${payload}.s`), { iss: 'https://vstoken.dev.azure.com/x', sub: 'sc://o/p/c', aud: 'api://AzureADTokenExchange' });
    assert.deepEqual(tokenClaims('garbage'), {});
    assert.deepEqual(tokenClaims('a.%%%.c'), {});
  });
});
