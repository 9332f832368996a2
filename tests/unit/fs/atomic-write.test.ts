/**
 * shared/fs/atomic-write: new content appears whole or not at all, through a
 * hidden `.<name>.partial-<random>` sibling and one rename.
 */
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { replacePath, tempSibling, writeFileAtomic } from '../../../shared/fs/atomic-write';

describe('atomic-write', function () {
  this.timeout(10_000);
  let work: string;
  let n = 0;
  const fresh = () => {
    const d = join(work, `case-${n++}`);
    mkdirSync(d);
    return d;
  };
  before(() => {
    work = mkdtempSync(join(tmpdir(), 'atomic-write-'));
  });
  after(() => rmSync(work, { recursive: true, force: true }));

  it('tempSibling: a hidden .partial- name in the same folder, fresh each time', () => {
    const a = tempSibling('/x/y/model.bin');
    assert.match(a, /^\/x\/y\/\.model\.bin\.partial-[0-9a-f]{12}$/);
    assert.notEqual(a, tempSibling('/x/y/model.bin'));
  });

  const writes: Array<{ name: string; before?: string; data: string | Uint8Array; expect: string }> = [
    { name: 'creates a file', data: 'new', expect: 'new' },
    { name: 'replaces a file', before: 'old content', data: 'new', expect: 'new' },
    { name: 'writes bytes', data: Buffer.from('bytes'), expect: 'bytes' },
    { name: 'writes an empty file', before: 'x', data: '', expect: '' },
  ];
  for (const w of writes) {
    it(`writeFileAtomic ${w.name} and leaves no temporary`, async () => {
      const dir = fresh();
      const file = join(dir, 'f.json');
      if (w.before !== undefined) writeFileSync(file, w.before);
      await writeFileAtomic(file, w.data);
      assert.equal(readFileSync(file, 'utf8'), w.expect);
      assert.deepEqual(readdirSync(dir), ['f.json']);
    });
  }

  it('writeFileAtomic applies mode to the new file', async function () {
    if (process.platform === 'win32') this.skip();
    const file = join(fresh(), 'secret.yaml');
    await writeFileAtomic(file, 'k: v', { mode: 0o600 });
    assert.equal(statSync(file).mode & 0o777, 0o600);
  });

  it('writeFileAtomic fails on a missing folder and leaves nothing behind', async () => {
    const dir = fresh();
    await assert.rejects(writeFileAtomic(join(dir, 'nope', 'f'), 'x'), (e: NodeJS.ErrnoException) => e.code === 'ENOENT');
    assert.deepEqual(readdirSync(dir), []);
  });

  it('writeFileAtomic removes its temporary when the rename fails (a folder is in the way)', async () => {
    const dir = fresh();
    mkdirSync(join(dir, 'f'));
    writeFileSync(join(dir, 'f', 'inside'), 'x');
    await assert.rejects(writeFileAtomic(join(dir, 'f'), 'x'));
    assert.deepEqual(readdirSync(dir), ['f']);
  });

  const replaces: Array<{ name: string; dest?: 'file' | 'folder'; src: 'file' | 'folder' }> = [
    { name: 'a file to a free path', src: 'file' },
    { name: 'a folder to a free path', src: 'folder' },
    { name: 'a file over a file', dest: 'file', src: 'file' },
    { name: 'a folder over a non-empty folder', dest: 'folder', src: 'folder' },
  ];
  for (const r of replaces) {
    it(`replacePath moves ${r.name}; nothing else is left`, async () => {
      const dir = fresh();
      const dest = join(dir, 'out');
      const src = tempSibling(dest);
      if (r.dest === 'file') writeFileSync(dest, 'old');
      if (r.dest === 'folder') {
        mkdirSync(dest);
        writeFileSync(join(dest, 'old'), 'old');
      }
      if (r.src === 'file') writeFileSync(src, 'new');
      else {
        mkdirSync(src);
        writeFileSync(join(src, 'new'), 'new');
      }
      await replacePath(src, dest);
      if (r.src === 'file') assert.equal(readFileSync(dest, 'utf8'), 'new');
      else assert.deepEqual(readdirSync(dest), ['new']);
      assert.deepEqual(readdirSync(dir), ['out']);
    });
  }

  it('replacePath puts the old folder back when the move fails', async () => {
    const dir = fresh();
    const dest = join(dir, 'out');
    mkdirSync(dest);
    writeFileSync(join(dest, 'old'), 'old');
    await assert.rejects(replacePath(join(dir, '.missing.partial-1'), dest), (e: NodeJS.ErrnoException) => e.code === 'ENOENT');
    assert.deepEqual(readdirSync(dest), ['old']);
    assert.deepEqual(readdirSync(dir), ['out']);
  });

  it('replacePath leaves src and dest alone when dest cannot be moved aside', async function () {
    if (process.platform === 'win32' || process.getuid?.() === 0) this.skip(); // root ignores the permission below
    const dir = fresh();
    const locked = join(dir, 'locked');
    mkdirSync(locked);
    const dest = join(locked, 'out');
    mkdirSync(dest);
    const src = join(dir, 'src');
    writeFileSync(src, 'new');
    chmodSync(locked, 0o555);
    try {
      await assert.rejects(replacePath(src, dest), (e: NodeJS.ErrnoException) => e.code === 'EACCES');
      assert.ok(existsSync(dest) && existsSync(src));
    } finally {
      chmodSync(locked, 0o755);
    }
  });
});
