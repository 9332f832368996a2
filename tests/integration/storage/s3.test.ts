/**
 * S3Store against a real s3rver on 127.0.0.1: what only this store has
 * (path-style addressing, regions, versions, access keys and the AWS
 * credential chain, proxies). Listing, head and ranged reads are the
 * model-store contract (./contract.ts), run for both stores by
 * contract.test.ts.
 *
 * s3rver limits: it checks the access key id but accepts any signature (a
 * wrong secret is not detected), has no versioning (ListObjectVersions answers
 * 405, VersionId is ignored, so head() with a version id reports it absent),
 * ignores If-Match on GET, and publishes no x-amz-checksum-sha256.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AuthError, InputError, NotFoundError, UserError } from '../../../shared/errors';
import { httpStatusOf } from '../../../shared/retry';
import { S3Store, s3StoreFor, s3StoreOptionsFrom } from '../../../shared/storage/s3';
import { startS3Server, type TestS3Server } from '../../helpers/s3server';
import { startForwardProxy, type ForwardProxy } from './forward-proxy';
import { collect, pool, readAll } from './util';

/** Run `fn` with AWS_* variables replaced (the credential chain reads process.env). */
async function withEnv<T>(vars: Record<string, string | undefined>, fn: () => Promise<T>): Promise<T> {
  const keys = new Set([
    ...Object.keys(process.env).filter((k) => k.startsWith('AWS_') && k !== 'AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED'),
    ...Object.keys(vars),
  ]);
  const saved = new Map([...keys].map((k) => [k, process.env[k]] as const));
  for (const k of keys) delete process.env[k];
  for (const [k, v] of Object.entries(vars)) if (v !== undefined) process.env[k] = v;
  try {
    return await fn();
  } finally {
    for (const [k, v] of saved) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
}

describe('storage/s3 against s3rver', function () {
  this.timeout(120_000);
  let s3: TestS3Server;
  let store: S3Store;
  const big = randomBytes(3 * 1024 * 1024 + 17);
  const emptyHome = mkdtempSync(join(tmpdir(), 'nohome-'));

  before(async () => {
    s3 = await startS3Server({ buckets: ['models'], verifySignatures: true });
    const meta = Array.from({ length: 40 }, (_, i) => `meta/m-${i}.onnx`);
    await pool(meta, 16, (k) =>
      s3.putObject('models', k, k, { metadata: { Stage: k.endsWith('7.onnx') ? 'production' : 'dev' }, tags: { idx: k.slice(7, -5) } }),
    );
    await s3.putObject('models', 'big/model.bin', big);
    store = new S3Store({
      bucket: 'models',
      endpoint: s3.endpoint,
      region: s3.region,
      credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
    });
  });

  after(async () => {
    await s3?.stop();
    rmSync(emptyHome, { recursive: true, force: true });
  });

  it('uses path-style addressing for an IP endpoint automatically', () => {
    assert.equal(store.forcePathStyle, true);
    assert.equal(store.uriOf('a/b.onnx'), 's3://models/a/b.onnx');
    const aws = new S3Store({ bucket: 'models', region: 'eu-west-1', credentials: { accessKeyId: 'a', secretAccessKey: 'b' }, env: {} });
    assert.equal(aws.forcePathStyle, false);
    assert.equal(aws.region, 'eu-west-1');
  });

  it('listVersions() is empty (no versioning in s3rver; head() with a version id is in the contract)', async () => {
    assert.deepEqual(await store.listVersions('meta/m-7.onnx'), []);
  });

  it('a missing bucket is a NotFoundError naming the bucket input', async () => {
    const missing = new S3Store({ bucket: 'nope', endpoint: s3.endpoint, credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey } });
    await assert.rejects(collect(missing.list('x/')), (e: unknown) => {
      assert.ok(e instanceof NotFoundError, String(e));
      assert.equal(e.input, 'bucket');
      assert.match(e.message, /Bucket 'nope' does not exist at http:\/\/127\.0\.0\.1:\d+: check the bucket input and s3Endpoint\./);
      return true;
    });
  });

  it('an unknown access key is an AuthError naming the service connection, without the secret', async () => {
    const bad = s3StoreFor({
      bucket: 'models',
      endpoint: s3.endpoint,
      connection: { id: 'models-conn', accessKeyId: 'AKIAWRONG', secretAccessKey: 'very-secret-value', region: 'us-east-1' },
    });
    await assert.rejects(collect(bad.list('meta/')), (e: unknown) => {
      assert.ok(e instanceof AuthError, String(e));
      assert.equal(e.input, 's3Connection');
      assert.match(e.message, /S3 refused S3 service connection 'models-conn' .*\(InvalidAccessKeyId\)/);
      assert.ok(!e.message.includes('very-secret-value'));
      return true;
    });
    await assert.rejects(bad.readRange('big/model.bin', 0, 10), (e: unknown) => e instanceof AuthError && httpStatusOf(e) === 403);
  });

  it('a wrong secret for the right key is an AuthError (SignatureDoesNotMatch) naming the service connection, without the secret', async () => {
    // s3rver checks no signature: the SigV4-verifying front (tests/helpers/sigv4-front.ts) does.
    const bad = s3StoreFor({
      bucket: 'models',
      endpoint: s3.endpoint,
      connection: { id: 'models-conn', accessKeyId: s3.accessKeyId, secretAccessKey: 'not-the-secret-value', region: 'us-east-1' },
    });
    await assert.rejects(collect(bad.list('meta/')), (e: unknown) => {
      assert.ok(e instanceof AuthError, String(e));
      assert.equal(e.input, 's3Connection');
      assert.match(e.message, /S3 refused S3 service connection 'models-conn' .*\(SignatureDoesNotMatch\)/);
      assert.ok(!e.message.includes('not-the-secret-value'));
      return true;
    });
    await assert.rejects(bad.head('big/model.bin'), (e: unknown) => e instanceof AuthError && e.input === 's3Connection');
    await assert.rejects(bad.readRange('big/model.bin', 0, 10), (e: unknown) => e instanceof AuthError && httpStatusOf(e) === 403);
    // The right secret passes the same front.
    const good = s3StoreFor({
      bucket: 'models',
      endpoint: s3.endpoint,
      connection: { id: 'models-conn', accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey, region: 'us-east-1' },
    });
    assert.equal((await readAll(await good.readRange('big/model.bin', 0, 10))).length, 10);
  });

  it('without keys, the standard chain reads AWS_* variables, including AWS_ENDPOINT_URL_S3', async () => {
    await withEnv(
      {
        AWS_ACCESS_KEY_ID: s3.accessKeyId,
        AWS_SECRET_ACCESS_KEY: s3.secretAccessKey,
        AWS_REGION: 'eu-central-1',
        AWS_ENDPOINT_URL_S3: s3.endpoint,
        HOME: emptyHome,
      },
      async () => {
        const fromEnv = s3StoreFor({ bucket: 'models' });
        assert.equal(fromEnv.region, 'eu-central-1');
        assert.equal(fromEnv.endpoint, s3.endpoint);
        assert.equal(fromEnv.forcePathStyle, true);
        assert.equal((await collect(fromEnv.list('meta/'))).length, 40);
      },
    );
  });

  it('with no credentials anywhere, an AuthError says how to provide them', async () => {
    await withEnv(
      { HOME: emptyHome, AWS_EC2_METADATA_DISABLED: 'true', AWS_CONFIG_FILE: join(emptyHome, 'none'), AWS_SHARED_CREDENTIALS_FILE: join(emptyHome, 'none') },
      async () => {
        const none = s3StoreFor({ bucket: 'models', endpoint: s3.endpoint });
        await assert.rejects(collect(none.list('meta/')), (e: unknown) => {
          assert.ok(e instanceof AuthError, String(e));
          assert.match(e.message, /No AWS credentials were found: select an S3 service connection/);
          return true;
        });
      },
    );
  });

  it('an unreachable endpoint is a UserError naming s3Endpoint', async () => {
    const down = new S3Store({ bucket: 'models', endpoint: 'http://127.0.0.1:1', credentials: { accessKeyId: 'a', secretAccessKey: 'b' }, maxAttempts: 1 });
    await assert.rejects(collect(down.list('x/')), (e: unknown) => {
      assert.ok(e instanceof UserError && !(e instanceof AuthError), String(e));
      assert.equal(e.input, 's3Endpoint');
      assert.match(e.message, /The S3 endpoint http:\/\/127\.0\.0\.1:1 cannot be reached \(ECONNREFUSED\): check the s3Endpoint input/);
      return true;
    });
  });

  it('validates bucket and endpoint inputs without I/O', () => {
    assert.throws(
      () => new S3Store({ bucket: 's3://models/x', env: {} }),
      (e: unknown) => e instanceof InputError && e.input === 'bucket',
    );
    assert.throws(
      () => new S3Store({ bucket: ' ', env: {} }),
      (e: unknown) => e instanceof InputError && e.input === 'bucket',
    );
    assert.throws(
      () => new S3Store({ bucket: 'models', endpoint: 'not a url', env: {} }),
      (e: unknown) => e instanceof InputError && e.input === 's3Endpoint',
    );
    assert.throws(
      () => s3StoreOptionsFrom({ id: 'half', accessKeyId: 'AKIA' }, { bucket: 'models' }),
      (e: unknown) => e instanceof AuthError && e.input === 's3Connection' && /half of its access key/.test(e.message),
    );
  });

  it('inputs win over the service connection; role settings are carried', () => {
    const o = s3StoreOptionsFrom(
      {
        id: 'c',
        accessKeyId: 'AK',
        secretAccessKey: 'SK',
        sessionToken: 'ST',
        region: 'us-west-2',
        endpoint: 'http://conn:9000',
        forcePathStyle: true,
        roleArn: 'arn:aws:iam::1:role/r',
        externalId: 'ext',
      },
      { bucket: 'models', region: 'eu-west-1', s3Endpoint: 'http://input:9000' },
    );
    assert.equal(o.region, 'eu-west-1');
    assert.equal(o.endpoint, 'http://input:9000');
    assert.equal(o.forcePathStyle, true);
    assert.deepEqual(o.credentials, { accessKeyId: 'AK', secretAccessKey: 'SK', sessionToken: 'ST' });
    assert.deepEqual(o.assumeRole, { roleArn: 'arn:aws:iam::1:role/r', roleSessionName: undefined, externalId: 'ext' });
    assert.equal(o.credentialLabel, "S3 service connection 'c'");
  });

  describe('through an HTTP proxy', () => {
    let proxy: ForwardProxy;
    before(async () => {
      proxy = await startForwardProxy();
    });
    after(async () => {
      await proxy?.stop();
    });

    it('uses the explicit proxy, HTTP_PROXY from the environment, and skips hosts in NO_PROXY', async () => {
      const creds = { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey };
      const via = new S3Store({ bucket: 'models', endpoint: s3.endpoint, credentials: creds, proxyUrl: proxy.url, env: {} });
      const n0 = proxy.requests.length;
      assert.equal((await collect(via.list('meta/'))).length, 40);
      assert.ok((await readAll(await via.readRange('big/model.bin', 0, 100))).equals(big.subarray(0, 100)));
      assert.ok(proxy.requests.length >= n0 + 2);
      assert.ok(proxy.requests.some((r) => r.startsWith(`GET http://127.0.0.1:${s3.port}/models`)));

      const n1 = proxy.requests.length;
      const envProxy = new S3Store({ bucket: 'models', endpoint: s3.endpoint, credentials: creds, env: { HTTP_PROXY: proxy.url } });
      assert.equal((await collect(envProxy.list('meta/'))).length, 40);
      assert.ok(proxy.requests.length > n1);

      const n2 = proxy.requests.length;
      const bypass = new S3Store({
        bucket: 'models',
        endpoint: s3.endpoint,
        credentials: creds,
        env: { HTTPS_PROXY: proxy.url, NO_PROXY: `localhost,127.0.0.1:${s3.port}` },
      });
      assert.equal((await collect(bypass.list('meta/'))).length, 40);
      assert.equal(proxy.requests.length, n2);
    });
  });
});
