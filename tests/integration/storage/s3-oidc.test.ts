/**
 * S3 with OIDC (workload identity federation): an S3 service connection with
 * useOIDC gets the job's OIDC token from the agent's OIDC endpoint
 * (System.OidcRequestUri), exchanges it with STS AssumeRoleWithWebIdentity for
 * the connection's role through the real AWS SDK, and reads the bucket with
 * the temporary credentials, renewing them when they run out. A fake Azure
 * Pipelines OIDC endpoint and a fake STS (the documented Query API, XML
 * answers) on 127.0.0.1; s3rver behind a SigV4 front that accepts only the
 * session tokens STS granted and that have not expired.
 */
import assert from 'node:assert/strict';
import { AuthError, errorMessage } from '../../../shared/errors';
import type { S3Endpoint } from '../../../shared/connections';
import { s3StoreFor } from '../../../shared/storage/s3';
import { FakePipelineOidc, OIDC_AUDIENCE } from '../../helpers/fake-pipeline-oidc';
import { FakeSts } from '../../helpers/fake-sts';
import { startS3Server, type TestS3Server } from '../../helpers/s3server';
import { startSigV4Front, type SigV4Front } from '../../helpers/sigv4-front';
import { collect, readAll } from './util';

const ROLE = 'arn:aws:iam::123456789012:role/model-reader';
const JOB_TOKEN = 'job-access-token-for-oidc-7d3a9f';
// s3rver knows one key id; the front checks the signature made with the secret STS granted.
const STS_KEY = 'S3RVER';
const STS_SECRET = 'sts-granted-secret-key-4f1e7a2b9c';

