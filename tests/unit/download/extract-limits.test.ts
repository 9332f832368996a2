/** Extraction: links through earlier links, dangling links, and the size/entry/ratio caps. */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import * as tar from 'tar-stream';
import { InputError, UserError } from '../../../shared/errors';
import { DEFAULT_EXTRACT_LIMITS, extractArchive, parseExtractLimits } from '../../../shared/download/extract';

type TarEntry = { name: string; type?: 'file' | 'directory' | 'symlink'; body?: Buffer | string; linkname?: string };

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
      const header = { name: e.name, type, mode: type === 'directory' ? 0o755 : 0o644, linkname: e.linkname, mtime: new Date(0) };
      const cb = (err?: Error | null): void => (err ? reject(err) : resolve());
      if (type === 'file') pack.entry(header, e.body ?? '', cb);
      else pack.entry(header, cb).end(undefined);
    });
  }
  pack.finalize();
  await done;
  return Buffer.concat(chunks);
}

describe('download/extract: links through links, dangling links, caps', () => {
  let dir: string;
  let out: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'extract-lim-'));
    out = join(dir, 'work', 'out');
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const nothingLeft = (archive: string): void => {
    assert.equal(existsSync(out), false, 'partial extraction removed');
    assert.deepEqual(readdirSync(dir).sort(), [archive, 'work'].sort());
    assert.deepEqual(readdirSync(join(dir, 'work')), [], 'nothing beside the destination');
  };

  const escapes: Array<{ name: string; entries: TarEntry[]; entry: string }> = [
    {
      name: 'a link whose parent passes through an earlier link to . (existing target)',
      entries: [
        { name: 'd', type: 'symlink', linkname: '.' },
        { name: 'd/d/d/x', type: 'symlink', linkname: '../../..' },
      ],
      entry: 'd/d/d/x',
    },
    {
      name: 'a link whose parent passes through an earlier link (dangling target)',
      entries: [
        { name: 'd', type: 'symlink', linkname: '.' },
        { name: 'd/d/d/x', type: 'symlink', linkname: '../../../no-such-place/evil' },
      ],
      entry: 'd/d/d/x',
    },
    {
      name: 'a dangling link that escapes through another link',
      entries: [
        { name: 'sub/keep', body: 'k' },
        { name: 'sub/up', type: 'symlink', linkname: '..' },
        { name: 'esc', type: 'symlink', linkname: 'sub/up/../nothing-here' },
      ],
      entry: 'esc',
    },
    {
      name: 'a dangling link through a folder-link chain',
      entries: [
        { name: 'a/b', type: 'symlink', linkname: '..' },
        { name: 'a/c', type: 'symlink', linkname: 'b/../../../gone' },
      ],
      entry: 'a/c',
    },
  ];
  for (const t of escapes) {
    it(`refuses ${t.name}`, async () => {
      const file = join(dir, 'evil.tar');
      writeFileSync(file, await makeTar([{ name: 'ok.txt', body: 'fine' }, ...t.entries]));
      await assert.rejects(extractArchive(file, out, { displayName: 's3://b/evil.tar' }), (e: unknown) => {
        assert.ok(e instanceof UserError, String(e));
        assert.ok(e.message.includes(`unsafe entry ${JSON.stringify(t.entry)}`), e.message);
        return true;
      });
      nothingLeft('evil.tar');
    });
  }

  it('keeps a dangling link that stays inside, and links through links that stay inside', async () => {
    const file = join(dir, 'ok.tar');
    writeFileSync(
      file,
      await makeTar([
        { name: 'm/w.bin', body: 'w' },
        { name: 'm/later', type: 'symlink', linkname: 'not-yet/there' },
        { name: 'cur', type: 'symlink', linkname: 'm' },
        { name: 'viaCur', type: 'symlink', linkname: 'cur/w.bin' },
      ]),
    );
    const r = await extractArchive(file, out);
    assert.equal(r.symlinks, 3);
  });

  it('has documented, generous defaults', () => {
    assert.equal(DEFAULT_EXTRACT_LIMITS.maxBytes, 64 * 1024 ** 3);
    assert.equal(DEFAULT_EXTRACT_LIMITS.maxEntries, 1_000_000);
    assert.equal(DEFAULT_EXTRACT_LIMITS.maxRatio, 200);
  });

  it('stops at the byte cap, naming it and the input, leaving nothing', async () => {
    const file = join(dir, 'big.tar');
    writeFileSync(
      file,
      await makeTar([
        { name: 'a.bin', body: Buffer.alloc(40_000, 1) },
        { name: 'b.bin', body: Buffer.alloc(40_000, 2) },
      ]),
    );
    await assert.rejects(extractArchive(file, out, { displayName: 'big.tar', limits: { ...DEFAULT_EXTRACT_LIMITS, maxBytes: 50_000 } }), (e: unknown) => {
      assert.ok(e instanceof UserError && e.code === 'ExtractLimit', String(e));
      assert.match(e.message, /maxBytes/);
      assert.match(e.message, /extractLimits/);
      assert.ok(!/[\r\n]/.test(e.message));
      return true;
    });
    nothingLeft('big.tar');
  });

  it('stops at the entry cap', async () => {
    const file = join(dir, 'many.tar');
    writeFileSync(file, await makeTar(Array.from({ length: 30 }, (_, i) => ({ name: `f${i}`, body: 'x' }))));
    await assert.rejects(
      extractArchive(file, out, { limits: { ...DEFAULT_EXTRACT_LIMITS, maxEntries: 10 } }),
      (e: unknown) => e instanceof UserError && e.code === 'ExtractLimit' && /maxEntries/.test(e.message),
    );
    nothingLeft('many.tar');
  });

  it('stops at the ratio cap (a compression bomb), once past the floor', async () => {
    const file = join(dir, 'bomb.tgz');
    writeFileSync(file, gzipSync(await makeTar([{ name: 'zeros.bin', body: Buffer.alloc(8 * 1024 * 1024) }]), { level: 9 }));
    await assert.rejects(
      extractArchive(file, out, { limits: { ...DEFAULT_EXTRACT_LIMITS, maxRatio: 50, ratioFloorBytes: 1024 * 1024 } }),
      (e: unknown) => e instanceof UserError && e.code === 'ExtractLimit' && /maxRatio/.test(e.message),
    );
    nothingLeft('bomb.tgz');
    // Under the floor, the ratio is not held against small archives.
    const r = await extractArchive(file, out, { limits: { ...DEFAULT_EXTRACT_LIMITS, maxRatio: 50, ratioFloorBytes: 16 * 1024 * 1024 } });
    assert.equal(r.files.length, 1);
  });

  const parse: Array<{ text: string; want?: Partial<typeof DEFAULT_EXTRACT_LIMITS>; bad?: RegExp }> = [
    { text: '', want: {} },
    { text: 'maxBytes=200GiB', want: { maxBytes: 200 * 1024 ** 3 } },
    { text: 'maxBytes=1TiB, maxEntries=5000000, maxRatio=1000', want: { maxBytes: 1024 ** 4, maxEntries: 5_000_000, maxRatio: 1000 } },
    { text: 'maxbytes = 500 MiB\nmaxratio=300', want: { maxBytes: 500 * 1024 ** 2, maxRatio: 300 } },
    { text: 'maxBytes=123', want: { maxBytes: 123 } },
    { text: 'maxBytes=2GB', want: { maxBytes: 2e9 } },
    { text: 'maxBytes', bad: /key=value/ },
    { text: 'maxSize=1GiB', bad: /maxSize/ },
    { text: 'maxBytes=lots', bad: /lots/ },
    { text: 'maxEntries=0', bad: /maxEntries/ },
    { text: 'maxRatio=-3', bad: /maxRatio/ },
    { text: 'maxEntries=1.5', bad: /maxEntries/ },
  ];
  for (const t of parse) {
    it(`parses extractLimits ${JSON.stringify(t.text)}`, () => {
      if (t.bad) {
        assert.throws(
          () => parseExtractLimits(t.text),
          (e: unknown) => e instanceof InputError && e.input === 'extractLimits' && (t.bad as RegExp).test(e.message),
        );
      } else {
        assert.deepEqual(parseExtractLimits(t.text), { ...DEFAULT_EXTRACT_LIMITS, ...t.want });
      }
    });
  }
});
