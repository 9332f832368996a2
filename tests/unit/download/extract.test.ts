import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, lstatSync, mkdtempSync, readFileSync, readlinkSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { crc32, gzipSync } from 'node:zlib';
import * as tar from 'tar-stream';
import { UserError } from '../../../shared/errors';
import { archiveFormatOf, extractArchive, safeEntryPath } from '../../../shared/download/extract';

type TarEntry = {
  name: string;
  type?: 'file' | 'directory' | 'symlink' | 'link' | 'character-device' | 'fifo';
  body?: string;
  mode?: number;
  linkname?: string;
};

async function makeTar(entries: TarEntry[]): Promise<Buffer> {
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  const done = new Promise<void>((resolve, reject) => {
    pack.on('data', (c: unknown) => chunks.push(c as Buffer));
    pack.on('end', () => resolve());
    pack.on('error', reject);
  });
  for (const e of entries) {
    const type = e.type ?? 'file';
    await new Promise<void>((resolve, reject) => {
      const header = { name: e.name, type, mode: e.mode ?? (type === 'directory' ? 0o755 : 0o644), linkname: e.linkname, mtime: new Date(0) };
      const cb = (err?: Error | null): void => (err ? reject(err) : resolve());
      if (type === 'file') pack.entry(header, e.body ?? '', cb);
      else pack.entry(header, cb).end(undefined);
    });
  }
  pack.finalize();
  await done;
  return Buffer.concat(chunks);
}

type ZipEntry = { name: string; body?: string; mode?: number };

/** A minimal stored (uncompressed) zip written by a "Unix" zipper, so modes (incl. symlinks) are kept. */
function makeZip(entries: ZipEntry[]): Buffer {
  const locals: Buffer[] = [];
  const centrals: Buffer[] = [];
  let offset = 0;
  for (const e of entries) {
    const name = Buffer.from(e.name, 'utf8');
    const data = Buffer.from(e.body ?? '', 'utf8');
    const crc = crc32(data);
    const lh = Buffer.alloc(30);
    lh.writeUInt32LE(0x04034b50, 0);
    lh.writeUInt16LE(20, 4);
    lh.writeUInt16LE(0x800, 6);
    lh.writeUInt16LE(0, 8);
    lh.writeUInt32LE(0, 10);
    lh.writeUInt32LE(crc, 14);
    lh.writeUInt32LE(data.length, 18);
    lh.writeUInt32LE(data.length, 22);
    lh.writeUInt16LE(name.length, 26);
    lh.writeUInt16LE(0, 28);
    const ch = Buffer.alloc(46);
    ch.writeUInt32LE(0x02014b50, 0);
    ch.writeUInt16LE((3 << 8) | 20, 4);
    ch.writeUInt16LE(20, 6);
    ch.writeUInt16LE(0x800, 8);
    ch.writeUInt16LE(0, 10);
    ch.writeUInt32LE(0, 12);
    ch.writeUInt32LE(crc, 16);
    ch.writeUInt32LE(data.length, 20);
    ch.writeUInt32LE(data.length, 24);
    ch.writeUInt16LE(name.length, 28);
    ch.writeUInt32LE(((e.mode ?? (e.name.endsWith('/') ? 0o40755 : 0o100644)) << 16) >>> 0, 38);
    ch.writeUInt32LE(offset, 42);
    locals.push(lh, name, data);
    centrals.push(ch, name);
    offset += lh.length + name.length + data.length;
  }
  const cd = Buffer.concat(centrals);
  const eocd = Buffer.alloc(22);
  eocd.writeUInt32LE(0x06054b50, 0);
  eocd.writeUInt16LE(entries.length, 8);
  eocd.writeUInt16LE(entries.length, 10);
  eocd.writeUInt32LE(cd.length, 12);
  eocd.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, cd, eocd]);
}

const sha = (s: string): string => createHash('sha256').update(s).digest('hex');

