/**
 * The shared building blocks every task relies on: which failures are
 * transient, backoff with retries, progress throttling and formatting, and
 * the Azure credential chosen for each service connection scheme.
 */
import { strict as assert } from 'node:assert';
import sinon from 'sinon';
import { AzurePipelinesCredential, ClientCertificateCredential, ClientSecretCredential, ManagedIdentityCredential } from '@azure/identity';
import { backoffDelay, httpStatusOf, isTransientError, withRetry } from '../../../shared/retry';
import { ProgressMeter, type ProgressUpdate } from '../../../shared/progress';
import { formatBytes, formatDuration, formatRate } from '../../../shared/format';
import { azureCredentialFor, blobEndpointFor, authorityHostOf } from '../../../shared/azure/credential';
import { AuthError, RetryableError, UserError } from '../../../shared/errors';

describe('retry', () => {
  const table: Array<[string, unknown, boolean]> = [
    ['HTTP 503 (our clients)', { statusCode: 503 }, true],
    ['HTTP 429 (fetch-like)', { status: 429 }, true],
    ['HTTP 500 (AWS SDK)', { $metadata: { httpStatusCode: 500 } }, true],
    ['HTTP 408', { statusCode: 408 }, true],
    ['HTTP 501', { statusCode: 501 }, false],
    ['HTTP 404', { statusCode: 404 }, false],
    ['HTTP 403', { $metadata: { httpStatusCode: 403 } }, false],
    ['ECONNRESET', Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' }), true],
    ['socket hang up', new Error('socket hang up'), true],
    ['S3 SlowDown by name', { name: 'SlowDown' }, true],
    ['cause chain', Object.assign(new Error('wrapped'), { cause: { code: 'ETIMEDOUT' } }), true],
    ['an error marked transient: false despite its 503', { statusCode: 503, transient: false }, false],
    ['a plain error', new Error('bad input'), false],
    ['not an object', 'boom', false],
  ];
  for (const [name, err, expected] of table) {
    it(`classifies ${name} as ${expected ? 'transient' : 'permanent'}`, () => assert.equal(isTransientError(err), expected));
  }

  it('classifies our own errors by their typed fields', () => {
    assert.equal(isTransientError(new RetryableError('no body')), true);
    assert.equal(isTransientError(new RetryableError('HTTP 503', { statusCode: 503 })), true);
    assert.equal(isTransientError(new RetryableError('HTTP 404', { statusCode: 404 })), false);
    assert.equal(isTransientError(new RetryableError('socket hang up while writing', { transient: false })), false);
    assert.equal(isTransientError(new UserError('registry busy', { code: 'RegistryError', statusCode: 503, transient: true })), true);
    assert.equal(isTransientError(new UserError('registry said no', { code: 'RegistryError', statusCode: 503, transient: false })), false);
    assert.equal(new RetryableError('x', { statusCode: 429, retryAfterMs: 2000 }).retryAfterMs, 2000);
  });

  it('reads the HTTP status of every client shape', () => {
    assert.equal(httpStatusOf({ response: { status: 502 } }), 502);
    assert.equal(httpStatusOf(null), undefined);
  });

  it('backs off exponentially with jitter, capped', () => {
    assert.equal(
      backoffDelay(1, 500, 15_000, () => 0),
      250,
    );
    assert.equal(
      backoffDelay(1, 500, 15_000, () => 1),
      500,
    );
    assert.equal(
      backoffDelay(3, 500, 15_000, () => 1),
      2000,
    );
    assert.equal(
      backoffDelay(20, 500, 15_000, () => 1),
      15_000,
    );
  });

  it('retries transient failures, reporting each retry, then succeeds', async () => {
    const fn = sinon.stub();
    fn.onCall(0).rejects({ statusCode: 503 });
    fn.onCall(1).rejects(Object.assign(new Error('reset'), { code: 'ECONNRESET' }));
    fn.onCall(2).resolves('done');
    const onRetry = sinon.spy();
    const sleep = sinon.stub().resolves();
    assert.equal(await withRetry(fn, { retries: 5, onRetry, sleep, random: () => 1 }), 'done');
    assert.equal(fn.callCount, 3);
    assert.deepEqual(
      fn.args.map((a) => a[0]),
      [0, 1, 2],
    );
    assert.deepEqual(
      onRetry.args.map((a) => [a[1], a[2]]),
      [
        [1, 500],
        [2, 1000],
      ],
    );
    assert.equal(sleep.callCount, 2);
  });

  it('does not retry a permanent failure, and gives up after the retries', async () => {
    const permanent = sinon.stub().rejects({ statusCode: 404 });
    await assert.rejects(withRetry(permanent, { sleep: async () => {} }), { statusCode: 404 });
    assert.equal(permanent.callCount, 1);
    const flaky = sinon.stub().rejects({ statusCode: 503 });
    await assert.rejects(withRetry(flaky, { retries: 2, sleep: async () => {} }), { statusCode: 503 });
    assert.equal(flaky.callCount, 3);
  });

  it('stops waiting for the next attempt when its signal aborts (deadline, cancel)', async () => {
    const controller = new AbortController();
    const flaky = sinon.stub().rejects({ statusCode: 503 });
    const started = Date.now();
    setTimeout(() => controller.abort(new Error('deadline')), 50);
    await assert.rejects(withRetry(flaky, { retries: 5, baseDelayMs: 10_000, maxDelayMs: 10_000, signal: controller.signal }), /deadline/);
    assert.ok(Date.now() - started < 2_000, `waited ${Date.now() - started} ms`);
    assert.equal(flaky.callCount, 1);
  });
});

describe('progress', () => {
  let clock: sinon.SinonFakeTimers;
  beforeEach(() => {
    clock = sinon.useFakeTimers({ now: 1_000_000 });
  });
  afterEach(() => clock.restore());

  it('emits at most once per interval with bytes, percent, MB/s and ETA, then a final line', () => {
    const updates: ProgressUpdate[] = [];
    const meter = new ProgressMeter({ label: 'Downloading x', total: 100e6, sink: (u) => updates.push(u), intervalMs: 2000 });
    meter.add(10e6);
    clock.tick(1000);
    meter.add(10e6);
    assert.equal(updates.length, 0, 'throttled');
    clock.tick(1000);
    meter.add(20e6);
    assert.equal(updates.length, 1);
    const u = updates[0] as ProgressUpdate;
    assert.equal(u.percent, 40);
    assert.equal(u.bytesPerSecond, 20e6);
    assert.equal(u.etaSeconds, 3);
    assert.equal(u.line, 'Downloading x: 38.1 MiB of 95.4 MiB (40%), 20.0 MB/s, ETA 3s');
    clock.tick(3000);
    meter.add(60e6);
    const last = meter.finish();
    meter.finish();
    assert.equal(updates.length, 3, 'one final update, once');
    assert.ok(last.done);
    assert.equal(last.line, 'Downloading x: 95.4 MiB of 95.4 MiB (100%), 20.0 MB/s, 5s');
  });

  it('formats sizes, rates and durations', () => {
    assert.equal(formatBytes(0), '0 B');
    assert.equal(formatBytes(1536), '1.5 KiB');
    assert.equal(formatBytes(5 * 1024 ** 3), '5.0 GiB');
    assert.equal(formatBytes(-1), '?');
    assert.equal(formatRate(123.45e6), '123.5 MB/s');
    assert.equal(formatDuration(59), '59s');
    assert.equal(formatDuration(61), '1m01s');
    assert.equal(formatDuration(3725), '1h02m');
  });
});

describe('Azure credentials per service connection scheme', () => {
  afterEach(() => sinon.restore());

  it('service principal with a secret or a certificate, in the connection cloud', () => {
    const secret = azureCredentialFor({ id: 'c', scheme: 'ServicePrincipal', tenantId: 't', clientId: 'a', clientSecret: 's', environment: 'AzureChinaCloud' });
    assert.ok(secret instanceof ClientSecretCredential);
    const pem = '-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n';
    assert.ok(
      azureCredentialFor({ id: 'c', scheme: 'ServicePrincipal', tenantId: 't', clientId: 'a', certificatePem: pem }) instanceof ClientCertificateCredential,
    );
    assert.equal(authorityHostOf({ environment: 'AzureChinaCloud' }), 'https://login.chinacloudapi.cn');
    assert.equal(authorityHostOf({ environment: 'AzureCloud', authorityHost: 'https://login.example.test/' }), 'https://login.example.test');
    assert.equal(blobEndpointFor('acct', 'AzureUSGovernment'), 'https://acct.blob.core.usgovcloudapi.net');
  });

  it('workload identity federation asks the pipeline for OIDC tokens, and explains what is missing', () => {
    sinon.stub(process, 'env').value({ ...process.env, SYSTEM_OIDCREQUESTURI: 'https://dev.azure.test/oidc' });
    assert.ok(
      azureCredentialFor({ id: 'c', scheme: 'WorkloadIdentityFederation', tenantId: 't', clientId: 'a', systemAccessToken: 'job' }) instanceof
        AzurePipelinesCredential,
    );
    assert.throws(
      () => azureCredentialFor({ id: 'c', scheme: 'WorkloadIdentityFederation', tenantId: 't', clientId: 'a' }),
      (e: unknown) => e instanceof AuthError && /access token/.test(e.message),
    );
    sinon.stub(process, 'env').value({});
    assert.throws(
      () => azureCredentialFor({ id: 'c', scheme: 'WorkloadIdentityFederation', tenantId: 't', clientId: 'a', systemAccessToken: 'job' }),
      /SYSTEM_OIDCREQUESTURI/,
    );
  });

  it('managed identity, system or user assigned; incomplete records are AuthErrors', () => {
    assert.ok(azureCredentialFor({ id: 'c', scheme: 'ManagedServiceIdentity' }) instanceof ManagedIdentityCredential);
    assert.ok(azureCredentialFor({ id: 'c', scheme: 'ManagedServiceIdentity', clientId: 'user-assigned' }) instanceof ManagedIdentityCredential);
    assert.throws(
      () => azureCredentialFor({ id: 'c', scheme: 'ServicePrincipal', tenantId: 't', clientId: 'a' }),
      (e: unknown) => e instanceof AuthError && /'c'/.test(e.message),
    );
  });
});
