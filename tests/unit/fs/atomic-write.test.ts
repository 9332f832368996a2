/**
 * shared/fs/atomic-write: new content appears whole or not at all, through a
 * hidden `.<name>.partial-<random>` sibling and one rename.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chownSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
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
    if (process.platform === 'win32') this.skip();
    // A folder without write permission, in a child process: root ignores the
    // permission, so as root the child runs as user nobody in a folder it owns.
    const asRoot = process.getuid?.() === 0;
    const dir = asRoot ? mkdtempSync(join(tmpdir(), 'atomic-write-unprivileged-')) : fresh();
    if (asRoot) chownSync(dir, 65534, 65534);
    const script = `
      const { replacePath } = require(${JSON.stringify(join(__dirname, '..', '..', '..', 'shared', 'fs', 'atomic-write'))});
      const fs = require('node:fs');
      const path = require('node:path');
      const dir = ${JSON.stringify(dir)};
      const locked = path.join(dir, 'locked');
      fs.mkdirSync(locked);
      const dest = path.join(locked, 'out');
      fs.mkdirSync(dest);
      const src = path.join(dir, 'src');
      fs.writeFileSync(src, 'new');
      fs.chmodSync(locked, 0o555);
      replacePath(src, dest).then(
        () => console.log(JSON.stringify({ code: 'resolved' })),
        (e) => console.log(JSON.stringify({ code: e.code })),
      ).finally(() => fs.chmodSync(locked, 0o755));
    `;
    try {
      const child = spawnSync(process.execPath, ['--require', 'tsx/cjs', '-e', script], {
        cwd: join(__dirname, '..', '..', '..'),
        encoding: 'utf8',
        env: { ...process.env, HOME: dir },
        ...(asRoot ? { uid: 65534, gid: 65534 } : {}),
      });
      assert.equal(child.status, 0, child.stderr);
      assert.deepEqual(JSON.parse(child.stdout.trim()), { code: 'EACCES' });
      assert.ok(existsSync(join(dir, 'locked', 'out')) && existsSync(join(dir, 'src')));
      assert.equal(readFileSync(join(dir, 'src'), 'utf8'), 'new');
      assert.deepEqual(readdirSync(join(dir, 'locked')), ['out']);
    } finally {
      if (asRoot) rmSync(dir, { recursive: true, force: true });
    }
  });
});
