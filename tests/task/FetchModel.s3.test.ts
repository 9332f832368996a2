/**
 * FetchModel as the agent runs it against a real S3-compatible server
 * (s3rver): the extension's S3 service connection, the standard AWS
 * credential chain from the environment, selection modes, include globs,
 * secrets never printed, clear failures.
 */
import { strict as assert } from 'node:assert';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startS3Server, type TestS3Server } from '../helpers/s3server';
import { runMock, type TaskSpec } from './mock-task';

const sha = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('FetchModel task (S3, as the agent runs it)', function () {
  this.timeout(180_000);
  let s3: TestS3Server;
  let work: string;
  // A SigV4-verifying front before s3rver checks the key id and the signature made with its secret (S3RVER/S3RVER); the session token is free.
  let secretKey = '';
  const sessionToken = 'S3-SESSION-TOKEN-do-not-print-9876543210';
  const files = {
    'bert/2.0.0/config.json': Buffer.from('{"layers": 12}\n'),
    'bert/2.0.0/weights/model.safetensors': Buffer.alloc(3 * 1024 * 1024 + 17, 7),
    'bert/2.0.0/tokenizer/vocab.txt': Buffer.from('a\nb\nc\n'),
  };
  const older = Buffer.from('older model');
  const staged = Buffer.from('staging model');
  const production = Buffer.from('production model');

  before(async () => {
    s3 = await startS3Server({ verifySignatures: true });
    secretKey = s3.secretAccessKey;
    work = mkdtempSync(join(tmpdir(), 'fetchmodel-s3-task-'));
    await s3.createBucket('models');
    await s3.putObject('models', 'bert/1.0.0/config.json', older);
    for (const [k, v] of Object.entries(files)) await s3.putObject('models', k, v);
    await s3.putObject('models', 'stages/a/model.bin', production, { metadata: { stage: 'production' } });
    await sleep(1100);
    await s3.putObject('models', 'stages/b/model.bin', staged, { metadata: { stage: 'staging' } });
  });
  after(async () => {
    await s3?.stop();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  const withConnection = (inputs: Record<string, string>): TaskSpec => ({
    task: 'FetchModel',
    inputs: { provider: 's3', s3Connection: 's3conn', bucket: 'models', ...inputs },
    endpoints: {
      s3conn: {
        scheme: 'UsernamePassword',
        url: s3.endpoint,
        parameters: { username: s3.accessKeyId, password: secretKey, sessionToken },
        data: { region: 'us-east-1', forcePathStyle: 'true' },
      },
    },
  });

  it('is refused with one clear line when the connection has a wrong secret (signatures are verified)', async () => {
    const refusedBefore = s3.front?.refused.length ?? 0;
    const spec = withConnection({ modelPath: 'bert/', versionSelection: 'highestVersion', destination: join(work, 'wrong-secret') });
    const conn = spec.endpoints?.s3conn as { parameters: Record<string, string> };
    conn.parameters.password = 'not-the-secret-0123456789';
    const run = await runMock(spec);
    assert.ok(!run.succeeded);
    assert.ok(!run.message.includes('\n'), run.message);
    assert.match(run.message, /SignatureDoesNotMatch|signature/i);
    assert.ok(!run.visible.includes('not-the-secret-0123456789'), 'the secret was printed');
    assert.ok(
      (s3.front?.refused ?? []).slice(refusedBefore).some((r) => r.code === 'SignatureDoesNotMatch'),
      'the front refused no signature',
    );
    assert.equal(existsSync(join(work, 'wrong-secret')), false);
  });

  it('fetches the highest version folder through the S3 service connection, keeping its layout', async () => {
    const dest = join(work, 'bert');
    const run = await runMock(withConnection({ modelPath: 'bert/', versionSelection: 'highestVersion', destination: dest }));
    assert.ok(run.succeeded, run.stdout);
    assert.equal(run.outputs.modelVersion, '2.0.0');
    assert.equal(run.outputs.modelUri, 's3://models/bert/2.0.0/');
    const root = join(dest, '2.0.0');
    assert.equal(run.outputs.modelPath, root);
    for (const [k, v] of Object.entries(files)) assert.deepEqual(readFileSync(join(root, k.slice('bert/2.0.0/'.length))), v);
    const manifest = Object.entries(files)
      .map(([k, v]) => [k.slice('bert/2.0.0/'.length), sha(v)] as const)
      .sort(([a], [b]) => Buffer.compare(Buffer.from(a), Buffer.from(b)))
      .map(([p, h]) => `${p} ${h}\n`)
      .join('');
    assert.equal(run.outputs.modelSha256, sha(manifest));
    assert.equal(run.outputs.modelSizeBytes, String(Object.values(files).reduce((n, b) => n + b.length, 0)));
    // s3rver publishes plain-MD5 ETags: each file is verified by them.
    assert.ok(/verified: .*ETag/i.test(run.stdout), run.stdout);
    for (const secret of [secretKey, sessionToken]) {
      assert.ok(run.secrets.includes(secret), 'secret not registered');
      assert.ok(!run.visible.includes(secret), 'secret printed');
    }
  });

  it('narrows a folder model with an include glob', async () => {
    const dest = join(work, 'include');
    const run = await runMock(withConnection({ modelPath: 'bert/2.0.0/', include: '{config.json,weights/**}', destination: dest }));
    assert.ok(run.succeeded, run.stdout);
    assert.deepEqual(readdirSync(join(dest, '2.0.0')).sort(), ['config.json', 'weights']);
  });

  it('picks the newest object whose metadata matches the filter', async () => {
    const dest = join(work, 'meta');
    const run = await runMock(withConnection({ modelPath: 'stages/', versionSelection: 'metadata', metadataFilter: 'stage=production', destination: dest }));
    assert.ok(run.succeeded, run.stdout);
    assert.equal(run.outputs.modelUri, 's3://models/stages/a/');
    assert.equal(readFileSync(join(run.outputs.modelPath as string, 'model.bin'), 'utf8'), 'production model');
  });

  it('uses the standard AWS credential chain from the environment when no connection is given', async () => {
    const dest = join(work, 'env');
    const run = await runMock({
      task: 'FetchModel',
      inputs: { provider: 's3', bucket: 'models', modelPath: 'stages/b/model.bin', destination: dest },
      env: {
        AWS_ACCESS_KEY_ID: s3.accessKeyId,
        AWS_SECRET_ACCESS_KEY: s3.secretAccessKey,
        AWS_SESSION_TOKEN: 'env-session-token-xyz',
        AWS_REGION: 'us-east-1',
        AWS_ENDPOINT_URL_S3: s3.endpoint,
      },
    });
    assert.ok(run.succeeded, run.stdout);
    assert.equal(readFileSync(join(dest, 'model.bin'), 'utf8'), 'staging model');
    assert.equal(run.outputs.modelSha256, sha(staged));
    assert.ok(!run.visible.includes('env-session-token-xyz'));
  });

  it("takes S3Download's input names (aliases bucketName, regionName, targetFolder, forcePathStyleAddressing) as a YAML step gives them", async () => {
    const dest = join(work, 'aliases');
    const run = await runMock({
      task: 'FetchModel',
      inputs: {
        provider: 's3',
        bucketName: 'models',
        regionName: 'eu-west-3',
        targetFolder: dest,
        forcePathStyleAddressing: 'true',
        s3Endpoint: s3.endpoint,
        modelPath: 'stages/b/model.bin',
      },
      env: { AWS_ACCESS_KEY_ID: s3.accessKeyId, AWS_SECRET_ACCESS_KEY: s3.secretAccessKey, AWS_REGION: undefined, AWS_DEFAULT_REGION: undefined },
    });
    assert.ok(run.succeeded, run.stdout);
    assert.equal(readFileSync(join(dest, 'model.bin'), 'utf8'), 'staging model');
    assert.equal(run.outputs.modelPath, join(dest, 'model.bin'));
    // task-lib echoes what it read: the values arrived under the inputs' own names.
    assert.ok(run.stdout.includes('region=eu-west-3'), 'regionName did not reach the region input');
    assert.ok(run.stdout.includes('forcePathStyle=true'), 'forcePathStyleAddressing did not reach the forcePathStyle input');
  });

  it('fails clearly on a bucket that does not exist, leaving nothing behind', async () => {
    const dest = join(work, 'nobucket');
    const run = await runMock(withConnection({ bucket: 'no-such-bucket', modelPath: 'bert/', destination: dest }));
    assert.ok(!run.succeeded);
    assert.match(run.message, /no-such-bucket/);
    assert.ok(!run.message.startsWith('Unexpected'), run.message);
    assert.deepEqual(existsSync(dest) ? readdirSync(dest) : [], []);
  });

  it('fails clearly when no object matches the metadata filter', async () => {
    const run = await runMock(
      withConnection({ modelPath: 'stages/', versionSelection: 'metadata', metadataFilter: 'stage=archived', destination: join(work, 'nomatch') }),
    );
    assert.ok(!run.succeeded);
    assert.match(run.message, /stage=archived/);
  });

  it('fails on a wrong expectedSha256, leaving nothing behind', async () => {
    const dest = join(work, 'badsha');
    const run = await runMock(withConnection({ modelPath: 'stages/b/model.bin', expectedSha256: sha('something else'), destination: dest }));
    assert.ok(!run.succeeded);
    assert.match(run.message, /mismatch/i);
    assert.deepEqual(existsSync(dest) ? readdirSync(dest) : [], []);
  });
});
