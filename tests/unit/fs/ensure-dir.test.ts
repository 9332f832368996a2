/**
 * ensureDir: creates a user-named folder level by level, never loops (Node's
 * recursive mkdir spins forever under /proc, where mkdir answers ENOENT for a
 * parent that exists), and says which path could not be made and why.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureDir, EnsureDirError } from '../../../shared/fs/ensure-dir';

describe('ensureDir', function () {
  this.timeout(10_000);
  let work: string;
  before(() => {
    work = mkdtempSync(join(tmpdir(), 'ensure-dir-'));
  });
  after(() => rmSync(work, { recursive: true, force: true }));

  it('creates the missing levels and returns them, top first', async () => {
    const target = join(work, 'a', 'b', 'c');
    assert.deepEqual(await ensureDir(target), [join(work, 'a'), join(work, 'a', 'b'), target]);
    assert.ok(statSync(target).isDirectory());
  });

  it('accepts an existing folder and creates nothing', async () => {
    mkdirSync(join(work, 'exists'));
    assert.deepEqual(await ensureDir(join(work, 'exists')), []);
  });

  it('gives the levels it creates the requested mode', async () => {
    const target = join(work, 'private', 'inner');
    await ensureDir(target, { mode: 0o700 });
    assert.equal(statSync(join(work, 'private')).mode & 0o777, 0o700);
    assert.equal(statSync(target).mode & 0o777, 0o700);
  });

  it('fails at once, naming the level, under /proc (where recursive mkdir loops forever)', async () => {
    const started = Date.now();
    await assert.rejects(ensureDir('/proc/x/y'), (err: unknown) => {
      assert.ok(err instanceof EnsureDirError);
      assert.equal(err.path, '/proc/x');
      assert.match(err.message, /cannot create \/proc\/x/);
      return true;
    });
    assert.ok(Date.now() - started < 2000);
  });

  it('fails when a level is a file, naming it', async () => {
    writeFileSync(join(work, 'file'), 'x');
    await assert.rejects(ensureDir(join(work, 'file', 'sub')), (err: unknown) => {
      assert.ok(err instanceof EnsureDirError);
      assert.equal(err.path, join(work, 'file'));
      assert.match(err.message, /is not a folder/);
      return true;
    });
    await assert.rejects(ensureDir(join(work, 'file')), /is not a folder/);
  });

  it('refuses an empty path', async () => {
    await assert.rejects(ensureDir(''), EnsureDirError);
  });
});
