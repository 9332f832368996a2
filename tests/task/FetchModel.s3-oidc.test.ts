/**
 * FetchModel as the agent runs it with an S3 service connection that uses
 * OIDC (useOIDC): the task asks the job's OIDC endpoint (System.OidcRequestUri,
 * with the job's access token) for a token, exchanges it with STS
 * AssumeRoleWithWebIdentity for the connection's role and reads the bucket
 * with the granted credentials. Fakes of the OIDC endpoint and of STS on
 * 127.0.0.1 (tests/helpers/fake-pipeline-oidc.ts, fake-sts.ts); s3rver behind
 * a SigV4 front that accepts only the granted session tokens. The token, the
 * job's access token and the granted credentials are registered as secrets
 * and never printed; failures are one line.
 */
import { strict as assert } from 'node:assert';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FakePipelineOidc, OIDC_AUDIENCE } from '../helpers/fake-pipeline-oidc';
import { FakeSts } from '../helpers/fake-sts';
import { startS3Server, type TestS3Server } from '../helpers/s3server';
import { startSigV4Front, type SigV4Front } from '../helpers/sigv4-front';
import { runMock, type TaskSpec } from './mock-task';

const ROLE = 'arn:aws:iam::123456789012:role/model-reader';
const JOB_TOKEN = 'job-access-token-task-oidc-5b7e21';
const STS_SECRET = 'sts-granted-secret-for-task-9a8b7c6d';

describe('FetchModel task (S3 with OIDC, as the agent runs it)', function () {
  this.timeout(180_000);
  let s3: TestS3Server;
  let front: SigV4Front;
  let oidc: FakePipelineOidc;
  let sts: FakeSts;
  let work: string;
  const model = Buffer.from('a model fetched with workload identity federation');

  before(async () => {
    s3 = await startS3Server();
    await s3.createBucket('models');
    await s3.putObject('models', 'fed/2.0.0/model.onnx', model);
    oidc = await FakePipelineOidc.start({ accessToken: JOB_TOKEN, connections: { 'aws-oidc': 'aws-models', 'aws-other': 'not-trusted' } });
    sts = await FakeSts.start({
      providers: [{ issuer: oidc.issuer, audiences: [OIDC_AUDIENCE], publicKey: oidc.publicKey }],
      roles: [{ arn: ROLE, issuer: oidc.issuer, subject: oidc.subjectOf('aws-models') }],
      accessKeyId: s3.accessKeyId,
      secretAccessKey: STS_SECRET,
    });
    front = await startSigV4Front({
      targetPort: s3.port,
      accessKeyId: s3.accessKeyId,
      secretAccessKey: STS_SECRET,
      checkSessionToken: (t) => sts.sessionTokenState(t),
    });
    work = mkdtempSync(join(tmpdir(), 'fetchmodel-oidc-'));
  });
  after(async () => {
    await front?.stop();
    await sts?.stop();
    await oidc?.stop();
    await s3?.stop();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  const spec = (connection: string, destination: string, variables: Record<string, string> = { 'System.OidcRequestUri': oidc.requestUri }): TaskSpec => ({
    task: 'FetchModel',
    inputs: { provider: 's3', s3Connection: connection, bucket: 'models', modelPath: 'fed/', versionSelection: 'highestVersion', destination },
    endpoints: {
      [connection]: {
        scheme: 'UsernamePassword',
        url: front.endpoint,
        parameters: { useOIDC: 'true', assumeRoleArn: ROLE },
        data: { region: 'us-east-1', forcePathStyle: 'true' },
      },
      SYSTEMVSSCONNECTION: { scheme: 'OAuth', parameters: { AccessToken: JOB_TOKEN } },
    },
    variables,
    // The SDK sends STS requests to AWS_ENDPOINT_URL_STS (its documented service endpoint variable).
    env: { AWS_ENDPOINT_URL_STS: sts.endpoint },
  });

  it('fetches the model with credentials STS granted for the OIDC token, masking the token and the credentials', async () => {
    const dest = join(work, 'ok');
    const run = await runMock(spec('aws-oidc', dest));
    assert.ok(run.succeeded, run.stdout);
    assert.equal(run.outputs.modelVersion, '2.0.0');
    assert.deepEqual(readFileSync(join(dest, '2.0.0', 'model.onnx')), model);
    assert.equal(oidc.requests.at(-1)?.query.serviceConnectionId, 'aws-oidc');
    const granted = sts.granted.at(-1);
    assert.equal(granted?.token, oidc.tokens.at(-1));
    assert.ok(front.sessionTokens.length > 0 && front.sessionTokens.every((t) => t === granted?.sessionToken));
    for (const secret of [JOB_TOKEN, oidc.tokens.at(-1), STS_SECRET, granted?.sessionToken]) {
      assert.ok(secret && run.secrets.includes(secret), 'a credential was not registered as a secret');
      assert.ok(!run.visible.includes(secret) && !run.stderr.includes(secret), 'a credential was printed');
    }
  });

  it('fails in one line naming s3Connection when the job has no OIDC endpoint', async () => {
    const before = oidc.requests.length;
    const run = await runMock(spec('aws-oidc', join(work, 'no-endpoint'), {}));
    assert.equal(run.result, 'Failed');
    assert.ok(!run.message.includes('\n'), run.message);
    assert.match(run.message, /s3Connection.*uses OIDC, but this job has no OIDC endpoint \(System\.OidcRequestUri is not set\)/);
    assert.equal(oidc.requests.length, before);
  });

  it('fails in one line saying what the trust policy must allow when the role refuses the connection', async () => {
    const run = await runMock(spec('aws-other', join(work, 'refused')));
    assert.equal(run.result, 'Failed');
    assert.equal(sts.calls.at(-1)?.error, 'AccessDenied');
    assert.ok(!run.message.includes('\n'), run.message);
    assert.match(run.message, /AccessDenied.*trust policy must allow sts:AssumeRoleWithWebIdentity.*:sub = sc:\/\/contoso\/models\/not-trusted/);
    const token = oidc.tokens.at(-1);
    assert.ok(token && !run.visible.includes(token) && !run.stderr.includes(token));
  });
});
