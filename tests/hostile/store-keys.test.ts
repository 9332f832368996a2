/**
 * FetchModel (the real bundle, run as the agent runs it) against a
 * hostile S3 that lists keys real S3 accepts but no local path may come
 * from, plus `modelPath` inputs with `..` on S3 and Blob (Azurite). Each
 * case: the task fails with one line naming the key (or the input) and the
 * bucket, nothing is written outside `destination`, and the destination's
 * parent and its siblings are untouched.
 */
import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { BlobServiceClient } from '@azure/storage-blob';
import { UserError } from '../../shared/errors';
import { azureBlobStoreFromConnectionString } from '../../shared/storage/azure-blob';
import { startAzurite, type TestAzurite } from '../helpers/azurite';
import { startHostileS3, type HostileS3 } from '../helpers/hostile-s3';
import { runMock, type MockRun, type TaskSpec } from '../task/mock-task';

/** Every path under `root` (relative, with file contents), skipping `skip`. */
function snapshot(root: string, skip: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (dir: string): void => {
    for (const name of readdirSync(dir)) {
      const p = join(dir, name);
      if (p === skip) continue;
      const s = statSync(p);
      if (s.isDirectory()) {
        out[`${relative(root, p)}/`] = '';
        walk(p);
      } else {
        out[relative(root, p)] = readFileSync(p, 'utf8');
      }
    }
  };
  walk(root);
  return out;
}

