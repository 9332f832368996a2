/** The ARM endpoint of an AzureRM connection: its URL (as the agent gives it), else its environment's; https only. */
import assert from 'node:assert/strict';
import { resourceManagerOf } from '../../../shared/azure/credential';
import { InputError } from '../../../shared/errors';

describe('resourceManagerOf', () => {
  it("uses the connection's URL, without a trailing slash", () => {
    assert.equal(resourceManagerOf({ id: 'c', resourceManagerUrl: 'https://management.azure.com/' }, 'azureSubscription'), 'https://management.azure.com');
    assert.equal(
      resourceManagerOf({ id: 'c', resourceManagerUrl: 'https://management.local.azurestack.external/' }, 'azureSubscription'),
      'https://management.local.azurestack.external',
    );
  });

  it("falls back to the environment's endpoint", () => {
    assert.equal(resourceManagerOf({ id: 'c', environment: 'AzureUSGovernment' }, 'azureSubscription'), 'https://management.usgovcloudapi.net');
    assert.equal(resourceManagerOf({ id: 'c' }, 'azureSubscription'), 'https://management.azure.com');
  });

  it('refuses a URL that is not https or not a URL, naming the input', () => {
    for (const url of ['http://management.azure.com/', 'not a url']) {
      assert.throws(
        () => resourceManagerOf({ id: 'c', resourceManagerUrl: url }, 'azureSubscription'),
        (err: unknown) => err instanceof InputError && err.input === 'azureSubscription' && err.message.includes(url),
      );
    }
  });
});