describe('S3 with OIDC (workload identity federation)', function () {
  this.timeout(60_000);
  let s3: TestS3Server;
  let front: SigV4Front;
  let oidc: FakePipelineOidc;
  let sts: FakeSts;
  const savedStsEndpoint = process.env.AWS_ENDPOINT_URL_STS;
  const model = Buffer.from('weights of a model read with federated credentials');

  before(async () => {
    s3 = await startS3Server({ inProcess: true });
    await s3.createBucket('models');
    await s3.putObject('models', 'oidc/1.0.0/model.bin', model);
    await s3.putObject('models', 'oidc/1.1.0/model.bin', model);
    oidc = await FakePipelineOidc.start({ accessToken: JOB_TOKEN, connections: { 'conn-aws': 'aws-models', 'conn-other': 'someone-else' } });
    sts = await FakeSts.start({
      providers: [{ issuer: oidc.issuer, audiences: [OIDC_AUDIENCE], publicKey: oidc.publicKey }],
      roles: [{ arn: ROLE, issuer: oidc.issuer, subject: oidc.subjectOf('aws-models') }],
      accessKeyId: STS_KEY,
      secretAccessKey: STS_SECRET,
    });
    front = await startSigV4Front({
      targetPort: s3.port,
      accessKeyId: STS_KEY,
      secretAccessKey: STS_SECRET,
      checkSessionToken: (t) => sts.sessionTokenState(t),
    });
    // The SDK sends STS requests to AWS_ENDPOINT_URL_STS when it is set (its documented service endpoint variable).
    process.env.AWS_ENDPOINT_URL_STS = sts.endpoint;
  });
  after(async () => {
    if (savedStsEndpoint === undefined) delete process.env.AWS_ENDPOINT_URL_STS;
    else process.env.AWS_ENDPOINT_URL_STS = savedStsEndpoint;
    await front?.stop();
    await sts?.stop();
    await oidc?.stop();
    await s3?.stop();
  });
  beforeEach(() => {
    oidc.requests.length = 0;
    sts.calls.length = 0;
    sts.credentialLifetimeSeconds = undefined;
    oidc.lifetimeSeconds = 600;
    oidc.unavailable = 0;
  });

  const connection = (over: Partial<S3Endpoint> = {}): S3Endpoint => ({
    id: 'conn-aws',
    useOidc: true,
    roleArn: ROLE,
    oidcRequestUri: oidc.requestUri,
    systemAccessToken: JOB_TOKEN,
    endpoint: front.endpoint,
    forcePathStyle: true,
    region: 'us-east-1',
    ...over,
  });
  const storeWith = (over: Partial<S3Endpoint> = {}, secrets: string[] = []) =>
    s3StoreFor({ bucket: 'models', connection: connection(over), onSecret: (s) => secrets.push(s) });
  const failureOf = async (over: Partial<S3Endpoint>): Promise<unknown> => {
    try {
      await collect(storeWith(over).list('oidc/'));
    } catch (err) {
      return err;
    }
    assert.fail('the listing succeeded');
  };

  it('asks the OIDC endpoint for the connection, exchanges the token with STS and reads with the granted credentials', async () => {
    const secrets: string[] = [];
    const store = storeWith({}, secrets);
    assert.equal((await collect(store.list('oidc/'))).length, 2);
    assert.ok((await readAll(await store.readRange('oidc/1.1.0/model.bin', 0, model.length))).equals(model));

    assert.equal(oidc.requests.length, 1);
    const [req] = oidc.requests;
    assert.equal(req?.method, 'POST');
    assert.deepEqual(req?.query, { 'api-version': '7.1', serviceConnectionId: 'conn-aws' });
    assert.equal(req?.authorization, `Bearer ${JOB_TOKEN}`);
    assert.match(req?.contentType ?? '', /^application\/json/);

    assert.equal(sts.granted.length, 1, 'the credentials are kept while they are valid');
    const [call] = sts.granted;
    assert.equal(call?.roleArn, ROLE);
    assert.equal(call?.token, oidc.tokens[0]);
    assert.equal(call?.authorization, undefined, 'AssumeRoleWithWebIdentity is not signed');
    assert.match(call?.roleSessionName ?? '', /^[\w+=,.@-]{2,64}$/);
    assert.ok(front.sessionTokens.length >= 2 && front.sessionTokens.every((t) => t === call?.sessionToken));

    for (const s of [oidc.tokens[0], STS_SECRET, call?.sessionToken]) assert.ok(s && secrets.includes(s), 'not registered as a secret');
  });

  it('renews the credentials when the job outlives them, with a fresh OIDC token each time', async () => {
    // Credentials that expire within the SDK's refresh window are renewed before the next request.
    sts.credentialLifetimeSeconds = 120;
    const store = storeWith();
    for (let i = 0; i < 3; i++) assert.equal((await collect(store.list('oidc/'))).length, 2);
    assert.ok(sts.granted.length >= 3, `STS calls: ${sts.granted.length}`);
    assert.equal(new Set(oidc.tokens).size, oidc.tokens.length, 'each exchange used a new OIDC token');
    assert.deepEqual(
      sts.granted.map((c) => c.token),
      oidc.tokens.slice(0, sts.granted.length),
    );
    assert.equal(front.sessionTokens.at(-1), sts.granted.at(-1)?.sessionToken, 'the last request used the newest credentials');
  });

  it('asks the OIDC endpoint again when it is briefly unavailable', async () => {
    oidc.unavailable = 2;
    assert.equal((await collect(storeWith().list('oidc/'))).length, 2);
    assert.equal(oidc.requests.length, 3);
    assert.equal(sts.granted.length, 1);
  });

  it('fails in one line when the job has no OIDC endpoint', async () => {
    assert.throws(
      () => storeWith({ oidcRequestUri: undefined }),
      (err: unknown) =>
        err instanceof AuthError &&
        err.input === 's3Connection' &&
        /S3 service connection 'conn-aws' uses OIDC, but this job has no OIDC endpoint \(System\.OidcRequestUri is not set\)/.test(err.message) &&
        !err.message.includes('\n'),
    );
    assert.throws(() => storeWith({ systemAccessToken: undefined }), /OAuth token/);
    assert.throws(() => storeWith({ roleArn: undefined }), /Role to assume/);
    assert.equal(oidc.requests.length, 0);
  });

  it('says what the trust policy must allow when the role refuses the token subject', async () => {
    const err = await failureOf({ id: 'conn-other' });
    assert.ok(err instanceof AuthError, String(err));
    const message = errorMessage(err);
    assert.equal(sts.calls.at(-1)?.error, 'AccessDenied');
    assert.match(message, /AccessDenied/);
    assert.match(message, new RegExp(`role '${ROLE}'`));
    assert.ok(message.includes(`sub = sc://contoso/models/someone-else`), message);
    assert.ok(message.includes(`aud = ${OIDC_AUDIENCE}`), message);
    assert.ok(message.includes(oidc.issuer.replace('https://', '')), message);
    assert.ok(!message.includes('\n'));
    for (const t of oidc.tokens) assert.ok(!message.includes(t), 'the token is in the message');
  });

  it('says the token expired when STS finds it expired', async () => {
    oidc.lifetimeSeconds = -30;
    const err = await failureOf({});
    assert.equal(sts.calls.at(-1)?.error, 'ExpiredTokenException');
    assert.ok(err instanceof AuthError, String(err));
    assert.match(errorMessage(err), /OIDC token .*expired \(ExpiredTokenException\).*clock/);
    assert.ok(!errorMessage(err).includes('\n'));
  });

  it('says which IAM OIDC provider is missing when AWS does not know the issuer', async () => {
    const other = await FakeSts.start({ providers: [], roles: [], accessKeyId: STS_KEY, secretAccessKey: STS_SECRET });
    process.env.AWS_ENDPOINT_URL_STS = other.endpoint;
    try {
      const err = await failureOf({});
      assert.equal(other.calls.at(-1)?.error, 'InvalidIdentityToken');
      assert.match(errorMessage(err), new RegExp(`no IAM OIDC identity provider for ${oidc.issuer.replace(/[.]/g, '\\.')}.*audience ${OIDC_AUDIENCE}`));
    } finally {
      process.env.AWS_ENDPOINT_URL_STS = sts.endpoint;
      await other.stop();
    }
  });

  it('says the OIDC endpoint refused the job access token, without quoting it', async () => {
    const err = await failureOf({ systemAccessToken: 'a-stale-job-token-000111' });
    assert.ok(err instanceof AuthError, String(err));
    assert.match(errorMessage(err), /OIDC endpoint refused the job's access token \(HTTP 401\)/);
    assert.ok(!errorMessage(err).includes('a-stale-job-token-000111'));
    assert.equal(sts.calls.length, 0);
  });

  it('says when the pipeline may not use the connection', async () => {
    const err = await failureOf({ id: 'conn-unknown' });
    assert.match(errorMessage(err), /OIDC endpoint issued no token for S3 service connection 'conn-unknown' \(HTTP 400: .*not authorized/);
  });
});