describe('hostile store keys: FetchModel never writes outside its destination', function () {
  this.timeout(180_000);
  let s3: HostileS3;
  let work: string;

  before(async () => {
    s3 = await startHostileS3();
    work = mkdtempSync(join(tmpdir(), 'hostile-keys-'));
  });
  after(async () => {
    await s3?.stop();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  const spec = (inputs: Record<string, string>): TaskSpec => ({
    task: 'FetchModel',
    inputs: { provider: 's3', s3Connection: 'hostile', bucket: 'hostile', ...inputs },
    endpoints: {
      hostile: {
        scheme: 'UsernamePassword',
        url: s3.endpoint,
        parameters: { username: 'AKIDHOSTILE', password: 'hostile-secret-key-0123456789' },
        data: { region: 'us-east-1', forcePathStyle: 'true' },
      },
    },
  });

  /** A fresh tree work/<name>/outer/mid/dest with a sibling file at each level. */
  function tree(name: string): { root: string; dest: string } {
    const root = join(work, name);
    const dest = join(root, 'outer', 'mid', 'dest');
    mkdirSync(dest, { recursive: true });
    writeFileSync(join(root, 'sibling.txt'), 'root sibling');
    writeFileSync(join(root, 'outer', 'sibling.txt'), 'outer sibling');
    writeFileSync(join(root, 'outer', 'mid', 'sibling.txt'), 'mid sibling');
    mkdirSync(join(root, 'outer', 'mid', 'other-model'));
    writeFileSync(join(root, 'outer', 'mid', 'other-model', 'w.bin'), 'another model beside dest');
    return { root, dest };
  }

  function assertContained(run: MockRun, root: string, dest: string, before: Record<string, string>): void {
    assert.deepEqual(snapshot(root, dest), before, `something changed outside the destination:\n${run.stdout}`);
    assert.ok(existsSync(join(dest, '..')) && statSync(join(root, 'outer', 'mid')).isDirectory(), "the destination's parent is gone");
    assert.deepEqual(existsSync(dest) ? readdirSync(dest) : [], [], 'the destination keeps nothing of a refused model');
  }

  function assertOneLine(run: MockRun, ...needles: string[]): void {
    assert.ok(!run.succeeded, `expected a failure:\n${run.stdout}`);
    assert.ok(run.message.length > 0 && !/[\r\n]/.test(run.message), run.message);
    assert.ok(!run.message.startsWith('Unexpected'), run.message);
    for (const n of needles) assert.ok(run.message.includes(n), `'${n}' not in: ${run.message}`);
    assert.ok(!/\n\s+at .+:\d+:\d+\)?\n/.test(run.stdout), 'a stack trace was printed');
  }

  it('the fake S3 serves a plain folder model (control)', async () => {
    await s3.setObjects('hostile', { 'good/v1/model.bin': 'weights', 'good/v1/tok/vocab.txt': 'a b c' });
    const { root, dest } = tree('control');
    const run = await runMock(spec({ modelPath: 'good/', destination: dest }));
    assert.ok(run.succeeded, run.stdout);
    assert.equal(readFileSync(join(dest, 'v1', 'tok', 'vocab.txt'), 'utf8'), 'a b c');
    assert.ok(existsSync(join(root, 'outer', 'mid', 'other-model', 'w.bin')));
  });

  const cases: Array<{ name: string; modelPath: string; objects: Record<string, string>; key: string }> = [
    {
      name: 'a key climbing out of the model folder',
      modelPath: 'trav/',
      objects: { 'trav/v1/model.bin': 'w', 'trav/v1/../../../../escaped.txt': 'ESCAPED' },
      key: 'trav/v1/../../../../escaped.txt',
    },
    { name: 'a version folder literally named ..', modelPath: 'trav2/', objects: { 'trav2/../weights.bin': 'w' }, key: 'trav2/../weights.bin' },
    { name: 'a single file literally named ..', modelPath: 'trav3/', objects: { 'trav3/..': 'w' }, key: 'trav3/..' },
    {
      name: 'a folder climbing out with the prefix given without a slash',
      modelPath: 'trav4',
      objects: { 'trav4/../../escaped.txt': 'ESCAPED' },
      key: 'trav4/../../escaped.txt',
    },
    { name: 'an empty folder name', modelPath: 'trav5/', objects: { 'trav5/v1//x.bin': 'w' }, key: 'trav5/v1//x.bin' },
    { name: 'an empty name right under the prefix (leading /)', modelPath: 'trav6/', objects: { 'trav6//x.bin': 'w' }, key: 'trav6//x.bin' },
    { name: 'a . segment', modelPath: 'trav7/', objects: { 'trav7/v1/./x.bin': 'w' }, key: 'trav7/v1/./x.bin' },
    { name: 'a backslash traversal', modelPath: 'trav8/', objects: { 'trav8/v1/a\\..\\..\\x.bin': 'w' }, key: 'trav8/v1/a\\..\\..\\x.bin' },
  ];
  for (const c of cases) {
    it(`refuses ${c.name}`, async () => {
      await s3.setObjects('hostile', c.objects);
      const { root, dest } = tree(c.modelPath.replace(/\W/g, '_'));
      const before = snapshot(root, dest);
      const from = (await s3.requests()).length;
      const run = await runMock(spec({ modelPath: c.modelPath, destination: dest }));
      assertOneLine(run, JSON.stringify(c.key), "bucket 'hostile'");
      assertContained(run, root, dest, before);
      assert.deepEqual(
        (await s3.requests()).slice(from).filter((r) => r.method === 'GET' && r.key !== ''),
        [],
        'an object was downloaded',
      );
    });
  }

  for (const modelPath of ['models/../trav/', '../trav/', 'trav/v1/..', 'good/./v1/']) {
    it(`refuses the modelPath input ${JSON.stringify(modelPath)} on S3 before any request`, async () => {
      await s3.setObjects('hostile', { 'trav/v1/model.bin': 'w', 'good/v1/model.bin': 'w' });
      const { root, dest } = tree(`input-${modelPath.replace(/\W/g, '_')}`);
      const before = snapshot(root, dest);
      const from = (await s3.requests()).length;
      const run = await runMock(spec({ modelPath, destination: dest }));
      assertOneLine(run, 'modelPath');
      assertContained(run, root, dest, before);
      assert.equal((await s3.requests()).length, from, 'the store was contacted');
    });
  }

  it('sweeps partial files a killed download left in the destination', async () => {
    await s3.setObjects('hostile', { 'good/v1/model.bin': 'weights' });
    const { dest } = tree('sweep');
    writeFileSync(join(dest, '.model.bin.partial-0123456789ab'), 'half a file');
    mkdirSync(join(dest, '.v1.partial-Ab12Cd'));
    writeFileSync(join(dest, '.v1.partial-Ab12Cd', 'model.bin'), 'half');
    writeFileSync(join(dest, '.m.tar.partial-archive-4242'), 'half an archive');
    writeFileSync(join(dest, 'keep.txt'), 'not ours to delete');
    const run = await runMock(spec({ modelPath: 'good/', destination: dest }));
    assert.ok(run.succeeded, run.stdout);
    assert.deepEqual(
      readdirSync(dest).filter((n) => n.includes('.partial-')),
      [],
      run.stdout,
    );
    assert.ok(existsSync(join(dest, 'keep.txt')));
    assert.ok(run.stdout.includes('partial download'), run.stdout);
  });

  describe('extraction caps through the task', () => {
    let archive: Buffer;
    before(() => {
      const src = join(work, 'archive-src');
      mkdirSync(src, { recursive: true });
      for (let i = 0; i < 5; i++) writeFileSync(join(src, `f${i}.txt`), `file ${i}`);
      execFileSync('tar', ['-cf', join(work, 'm.tar'), '-C', src, '.']);
      archive = readFileSync(join(work, 'm.tar'));
    });

    it('fails over a cap given in extractLimits with one line, keeping nothing', async () => {
      await s3.setObjects('hostile', { 'arch/m.tar': archive });
      const { root, dest } = tree('caps');
      const before = snapshot(root, dest);
      const run = await runMock(spec({ modelPath: 'arch/m.tar', destination: dest, extract: 'true', extractLimits: 'maxEntries=3' }));
      assertOneLine(run, 'maxEntries=3', 'extractLimits');
      assertContained(run, root, dest, before);
      const ok = await runMock(spec({ modelPath: 'arch/m.tar', destination: dest, extract: 'true', extractLimits: 'maxEntries=100, maxBytes=1MiB' }));
      assert.ok(ok.succeeded, ok.stdout);
      assert.equal(readFileSync(join(dest, 'm', 'f3.txt'), 'utf8'), 'file 3');
    });

    it('refuses a malformed extractLimits naming the input', async () => {
      const { dest } = tree('caps-bad');
      const run = await runMock(spec({ modelPath: 'arch/m.tar', destination: dest, extract: 'true', extractLimits: 'maxBytes=lots' }));
      assertOneLine(run, 'extractLimits');
    });
  });

  describe('modelPath with .. on Azure Blob (Azurite)', () => {
    let azurite: TestAzurite;
    before(async () => {
      azurite = await startAzurite();
      const container = BlobServiceClient.fromConnectionString(azurite.connectionString).getContainerClient('models');
      await container.create();
      await container.getBlockBlobClient('resnet/1.0.0/model.bin').uploadData(Buffer.from('weights'));
    });
    after(async () => {
      await azurite?.stop();
    });

    it('the Blob store itself never sends a name the SDK would resolve to another blob', async () => {
      const store = azureBlobStoreFromConnectionString(azurite.connectionString, 'models');
      for (const key of ['resnet/../../x', 'resnet/./1.0.0/model.bin', '..']) {
        await assert.rejects(
          store.head(key),
          (e: unknown) =>
            e instanceof UserError && e.code === 'UnsafeStoreKey' && e.message.includes(JSON.stringify(key)) && e.message.includes("container 'models'"),
        );
        await assert.rejects(store.readRange(key, 0, 1), (e: unknown) => e instanceof UserError && e.code === 'UnsafeStoreKey');
      }
      assert.equal((await store.head('resnet/1.0.0/model.bin'))?.size, 7);
    });

    for (const modelPath of ['models/../resnet/', 'resnet/../../x', 'resnet/1.0.0/../1.0.0/model.bin']) {
      it(`refuses ${JSON.stringify(modelPath)} with a line naming the input`, async () => {
        const { root, dest } = tree(`blob-${modelPath.replace(/\W/g, '_')}`);
        const before = snapshot(root, dest);
        const run = await runMock({
          task: 'FetchModel',
          inputs: {
            provider: 'azureBlob',
            authType: 'connectionString',
            connectionString: azurite.connectionString,
            container: 'models',
            modelPath,
            destination: dest,
          },
        });
        assertOneLine(run, 'modelPath');
        assertContained(run, root, dest, before);
      });
    }
  });
});
