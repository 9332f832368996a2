/**
 * FetchModel as the agent runs it (runMock, the real bundle)
 * against a real Azurite: inputs, Azure service connection parsing, secrets
 * never printed, and one-line failures for bad input.
 */
import { strict as assert } from 'node:assert';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BlobServiceClient } from '@azure/storage-blob';
import { execFileSync } from 'node:child_process';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { startAzurite, type TestAzurite } from '../helpers/azurite';
import { runMock, type MockRun, summaryOf } from './mock-task';

const sha = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');

describe('FetchModel task (Azure Blob Storage, as the agent runs it)', function () {
  this.timeout(180_000);
  let azurite: TestAzurite;
  let work: string;
  const v14 = Buffer.from('weights of version 1.4.0\n'.repeat(1000));
  const v110 = Buffer.from('weights of version 1.10.0\n'.repeat(1000));
  const single = Buffer.from('a single-file model\n'.repeat(5000));

  before(async () => {
    azurite = await startAzurite();
    work = mkdtempSync(join(tmpdir(), 'fetchmodel-task-'));
    const service = BlobServiceClient.fromConnectionString(azurite.connectionString);
    const container = service.getContainerClient('models');
    await container.create();
    await container.getBlockBlobClient('resnet/1.4.0/model.bin').uploadData(v14);
    await container.getBlockBlobClient('resnet/1.10.0/model.bin').uploadData(v110);
    await container.getBlockBlobClient('resnet/notes/README.md').uploadData(Buffer.from('not a version'));
    await container.getBlockBlobClient('single/model.onnx').uploadData(single, { metadata: { sha256: sha(single) } });
    // Staged blocks: the service keeps no Content-MD5 for the whole blob, so nothing can verify it.
    const unverified = container.getBlockBlobClient('blocks/model.bin');
    await unverified.stageBlock(Buffer.from('000').toString('base64'), Buffer.from('part one,'), 9);
    await unverified.stageBlock(Buffer.from('001').toString('base64'), Buffer.from('part two'), 8);
    await unverified.commitBlockList([Buffer.from('000').toString('base64'), Buffer.from('001').toString('base64')]);
    // Archives: a good one and one with an entry escaping the destination.
    const src = join(work, 'archive-src');
    mkdirSync(join(src, 'weights'), { recursive: true });
    writeFileSync(join(src, 'config.json'), '{}');
    writeFileSync(join(src, 'weights', 'w.bin'), 'weights');
    execFileSync('tar', ['-czf', join(work, 'model.tar.gz'), '-C', src, 'config.json', 'weights']);
    await container.getBlockBlobClient('archives/model.tar.gz').uploadFile(join(work, 'model.tar.gz'));
    const evil = join(work, 'evil');
    mkdirSync(evil);
    symlinkSync('/etc', join(evil, 'escape'));
    execFileSync('tar', ['-cf', join(work, 'evil.tar'), '-C', evil, 'escape']);
    await container.getBlockBlobClient('archives/evil.tar').uploadFile(join(work, 'evil.tar'));
  });
  after(async () => {
    await azurite?.stop();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  const azureInputs = (extra: Record<string, string>) => ({
    provider: 'azureBlob',
    authType: 'connectionString',
    connectionString: azurite.connectionString,
    container: 'models',
    ...extra,
  });

  function assertNoSecret(run: MockRun): void {
    assert.ok(!run.visible.includes(azurite.accountKey), 'the account key appears in the task output');
    assert.ok(!run.visible.includes(azurite.connectionString), 'the connection string appears in the task output');
  }

  it('fetches the highest version folder with a connection string and sets every output', async () => {
    const dest = join(work, 'highest');
    const run = await runMock({
      task: 'FetchModel',
      inputs: azureInputs({ modelPath: 'resnet/', versionSelection: 'highestVersion', destination: dest }),
    });
    assert.ok(run.succeeded, run.stdout);
    assert.equal(run.outputs.modelVersion, '1.10.0');
    assert.equal(run.outputs.modelPath, join(dest, '1.10.0'));
    assert.equal(run.outputs.modelUri, `${azurite.blobEndpoint}/models/resnet/1.10.0/`);
    assert.equal(run.outputs.modelSizeBytes, String(v110.length));
    const manifest = `model.bin ${sha(v110)}\n`;
    assert.equal(run.outputs.modelSha256, sha(manifest));
    assert.deepEqual(readFileSync(join(dest, '1.10.0', 'model.bin')), v110);
    assert.ok(run.stdout.includes('Summary'), 'no summary in the log');
    assert.ok(run.secrets.includes(azurite.connectionString), 'the connection string was not registered as a secret');
    const accountKey = /AccountKey=([^;]+)/.exec(azurite.connectionString)?.[1] as string;
    assert.ok(run.secrets.includes(accountKey), 'the AccountKey was not registered on its own');
    assertNoSecret(run);
  });

  it('fetches an exact blob, verifies it against its sha256 metadata, then skips the second download', async () => {
    const dest = join(work, 'single');
    const inputs = azureInputs({ modelPath: 'single/model.onnx', destination: dest, requireChecksum: 'true' });
    const first = await runMock({ task: 'FetchModel', inputs });
    assert.ok(first.succeeded, first.stdout);
    assert.equal(first.outputs.modelSha256, sha(single));
    assert.equal(first.outputs.modelPath, join(dest, 'model.onnx'));
    assert.ok(/verified: .*sha256 metadata/.test(first.stdout), first.stdout);
    const summary = summaryOf(first, 'Model (FetchModel)');
    assert.ok(summary.includes(`| **sha256** | \`${sha(single)}\` |`), summary);
    assert.match(summary, /\| \*\*Verified\*\* \| [^|]*sha256 metadata[^|]* \|/);
    assert.match(summary, /\| \*\*Download\*\* \| [\d.]+ s, [\d.]+ MB\/s \|/);
    assert.ok(summary.includes('| **Cache** | miss |'));
    const second = await runMock({ task: 'FetchModel', inputs });
    assert.ok(second.succeeded, second.stdout);
    assert.ok(second.stdout.includes('download skipped'), second.stdout);
    assert.equal(second.outputs.modelSha256, sha(single));
    assert.ok(summaryOf(second, 'Model (FetchModel)').includes('| **Cache** | **hit** |'));
  });

  const failures: Array<{ name: string; inputs: Record<string, string>; expect: RegExp }> = [
    { name: 'a container that does not exist', inputs: { modelPath: 'resnet/', container: 'nosuchcontainer' }, expect: /nosuchcontainer/ },
    { name: 'a prefix with no objects', inputs: { modelPath: 'nothing-here/' }, expect: /nothing-here/ },
    { name: 'a pinned version that is absent', inputs: { modelPath: 'resnet/', versionSelection: 'pinned', version: '9.9.9' }, expect: /9\.9\.9/ },
    { name: 'an invalid expectedSha256', inputs: { modelPath: 'single/model.onnx', expectedSha256: 'abc' }, expect: /expectedSha256/ },
    { name: 'an invalid include glob', inputs: { modelPath: 'resnet/', include: '[' }, expect: /include/ },
    { name: 'an invalid block size', inputs: { modelPath: 'resnet/', blockSizeMiB: 'lots' }, expect: /blockSizeMiB/ },
    {
      name: 'a metadata filter with bad syntax',
      inputs: { modelPath: 'resnet/', versionSelection: 'metadata', metadataFilter: 'stage' },
      expect: /metadataFilter/,
    },
    { name: 'an invalid connection string', inputs: { modelPath: 'resnet/', connectionString: 'this is not one' }, expect: /connectionString/ },
  ];
  for (const f of failures) {
    it(`fails with one clear sentence on ${f.name}`, async () => {
      const dest = join(work, `fail-${f.name.replace(/\W+/g, '-')}`);
      const run = await runMock({ task: 'FetchModel', inputs: { ...azureInputs({ destination: dest }), ...f.inputs } });
      assert.ok(!run.succeeded, run.stdout);
      assert.match(run.message, f.expect);
      assert.ok(!run.message.includes('\n') && !/^\s+at /m.test(run.visible), `not a one-line failure: ${run.stdout}`);
      assert.ok(!run.message.startsWith('Unexpected error'), run.message);
      if (existsSync(dest))
        assert.deepEqual(
          readdirSync(dest).filter((n) => !n.startsWith('.')),
          [],
        );
      assertNoSecret(run);
    });
  }

  it('fails on a checksum mismatch and leaves nothing at the destination', async () => {
    const dest = join(work, 'mismatch');
    const run = await runMock({
      task: 'FetchModel',
      inputs: azureInputs({ modelPath: 'single/model.onnx', destination: dest, expectedSha256: 'a'.repeat(64) }),
    });
    assert.ok(!run.succeeded);
    assert.match(run.message, /mismatch/i);
    assert.deepEqual(existsSync(dest) ? readdirSync(dest) : [], []);
  });

  it('warns about an unverifiable model, and fails on it when requireChecksum is true', async () => {
    const warned = await runMock({ task: 'FetchModel', inputs: azureInputs({ modelPath: 'blocks/model.bin', destination: join(work, 'unverified') }) });
    assert.ok(warned.succeeded, warned.stdout);
    // Nothing verified what the user relies on: the step says so in its result, not only in a warning line.
    assert.equal(warned.result, 'SucceededWithIssues', warned.message);
    assert.match(warned.message, /unverified/);
    assert.ok(warned.stdout.includes('##vso[task.issue type=warning') && warned.stdout.includes('unverified'), warned.stdout);
    assert.equal(readFileSync(join(work, 'unverified', 'model.bin'), 'utf8'), 'part one,part two');
    const dest = join(work, 'required');
    const failed = await runMock({ task: 'FetchModel', inputs: azureInputs({ modelPath: 'blocks/model.bin', destination: dest, requireChecksum: 'true' }) });
    assert.ok(!failed.succeeded);
    assert.match(failed.message, /requireChecksum/);
    assert.deepEqual(existsSync(dest) ? readdirSync(dest) : [], []);
  });

  it('extracts a .tar.gz model into the destination', async () => {
    const dest = join(work, 'extract');
    const run = await runMock({ task: 'FetchModel', inputs: azureInputs({ modelPath: 'archives/model.tar.gz', destination: dest, extract: 'true' }) });
    assert.ok(run.succeeded, run.stdout);
    assert.equal(run.outputs.modelPath, join(dest, 'model'));
    assert.equal(readFileSync(join(dest, 'model', 'weights', 'w.bin'), 'utf8'), 'weights');
    assert.equal(run.outputs.modelSha256, sha(readFileSync(join(work, 'model.tar.gz'))));
    // Same archive again: skipped. An edited extracted file is noticed and the model fetched again.
    const again = await runMock({ task: 'FetchModel', inputs: azureInputs({ modelPath: 'archives/model.tar.gz', destination: dest, extract: 'true' }) });
    assert.ok(again.succeeded && again.stdout.includes('download skipped'), again.stdout);
    writeFileSync(join(dest, 'model', 'weights', 'w.bin'), 'tampered');
    const repaired = await runMock({ task: 'FetchModel', inputs: azureInputs({ modelPath: 'archives/model.tar.gz', destination: dest, extract: 'true' }) });
    assert.ok(repaired.succeeded && !repaired.stdout.includes('download skipped'), repaired.stdout);
    assert.equal(readFileSync(join(dest, 'model', 'weights', 'w.bin'), 'utf8'), 'weights');
  });

  it('refuses an archive whose entries escape the destination, leaving nothing behind', async () => {
    const dest = join(work, 'evil-dest');
    const run = await runMock({ task: 'FetchModel', inputs: azureInputs({ modelPath: 'archives/evil.tar', destination: dest, extract: 'true' }) });
    assert.ok(!run.succeeded);
    assert.match(run.message, /escape/);
    assert.deepEqual(existsSync(dest) ? readdirSync(dest) : [], []);
  });

  // Issue 9: a connection string's AccountKey and SAS sig are registered on their own, so the agent
  // masks them wherever they appear alone. runMock's secret scan checks the output for those pieces on
  // every run; these runs (system.debug on: debug lines, stacks) also check the registration itself.
  describe('connection string secrets in their pieces (system.debug on)', () => {
    const debugRun = (inputs: Record<string, string>) =>
      runMock({
        task: 'FetchModel',
        inputs: { ...azureInputs({ destination: join(work, `pieces-${Math.random().toString(36).slice(2)}`) }), ...inputs },
        variables: { 'system.debug': 'true' },
      });

    it('registers the AccountKey on its own', async () => {
      const ok = await debugRun({ modelPath: 'single/model.onnx' });
      assert.ok(ok.succeeded, ok.stdout);
      const refused = await debugRun({
        modelPath: 'single/model.onnx',
        connectionString: azurite.connectionString.replace(azurite.accountKey, Buffer.from('k'.repeat(64)).toString('base64')),
      });
      assert.ok(!refused.succeeded);
      for (const run of [ok, refused])
        assert.ok(
          run.secrets.some((s) => !s.includes(';') && s.includes(run === ok ? azurite.accountKey : Buffer.from('k'.repeat(64)).toString('base64'))),
          `AccountKey not registered alone: ${run.secrets.join(' | ')}`,
        );
    });

    it('registers the SharedAccessSignature and its sig on their own', async () => {
      const sig = encodeURIComponent(Buffer.from('s'.repeat(32)).toString('base64'));
      const run = await debugRun({
        modelPath: 'single/model.onnx',
        connectionString: `BlobEndpoint=${azurite.blobEndpoint};SharedAccessSignature=sv=2022-11-02&ss=b&srt=co&sp=rl&se=2099-01-01T00:00:00Z&sig=${sig}`,
      });
      assert.ok(!run.succeeded, 'a made-up signature must be refused');
      assert.ok(run.secrets.includes(sig) || run.secrets.includes(decodeURIComponent(sig)), `sig not registered alone: ${run.secrets.join(' | ')}`);
    });
  });

  describe('Azure Resource Manager service connections', () => {
    const arm = (scheme: string, parameters: Record<string, string>, data: Record<string, string> = {}) => ({
      task: 'FetchModel',
      inputs: {
        provider: 'azureBlob',
        authType: 'serviceConnection',
        azureSubscription: 'arm1',
        storageAccount: 'contosomodels',
        container: 'models',
        modelPath: 'resnet/',
        destination: join(work, 'arm'),
      },
      endpoints: { arm1: { scheme, parameters, data: { subscriptionid: 'sub', environment: 'AzureCloud', ...data } } },
    });

    it('rejects an unsupported scheme naming the connection', async () => {
      const run = await runMock(arm('UsernamePassword', { username: 'u', password: 'p' }));
      assert.ok(!run.succeeded);
      assert.match(run.message, /arm1.*not supported/);
    });

    it('reports a service principal without its secret', async () => {
      const run = await runMock(arm('ServicePrincipal', { serviceprincipalid: 'app', tenantid: 'tenant' }));
      assert.ok(!run.succeeded);
      assert.match(run.message, /arm1.*(secret|certificate)/);
    });

    it('registers the service principal secret and never prints it', async () => {
      const secret = 'sp-secret-value-0123456789';
      // Entra ID cannot run here: the authority points at a closed loopback port, so sign-in fails at once and must fail cleanly.
      const run = await runMock(
        arm(
          'ServicePrincipal',
          { serviceprincipalid: 'app', tenantid: '72f988bf-86f1-41af-91ab-2d7cd011db47', serviceprincipalkey: secret },
          { activeDirectoryAuthority: 'https://127.0.0.1:9/' },
        ),
      );
      assert.ok(!run.succeeded);
      assert.ok(run.secrets.includes(secret));
      assert.ok(!run.visible.includes(secret), 'secret printed');
      assert.ok(!run.message.startsWith('Unexpected error'), run.message);
    });

    it('explains what workload identity federation needs when the job has no OIDC endpoint', async () => {
      const spec = arm('WorkloadIdentityFederation', { serviceprincipalid: 'app', tenantid: 'tenant' });
      const run = await runMock({
        ...spec,
        endpoints: { ...spec.endpoints, SYSTEMVSSCONNECTION: { scheme: 'OAuth', parameters: { AccessToken: 'job-token-123' } } },
      });
      assert.ok(!run.succeeded);
      assert.match(run.message, /SYSTEM_OIDCREQUESTURI/);
      assert.ok(!run.visible.includes('job-token-123'));
    });

    it('accepts a managed identity connection: asks the identity endpoint for a storage token, and fails cleanly when it refuses', async () => {
      // An App Service style identity endpoint (IDENTITY_ENDPOINT/IDENTITY_HEADER, as the Azure SDK reads them) that records and refuses.
      const asked: Array<{ method?: string; url?: string; header?: string | string[] }> = [];
      const identity = http.createServer((req, res) => {
        req.resume();
        asked.push({ method: req.method, url: req.url, header: req.headers['x-identity-header'] });
        res.writeHead(400, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: 'invalid_request', error_description: 'No managed identity is assigned to this resource.' }));
      });
      await new Promise<void>((resolve) => identity.listen(0, '127.0.0.1', resolve));
      const endpoint = `http://127.0.0.1:${(identity.address() as AddressInfo).port}/token`;
      try {
        const run = await runMock({
          ...arm('ManagedServiceIdentity', { tenantid: 'tenant' }),
          env: { IDENTITY_ENDPOINT: endpoint, IDENTITY_HEADER: 'identity-header-value', MSI_ENDPOINT: endpoint, MSI_SECRET: 'identity-header-value' },
        });
        assert.ok(!run.succeeded);
        assert.ok(!run.message.startsWith('Unexpected error'), run.message);
        assert.match(run.message, /'arm1' \(ManagedServiceIdentity\).*No managed identity is assigned/);
        assert.ok(asked.length >= 1, `the identity endpoint was not asked: ${run.message}`);
        const first = asked[0] as { method?: string; url?: string; header?: string };
        assert.equal(first.method, 'GET');
        assert.equal(first.header, 'identity-header-value');
        const url = new URL(first.url as string, endpoint);
        assert.equal(url.pathname, '/token');
        assert.equal(url.searchParams.get('resource'), 'https://storage.azure.com');
      } finally {
        identity.close();
      }
    });
  });
});