describe('download/extract', () => {
  let dir: string;
  let out: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'extract-'));
    out = join(dir, 'out');
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('knows archive formats by name', () => {
    assert.equal(archiveFormatOf('m.tar'), 'tar');
    assert.equal(archiveFormatOf('m.TAR.GZ'), 'tgz');
    assert.equal(archiveFormatOf('m.tgz'), 'tgz');
    assert.equal(archiveFormatOf('m.zip'), 'zip');
    assert.equal(archiveFormatOf('m.onnx'), undefined);
  });

  it('normalises safe entry names', () => {
    assert.equal(safeEntryPath('a', './model/./weights.bin'), 'model/weights.bin');
    assert.equal(safeEntryPath('a', 'model\\sub\\x'), 'model/sub/x');
    assert.equal(safeEntryPath('a', 'dir/'), 'dir');
  });

  const good: TarEntry[] = [
    { name: 'model/', type: 'directory' },
    { name: 'model/config.json', body: '{"a":1}' },
    { name: 'model/run.sh', body: '#!/bin/sh\n', mode: 0o775 },
    { name: './model/deep/er/w.bin', body: 'weights' },
    { name: 'model/latest', type: 'symlink', linkname: 'deep/er/w.bin' },
    { name: 'model/same.bin', type: 'link', linkname: 'model/deep/er/w.bin' },
    { name: 'model/fifo', type: 'fifo' },
  ];

  for (const gz of [false, true]) {
    it(`extracts a ${gz ? '.tar.gz' : '.tar'} with folders, modes, symlinks and hard links, skipping special files`, async () => {
      const raw = await makeTar(good);
      const file = join(dir, gz ? 'm.tar.gz' : 'm.tar');
      writeFileSync(file, gz ? gzipSync(raw) : raw);
      const r = await extractArchive(file, out);
      assert.equal(readFileSync(join(out, 'model/config.json'), 'utf8'), '{"a":1}');
      assert.equal(statSync(join(out, 'model/run.sh')).mode & 0o777, 0o755);
      assert.equal(statSync(join(out, 'model/config.json')).mode & 0o777, 0o644);
      assert.equal(readlinkSync(join(out, 'model/latest')), 'deep/er/w.bin');
      assert.equal(readFileSync(join(out, 'model/latest'), 'utf8'), 'weights');
      assert.equal(statSync(join(out, 'model/same.bin')).ino, statSync(join(out, 'model/deep/er/w.bin')).ino);
      assert.equal(existsSync(join(out, 'model/fifo')), false);
      assert.deepEqual(r.skipped, ['model/fifo']);
      assert.equal(r.symlinks, 1);
      const byPath = Object.fromEntries(r.files.map((f) => [f.path, f]));
      assert.deepEqual(byPath['model/deep/er/w.bin'], { path: 'model/deep/er/w.bin', size: 7, executable: false, sha256: sha('weights') });
      assert.equal(byPath['model/run.sh']?.executable, true);
      assert.equal(byPath['model/same.bin']?.sha256, sha('weights'));
    });
  }

  it('extracts a zip with folders, an executable and a symlink', async () => {
    const file = join(dir, 'm.zip');
    writeFileSync(
      file,
      makeZip([
        { name: 'model/' },
        { name: 'model/w.bin', body: 'weights' },
        { name: 'model/run.sh', body: 'x', mode: 0o100755 },
        { name: 'model/link', body: 'w.bin', mode: 0o120777 },
      ]),
    );
    const r = await extractArchive(file, out);
    assert.equal(readFileSync(join(out, 'model/w.bin'), 'utf8'), 'weights');
    assert.equal(statSync(join(out, 'model/run.sh')).mode & 0o777, 0o755);
    assert.ok(lstatSync(join(out, 'model/link')).isSymbolicLink());
    assert.equal(readFileSync(join(out, 'model/link'), 'utf8'), 'weights');
    assert.equal(r.files.length, 2);
  });

  const traversal: { name: string; entries: TarEntry[]; entry: string; why: RegExp }[] = [
    { name: 'a ../ entry', entries: [{ name: '../evil', body: 'x' }], entry: '../evil', why: /'\.\.' in the path/ },
    { name: 'a ../ hidden in the middle', entries: [{ name: 'a/../../evil', body: 'x' }], entry: 'a/../../evil', why: /'\.\.'/ },
    { name: 'an absolute path', entries: [{ name: '/tmp/evil', body: 'x' }], entry: '/tmp/evil', why: /absolute path/ },
    { name: 'a drive letter', entries: [{ name: 'C:/evil', body: 'x' }], entry: 'C:/evil', why: /drive letter/ },
    { name: 'backslash traversal', entries: [{ name: '..\\evil', body: 'x' }], entry: '..\\evil', why: /'\.\.'/ },
    { name: 'a symlink to an absolute path', entries: [{ name: 'l', type: 'symlink', linkname: '/etc' }], entry: 'l', why: /absolute path/ },
    { name: 'a symlink pointing out', entries: [{ name: 'a/l', type: 'symlink', linkname: '../../x' }], entry: 'a/l', why: /points outside/ },
    {
      name: 'a symlink then a file written through it',
      entries: [
        { name: 'sub/', type: 'directory' },
        { name: 'l', type: 'symlink', linkname: 'sub' },
        { name: 'l/evil', body: 'x' },
      ],
      entry: 'l',
      why: /collides/,
    },
    {
      name: 'a chain of links that escapes together',
      entries: [
        { name: 'sub/x', body: 'x' },
        { name: 'sub/up', type: 'symlink', linkname: '..' },
        { name: 'esc', type: 'symlink', linkname: 'sub/up/..' },
      ],
      entry: 'esc',
      why: /resolves outside/,
    },
    { name: 'a hard link pointing out', entries: [{ name: 'h', type: 'link', linkname: '../../etc/passwd' }], entry: 'h', why: /'\.\.'/ },
    { name: 'a hard link to an absolute path', entries: [{ name: 'h', type: 'link', linkname: '/etc/passwd' }], entry: 'h', why: /absolute/ },
    { name: 'a hard link to a file not in the archive', entries: [{ name: 'h', type: 'link', linkname: 'nothere' }], entry: 'h', why: /not an earlier file/ },
  ];

  for (const t of traversal) {
    it(`refuses ${t.name}, naming the entry, and removes the partial extraction`, async () => {
      const file = join(dir, 'evil.tar');
      writeFileSync(file, await makeTar([{ name: 'ok.txt', body: 'fine' }, ...t.entries]));
      await assert.rejects(extractArchive(file, out, { displayName: 's3://b/evil.tar' }), (e: unknown) => {
        assert.ok(e instanceof UserError, String(e));
        assert.ok(e.message.includes(`s3://b/evil.tar has an unsafe entry ${JSON.stringify(t.entry)}`), e.message);
        assert.match(e.message, t.why);
        return true;
      });
      assert.equal(existsSync(out), false, 'partial extraction removed');
      assert.deepEqual(readdirSync(dir).sort(), ['evil.tar'], 'nothing written beside the destination');
    });
  }

  const zipTraversal: { name: string; entries: ZipEntry[]; entry: string }[] = [
    { name: 'a ../ entry', entries: [{ name: '../evil', body: 'x' }], entry: '../evil' },
    { name: 'an absolute path', entries: [{ name: '/tmp/evil', body: 'x' }], entry: '/tmp/evil' },
    { name: 'a backslash traversal', entries: [{ name: 'a\\..\\..\\evil', body: 'x' }], entry: 'a/../../evil' },
    { name: 'a symlink pointing out', entries: [{ name: 'l', body: '../../etc', mode: 0o120777 }], entry: 'l' },
    {
      name: 'a symlink then a write through it',
      entries: [
        { name: 'l', body: '/tmp', mode: 0o120777 },
        { name: 'l/evil', body: 'x' },
      ],
      entry: 'l',
    },
  ];
  for (const t of zipTraversal) {
    it(`refuses a zip with ${t.name}`, async () => {
      const file = join(dir, 'evil.zip');
      writeFileSync(file, makeZip([{ name: 'ok.txt', body: 'fine' }, ...t.entries]));
      await assert.rejects(extractArchive(file, out), (e: unknown) => e instanceof UserError && e.message.includes(`unsafe entry ${JSON.stringify(t.entry)}`));
      assert.equal(existsSync(out), false);
      assert.deepEqual(readdirSync(dir), ['evil.zip']);
    });
  }

  it('fails cleanly on a corrupt archive', async () => {
    const tgz = join(dir, 'bad.tgz');
    const whole = gzipSync(await makeTar([{ name: 'a', body: 'x'.repeat(5000) }]));
    writeFileSync(tgz, whole.subarray(0, Math.floor(whole.length / 2)));
    await assert.rejects(extractArchive(tgz, out), (e: unknown) => e instanceof UserError && /Extracting .*bad\.tgz failed/.test(e.message));
    assert.equal(existsSync(out), false);
    const zip = join(dir, 'bad.zip');
    writeFileSync(zip, 'not a zip at all');
    await assert.rejects(extractArchive(zip, out), (e: unknown) => e instanceof UserError && /not a valid zip/.test(e.message));
    assert.equal(existsSync(out), false);
  });

  it('refuses a file type it does not know', async () => {
    const f = join(dir, 'm.rar');
    writeFileSync(f, 'x');
    await assert.rejects(extractArchive(f, out), (e: unknown) => e instanceof UserError && e.input === 'extract');
  });
});
