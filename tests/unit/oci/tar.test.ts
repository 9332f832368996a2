import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buffer } from 'node:stream/consumers';
import { extract, type Header as Headers } from 'tar-stream';
import { Readable } from 'node:stream';
import { UserError } from '../../../shared/errors';
import { IgnoreMatcher } from '../../../shared/oci/dockerignore';
import { collectEntries, defaultMtime, encodeHeader, splitUstarName, tarSize, tarStream, USTAR_MAX_SIZE, type TarEntry } from '../../../shared/oci/tar';

async function readBack(archive: Buffer): Promise<Array<{ header: Headers; body: Buffer }>> {
  const out: Array<{ header: Headers; body: Buffer }> = [];
  const ex = extract();
  const done = new Promise<void>((resolve, reject) => {
    ex.on('entry', (header, stream, next) => {
      const chunks: Buffer[] = [];
      stream.on('data', (c: unknown) => {
        chunks.push(c as Buffer);
      });
      stream.on('end', () => {
        out.push({ header, body: Buffer.concat(chunks) });
        next();
      });
    });
    ex.on('finish', resolve);
    ex.on('error', reject);
  });
  Readable.from([archive]).pipe(ex);
  await done;
  return out;
}

/** Raw PAX records of the first entry of an encoded header (which must start with an `x` header). */
function paxRecords(headerBlocks: Buffer): Record<string, string> {
  assert.equal(String.fromCharCode(headerBlocks[156]), 'x');
  const size = parseInt(headerBlocks.subarray(124, 135).toString('ascii'), 8);
  const body = headerBlocks.subarray(512, 512 + size).toString('utf8');
  const records: Record<string, string> = {};
  let rest = body;
  while (rest.length) {
    const sp = rest.indexOf(' ');
    const len = Number(rest.slice(0, sp));
    const rec = Buffer.from(rest, 'utf8').subarray(0, len).toString('utf8');
    const kv = rec.slice(sp + 1, -1);
    const eq = kv.indexOf('=');
    records[kv.slice(0, eq)] = kv.slice(eq + 1);
    rest = Buffer.from(rest, 'utf8').subarray(len).toString('utf8');
  }
  return records;
}

