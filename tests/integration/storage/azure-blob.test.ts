/**
 * AzureBlobStore against a real Azurite blob service on 127.0.0.1: what only
 * this store has (connection strings, account keys, SAS URLs, the credential
 * factory, proxies). Listing, head and ranged reads are the model-store
 * contract (./contract.ts), run for both stores by contract.test.ts.
 *
 * Azurite limits: no blob versioning (it ignores the versionid parameter and
 * returns the current blob, so head() with a version id reports it absent),
 * and a wrong account key is answered 403 AuthorizationFailure (Azure says
 * AuthenticationFailed). Entra ID (bearer) access cannot be tried here: the
 * SDK refuses bearer tokens over plain http and Azurite's OAuth needs HTTPS.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import {
  AccountSASPermissions,
  AccountSASResourceTypes,
  AccountSASServices,
  BlobServiceClient,
  ContainerSASPermissions,
  generateAccountSASQueryParameters,
  StorageSharedKeyCredential,
  type ContainerClient,
} from '@azure/storage-blob';
import type { AccessToken, TokenCredential } from '@azure/identity';
import { AuthError, InputError, NotFoundError, UserError } from '../../../shared/errors';
import { httpStatusOf } from '../../../shared/retry';
import { azureBlobStoreFromConnectionString, azureBlobStoreFromCredential, azureBlobStoreFromSasUrl } from '../../../shared/storage/azure-blob';
import { startAzurite, type TestAzurite } from '../../helpers/azurite';
import { startForwardProxy, type ForwardProxy } from './forward-proxy';
import { collect, readAll } from './util';

describe('storage/azure-blob against Azurite', function () {
  this.timeout(120_000);
  let az: TestAzurite;
  let container: ContainerClient;
  const big = randomBytes(3 * 1024 * 1024 + 17);

  before(async function () {
    az = await startAzurite();
    const service = BlobServiceClient.fromConnectionString(az.connectionString);
    container = service.getContainerClient('models');
    await container.create();
    await container
      .getBlockBlobClient('meta/prod.onnx')
      .upload('production model', 16, { metadata: { Stage: 'production', Owner: 'ml' }, tags: { stage: 'production' } });
    await container.getBlockBlobClient('meta/dev.onnx').upload('dev model', 9, { metadata: { stage: 'dev' } });
    await container.getBlockBlobClient('big/model.bin').uploadData(big);
  });

  after(async () => {
    await az?.stop();
  });

  it('a missing container is a NotFoundError naming the container input', async () => {
    const missing = azureBlobStoreFromConnectionString(az.connectionString, 'nope');
    await assert.rejects(collect(missing.list('x/')), (e: unknown) => {
      assert.ok(e instanceof NotFoundError);
      assert.equal(e.input, 'container');
      assert.match(e.message, /Container 'nope' does not exist in storage account 'devstoreaccount1': check the container input\./);
      return true;
    });
  });

  it('a wrong account key is an AuthError that does not leak the key', async () => {
    const wrongKey = Buffer.alloc(64, 7).toString('base64');
    const bad = azureBlobStoreFromConnectionString(az.connectionString.replace(/AccountKey=[^;]+/, `AccountKey=${wrongKey}`), 'models');
    await assert.rejects(collect(bad.list('meta/')), (e: unknown) => {
      assert.ok(e instanceof AuthError, String(e));
      assert.match(e.message, /connection string was refused .*container 'models'.*AccountKey/);
      assert.ok(!e.message.includes(wrongKey) && !e.message.includes(az.accountKey));
      return true;
    });
    await assert.rejects(bad.readRange('big/model.bin', 0, 10), (e: unknown) => e instanceof AuthError && httpStatusOf(e) === 403);
  });

  it('an invalid connection string is an InputError that does not echo it', () => {
    assert.throws(
      () => azureBlobStoreFromConnectionString('AccountName=x;AccountKey=c2VjcmV0;Nonsense', 'models'),
      (e: unknown) => e instanceof InputError && e.input === 'connectionString' && !e.message.includes('c2VjcmV0'),
    );
    assert.throws(
      () => azureBlobStoreFromConnectionString('  ', 'models'),
      (e: unknown) => e instanceof InputError && e.input === 'connectionString',
    );
    assert.throws(
      () => azureBlobStoreFromConnectionString(az.connectionString, 'Bad_Name'),
      (e: unknown) => e instanceof InputError && e.input === 'container',
    );
  });

  it('works with an account SAS URL plus the container, and a container SAS URL', async () => {
    const cred = new StorageSharedKeyCredential(az.accountName, az.accountKey);
    const sas = generateAccountSASQueryParameters(
      {
        expiresOn: new Date(Date.now() + 3600_000),
        permissions: AccountSASPermissions.parse('rl'),
        resourceTypes: AccountSASResourceTypes.parse('sco').toString(),
        services: AccountSASServices.parse('b').toString(),
      },
      cred,
    ).toString();
    const viaAccount = azureBlobStoreFromSasUrl(`${az.blobEndpoint}?${sas}`, 'models');
    assert.equal((await collect(viaAccount.list('meta/'))).length, 2);
    assert.equal(viaAccount.uriOf('meta/prod.onnx'), `${az.blobEndpoint}/models/meta/prod.onnx`);
    assert.ok(!viaAccount.uriOf('x').includes('sig='));
    const got = await readAll(await viaAccount.readRange('meta/prod.onnx', 0, 10));
    assert.equal(got.toString(), 'production');

    const containerSas = await container.generateSasUrl({ expiresOn: new Date(Date.now() + 3600_000), permissions: ContainerSASPermissions.parse('rl') });
    const viaContainer = azureBlobStoreFromConnectionString(containerSas, 'models');
    assert.equal((await collect(viaContainer.list('meta/'))).length, 2);
    assert.equal(azureBlobStoreFromSasUrl(containerSas, undefined).containerName, 'models');
    assert.throws(
      () => azureBlobStoreFromSasUrl(containerSas, 'other'),
      (e: unknown) => e instanceof InputError && e.input === 'container',
    );
    assert.throws(
      () => azureBlobStoreFromSasUrl(`${az.blobEndpoint}/models`, 'models'),
      (e: unknown) => e instanceof InputError && /no signature/.test(e.message),
    );
  });

  it('a SAS without list permission is an AuthError saying which permissions are needed', async () => {
    const readOnly = await container.generateSasUrl({ expiresOn: new Date(Date.now() + 3600_000), permissions: ContainerSASPermissions.parse('r') });
    const s = azureBlobStoreFromSasUrl(readOnly, 'models');
    await assert.rejects(collect(s.list('meta/')), (e: unknown) => {
      assert.ok(e instanceof AuthError);
      assert.match(e.message, /SAS URL was refused .* read and list permissions \(sp=rl\)/);
      assert.ok(!e.message.includes('sig='));
      return true;
    });
  });

  it('an unreachable endpoint is a UserError naming the input that set it', async () => {
    const unreachable = azureBlobStoreFromConnectionString(az.connectionString.replace(`:${az.port}/`, ':1/'), 'models', { maxTries: 1 });
    await assert.rejects(collect(unreachable.list('x/')), (e: unknown) => {
      assert.ok(e instanceof UserError && !(e instanceof AuthError), String(e));
      assert.equal(e.input, 'connectionString');
      assert.match(e.message, /cannot be reached \(ECONNREFUSED\)/);
      return true;
    });
    const fake: TokenCredential = { getToken: async (): Promise<AccessToken> => ({ token: 't', expiresOnTimestamp: Date.now() + 3600_000 }) };
    const viaEndpoint = azureBlobStoreFromCredential(fake, { blobEndpoint: 'https://127.0.0.1:1/devstoreaccount1' }, 'models', { maxTries: 1 });
    await assert.rejects(collect(viaEndpoint.list('x/')), (e: unknown) => e instanceof UserError && e.input === 'blobEndpoint');
  });

  it('the credential factory validates the account, endpoint and container inputs without I/O', () => {
    const fake: TokenCredential = { getToken: async () => null };
    assert.throws(
      () => azureBlobStoreFromCredential(fake, { accountName: 'https://x.blob.core.windows.net' }, 'models'),
      (e: unknown) => e instanceof InputError && e.input === 'storageAccount',
    );
    assert.throws(
      () => azureBlobStoreFromCredential(fake, {}, 'models'),
      (e: unknown) => e instanceof InputError && e.input === 'storageAccount',
    );
    assert.throws(
      () => azureBlobStoreFromCredential(fake, { blobEndpoint: 'ftp://x' }, 'models'),
      (e: unknown) => e instanceof InputError && e.input === 'blobEndpoint',
    );
    const gov = azureBlobStoreFromCredential(fake, { accountName: 'contoso', environment: 'AzureUSGovernment' }, 'models');
    assert.equal(gov.uriOf('a b/c.onnx'), 'https://contoso.blob.core.usgovcloudapi.net/models/a%20b/c.onnx');
    const pub = azureBlobStoreFromCredential(fake, { accountName: 'contoso' }, 'models');
    assert.equal(pub.uriOf('m.onnx'), 'https://contoso.blob.core.windows.net/models/m.onnx');
  });

  describe('through an HTTP proxy', () => {
    let proxy: ForwardProxy;
    before(async () => {
      proxy = await startForwardProxy();
    });
    after(async () => {
      await proxy?.stop();
    });

    it('uses the explicit proxy URL, unless the no-proxy list names the host', async () => {
      const before = proxy.requests.length;
      const via = azureBlobStoreFromConnectionString(az.connectionString, 'models', { proxyUrl: proxy.url, noProxy: '' });
      assert.equal((await collect(via.list('meta/'))).length, 2);
      const got = await readAll(await via.readRange('meta/prod.onnx', 0, 10));
      assert.equal(got.toString(), 'production');
      assert.ok(proxy.requests.length >= before + 2, `proxy saw ${proxy.requests.length - before} requests`);
      assert.ok(proxy.requests.some((r) => r.includes(`127.0.0.1:${az.port}/devstoreaccount1/models`)));

      const count = proxy.requests.length;
      const direct = azureBlobStoreFromConnectionString(az.connectionString, 'models', { proxyUrl: proxy.url, noProxy: '127.0.0.1' });
      assert.equal((await collect(direct.list('meta/'))).length, 2);
      assert.equal(proxy.requests.length, count);
    });

    it('uses HTTP_PROXY from the environment and our NO_PROXY rules (host:port), not the SDK defaults', async () => {
      const n0 = proxy.requests.length;
      const viaEnv = azureBlobStoreFromConnectionString(az.connectionString, 'models', { env: { HTTP_PROXY: proxy.url } });
      assert.equal((await collect(viaEnv.list('meta/'))).length, 2);
      assert.ok(proxy.requests.length > n0);
      const n1 = proxy.requests.length;
      const bypass = azureBlobStoreFromConnectionString(az.connectionString, 'models', { env: { HTTPS_PROXY: proxy.url, NO_PROXY: `127.0.0.1:${az.port}` } });
      assert.equal((await collect(bypass.list('meta/'))).length, 2);
      assert.equal(proxy.requests.length, n1);
    });
  });
});