describe('oci/tar', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'tar-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  function makeTree(root: string): void {
    mkdirSync(join(root, 'sub', 'deep'), { recursive: true });
    writeFileSync(join(root, 'b.txt'), 'bee');
    writeFileSync(join(root, 'a.sh'), '#!/bin/sh\necho a\n');
    chmodSync(join(root, 'a.sh'), 0o700);
    writeFileSync(join(root, 'sub', 'deep', 'x.bin'), Buffer.alloc(1000, 1));
    chmodSync(join(root, 'sub', 'deep', 'x.bin'), 0o600);
    symlinkSync('../b.txt', join(root, 'sub', 'link'));
  }

  it('writes sorted entries with explicit parents, fixed mtime, uid/gid 0, empty names and normalised modes', async () => {
    makeTree(join(dir, 'src'));
    utimesSync(join(dir, 'src', 'b.txt'), 1700000000, 1700000000);
    const entries = await collectEntries([{ hostPath: join(dir, 'src'), destination: '/opt/app' }]);
    const archive = await buffer(tarStream(entries, { mtime: 0 }));
    assert.equal(archive.length, tarSize(entries));
    const read = await readBack(archive);
    assert.deepEqual(
      read.map((e) => e.header.name),
      ['opt/', 'opt/app/', 'opt/app/a.sh', 'opt/app/b.txt', 'opt/app/sub/', 'opt/app/sub/deep/', 'opt/app/sub/deep/x.bin', 'opt/app/sub/link'],
    );
    for (const { header } of read) {
      assert.equal(header.mtime?.getTime(), 0);
      assert.equal(header.uid, 0);
      assert.equal(header.gid, 0);
      assert.equal(header.uname, '');
      assert.equal(header.gname, '');
    }
    const mode = (n: string) => read.find((e) => e.header.name === n)?.header.mode;
    assert.equal(mode('opt/'), 0o755);
    assert.equal(mode('opt/app/a.sh'), 0o755);
    assert.equal(mode('opt/app/b.txt'), 0o644);
    assert.equal(mode('opt/app/sub/deep/x.bin'), 0o644);
    const link = read.find((e) => e.header.name === 'opt/app/sub/link');
    assert.equal(link?.header.type, 'symlink');
    assert.equal(link?.header.linkname, '../b.txt');
    assert.equal(read.find((e) => e.header.name === 'opt/app/b.txt')?.body.toString(), 'bee');
  });

  it('gives identical bytes for two copies of the same tree with different timestamps and permissions', async () => {
    makeTree(join(dir, 'one'));
    makeTree(join(dir, 'two'));
    utimesSync(join(dir, 'two', 'b.txt'), 1234567, 1234567);
    chmodSync(join(dir, 'two', 'b.txt'), 0o664);
    const hash = async (root: string) =>
      createHash('sha256')
        .update(await buffer(tarStream(await collectEntries([{ hostPath: root, destination: '/app' }]), { mtime: 0 })))
        .digest('hex');
    assert.equal(await hash(join(dir, 'one')), await hash(join(dir, 'two')));
  });

  it('takes the mtime from SOURCE_DATE_EPOCH', async () => {
    assert.equal(defaultMtime({ SOURCE_DATE_EPOCH: '1700000000' }), 1700000000);
    assert.equal(defaultMtime({}), 0);
    writeFileSync(join(dir, 'f'), 'x');
    const entries = await collectEntries([{ hostPath: join(dir, 'f'), destination: '/m' }]);
    const read = await readBack(await buffer(tarStream(entries, { mtime: 1700000000 })));
    assert.equal(read[1].header.mtime?.getTime(), 1700000000 * 1000);
  });

  it('uses the ustar prefix when it fits and PAX for longer or non-ASCII names', async () => {
    const mid = `${'d'.repeat(120)}/${'f'.repeat(90)}`;
    assert.deepEqual(splitUstarName(mid), { prefix: 'd'.repeat(120), name: 'f'.repeat(90) });
    assert.equal(splitUstarName('x'.repeat(101)), undefined);
    assert.equal(splitUstarName('modèle.bin'), undefined);

    const longName = `models/${'n'.repeat(150)}.bin`;
    const pax = paxRecords(encodeHeader({ path: longName, type: 'file', mode: 0o644, size: 3 }, 0));
    assert.equal(pax.path, longName);

    const nonAscii = 'models/modèle-日本.bin';
    assert.equal(paxRecords(encodeHeader({ path: nonAscii, type: 'file', mode: 0o644, size: 3 }, 0)).path, nonAscii);

    // And a real archive with such files reads back with the full names.
    mkdirSync(join(dir, 'src'));
    writeFileSync(join(dir, 'src', `${'n'.repeat(150)}.bin`), 'abc');
    writeFileSync(join(dir, 'src', 'modèle-日本.bin'), 'xyz');
    const read = await readBack(await buffer(tarStream(await collectEntries([{ hostPath: join(dir, 'src'), destination: '/models' }]), { mtime: 0 })));
    assert.deepEqual(
      read.map((e) => e.header.name),
      ['models/', 'models/modèle-日本.bin', longName],
    );
  });

  it('writes a PAX size record for entries of 8 GiB or more (header only, no content)', () => {
    const size = 8 * 2 ** 30 + 5;
    assert.ok(size > USTAR_MAX_SIZE);
    const blocks = encodeHeader({ path: 'models/huge.bin', type: 'file', mode: 0o644, size }, 0);
    assert.equal(paxRecords(blocks).size, String(size));
    const ustar = blocks.subarray(blocks.length - 512);
    assert.equal(ustar.subarray(0, 15).toString('ascii'), 'models/huge.bin');
    assert.equal(ustar.subarray(124, 135).toString('ascii'), '00000000000');
    // Just below the limit: plain ustar.
    const small = encodeHeader({ path: 'models/big.bin', type: 'file', mode: 0o644, size: USTAR_MAX_SIZE }, 0);
    assert.equal(small.length, 512);
    assert.equal(small.subarray(124, 135).toString('ascii'), '77777777777');
  });

  it('computes a valid header checksum', () => {
    const h = encodeHeader({ path: 'a', type: 'file', mode: 0o644, size: 1 }, 0);
    const stored = parseInt(h.subarray(148, 154).toString('ascii'), 8);
    const copy = Buffer.from(h);
    copy.fill(0x20, 148, 156);
    let sum = 0;
    for (const b of copy) sum += b;
    assert.equal(stored, sum);
  });

  it('refuses symlinks that escape the tree, naming the link', async () => {
    mkdirSync(join(dir, 'src'));
    symlinkSync('../../etc/passwd', join(dir, 'src', 'evil'));
    await assert.rejects(
      collectEntries([{ hostPath: join(dir, 'src'), destination: '/app', input: 'appDirectory' }]),
      (e: unknown) => e instanceof UserError && e.message.includes('evil') && e.message.includes('outside'),
    );
    rmSync(join(dir, 'src', 'evil'));
    symlinkSync('/etc/passwd', join(dir, 'src', 'abs'));
    await assert.rejects(collectEntries([{ hostPath: join(dir, 'src'), destination: '/app' }]), /abs.*absolute path/);
  });

  it('keeps links into a folder whose name starts with two dots (Kubernetes ..data style)', async () => {
    mkdirSync(join(dir, 'src', '..data'), { recursive: true });
    writeFileSync(join(dir, 'src', '..data', 'config.json'), '{}');
    symlinkSync('..data/config.json', join(dir, 'src', 'config.json'));
    const entries = await collectEntries([{ hostPath: join(dir, 'src'), destination: '/app' }]);
    assert.ok(
      entries.some((e) => e.path === 'app/config.json' && e.type === 'symlink'),
      entries.map((e) => e.path).join(' '),
    );
  });

  it('applies .dockerignore patterns, with ! exceptions and **', async () => {
    mkdirSync(join(dir, 'src', 'node_modules', 'x'), { recursive: true });
    mkdirSync(join(dir, 'src', 'logs', 'keep'), { recursive: true });
    mkdirSync(join(dir, 'src', 'a', 'b'), { recursive: true });
    writeFileSync(join(dir, 'src', 'node_modules', 'x', 'i.js'), '');
    writeFileSync(join(dir, 'src', 'logs', 'one.log'), '');
    writeFileSync(join(dir, 'src', 'logs', 'keep', 'important.log'), '');
    writeFileSync(join(dir, 'src', 'a', 'b', 'c.pyc'), '');
    writeFileSync(join(dir, 'src', 'a', 'main.py'), '');
    writeFileSync(join(dir, 'src', '.env'), '');
    const ignore = IgnoreMatcher.parse('# comment\nnode_modules\n/logs\n!logs/keep/important.log\n**/*.pyc\n.env\n');
    const entries = await collectEntries([{ hostPath: join(dir, 'src'), destination: '/app', ignore }]);
    assert.deepEqual(
      entries.map((e) => e.path),
      ['app', 'app/a', 'app/a/b', 'app/a/main.py', 'app/logs', 'app/logs/keep', 'app/logs/keep/important.log'],
    );
  });

  it('matches dockerignore semantics for parents and last-match-wins', () => {
    const m = new IgnoreMatcher(['*.md', '!README.md', 'docs/', 'build/**', '!build/keep']);
    assert.equal(m.ignores('notes.md'), true);
    assert.equal(m.ignores('README.md'), false);
    assert.equal(m.ignores('sub/notes.md'), false, '* does not cross folders');
    assert.equal(m.ignores('docs/x/y.txt'), true, 'a matching parent folder excludes its content');
    assert.equal(m.ignores('build/out.o'), true);
    assert.equal(m.ignores('build/keep'), false);
    assert.equal(new IgnoreMatcher(['**']).ignores('any/thing'), true);
    assert.equal(new IgnoreMatcher(['?.txt']).ignores('a.txt'), true);
  });

  it('excludes .env files in every folder for **.env (moby: ** inside a segment crosses folders)', async () => {
    mkdirSync(join(dir, 'src', 'config'), { recursive: true });
    mkdirSync(join(dir, 'src', 'lib'), { recursive: true });
    writeFileSync(join(dir, 'src', '.env'), 'TOKEN=1');
    writeFileSync(join(dir, 'src', 'config', '.env'), 'TOKEN=2');
    writeFileSync(join(dir, 'src', 'config', 'prod.env'), 'TOKEN=3');
    writeFileSync(join(dir, 'src', 'lib', 'main.py'), '');
    const entries = await collectEntries([{ hostPath: join(dir, 'src'), destination: '/app', ignore: IgnoreMatcher.parse('**.env\n') }]);
    assert.deepEqual(
      entries.map((e) => e.path),
      ['app', 'app/config', 'app/lib', 'app/lib/main.py'],
    );
  });

  it('walks an excluded folder the way the builder does: parent results, wildcard exceptions', async () => {
    mkdirSync(join(dir, 'src', 'd'), { recursive: true });
    mkdirSync(join(dir, 'src', 'logs', 'x'), { recursive: true });
    writeFileSync(join(dir, 'src', 'd', 'f'), '');
    writeFileSync(join(dir, 'src', 'd', 'g'), '');
    writeFileSync(join(dir, 'src', 'logs', 'a.log'), '');
    writeFileSync(join(dir, 'src', 'logs', 'x', 'important.log'), '');
    // 'd/f' then '!d': the builder (MatchesUsingParentResults) evaluates '!d' against 'd/f' only, so d/f stays excluded.
    // 'logs' then '!**/important.log': an exception with a wildcard makes the builder walk the excluded folder.
    const ignore = IgnoreMatcher.parse('d/f\n!d\nlogs\n!**/important.log\n');
    const entries = await collectEntries([{ hostPath: join(dir, 'src'), destination: '/app', ignore }]);
    assert.deepEqual(
      entries.map((e) => e.path),
      ['app', 'app/d', 'app/d/g', 'app/logs', 'app/logs/x', 'app/logs/x/important.log'],
    );
  });

  it('reads .dockerignore like moby: only a leading # is a comment, \\ escapes', async () => {
    mkdirSync(join(dir, 'src'));
    for (const name of ['#x', '# not a comment', 'a*b', 'axb']) writeFileSync(join(dir, 'src', name), '');
    const ignore = IgnoreMatcher.parse('#x\n  # not a comment\na\\*b\n');
    const entries = await collectEntries([{ hostPath: join(dir, 'src'), destination: '/app', ignore }]);
    assert.deepEqual(
      entries.map((e) => e.path),
      ['app', 'app/#x', 'app/axb'],
    );
  });

  it('refuses a malformed .dockerignore pattern, naming the file and line', () => {
    assert.throws(
      () => IgnoreMatcher.parse('node_modules\n\n# c\n[a-\n', { file: '/src/.dockerignore', input: 'appDirectory' }),
      (err: unknown) =>
        err instanceof UserError &&
        err.input === 'appDirectory' &&
        /\/src\/\.dockerignore' line 4: pattern '\[a-' is malformed/.test(err.message) &&
        !err.message.includes('\n'),
    );
    assert.throws(() => IgnoreMatcher.parse('ok\n!\n', { file: '.dockerignore' }), /line 2: illegal exclusion pattern/);
  });

  it('puts a single model file under the destination folder', async () => {
    writeFileSync(join(dir, 'model.onnx'), 'w');
    const entries: TarEntry[] = await collectEntries([{ hostPath: join(dir, 'model.onnx'), destination: '/models/resnet' }]);
    assert.deepEqual(
      entries.map((e) => `${e.type}:${e.path}`),
      ['dir:models', 'dir:models/resnet', 'file:models/resnet/model.onnx'],
    );
  });

  it('fails clearly when a file changes size while it is packed', async () => {
    writeFileSync(join(dir, 'f'), 'abc');
    const entries = await collectEntries([{ hostPath: join(dir, 'f'), destination: '/m' }]);
    writeFileSync(join(dir, 'f'), 'abcdef');
    await assert.rejects(buffer(tarStream(entries)), /changed size/);
  });
});
