import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ChecksumMismatchError, InputError } from '../../../shared/errors';
import type { StoredObject } from '../../../shared/storage/store';
import { judge, manifestDigest, manifestText, normaliseSha256, parseExpectedSha256, planVerification, verifyOrThrow } from '../../../shared/download/verify';

const data = Buffer.from('model weights');
const SHA_HEX = createHash('sha256').update(data).digest('hex');
const SHA_B64 = createHash('sha256').update(data).digest('base64');
const MD5_B64 = createHash('md5').update(data).digest('base64');
const MD5_HEX = createHash('md5').update(data).digest('hex');
const OTHER_HEX = 'ab'.repeat(32);
const obj = (o: Partial<StoredObject>): StoredObject => ({ key: 'm/model.onnx', size: data.length, lastModified: new Date(0), ...o });

describe('download/verify', () => {
  describe('parseExpectedSha256', () => {
    it('accepts 64 hex characters in any case, with or without a sha256: prefix', () => {
      assert.equal(parseExpectedSha256(SHA_HEX.toUpperCase()), SHA_HEX);
      assert.equal(parseExpectedSha256(`sha256:${SHA_HEX}`), SHA_HEX);
      assert.equal(parseExpectedSha256(`  ${SHA_HEX}\n`), SHA_HEX);
    });
    it('treats empty as none', () => {
      assert.equal(parseExpectedSha256(''), undefined);
      assert.equal(parseExpectedSha256(undefined), undefined);
    });
    for (const bad of ['abc', SHA_HEX.slice(1), `${SHA_HEX}0`, 'g'.repeat(64), SHA_B64]) {
      it(`rejects ${JSON.stringify(bad.slice(0, 20))}... with an InputError naming expectedSha256`, () => {
        assert.throws(
          () => parseExpectedSha256(bad),
          (e: unknown) => e instanceof InputError && e.input === 'expectedSha256' && /64 hexadecimal/.test(e.message),
        );
      });
    }
  });

  it('normalises sha256 written as hex or base64', () => {
    assert.equal(normaliseSha256(SHA_B64), SHA_HEX);
    assert.equal(normaliseSha256(SHA_HEX.toUpperCase()), SHA_HEX);
    assert.equal(normaliseSha256('not a hash'), undefined);
    assert.equal(normaliseSha256(MD5_B64), undefined);
  });

  describe('planVerification', () => {
    const rows: { name: string; object: StoredObject; kind: 'azureBlob' | 's3'; expected?: string; hashes: string[]; methods: string[]; notes?: RegExp }[] = [
      { name: 'nothing published', object: obj({}), kind: 'azureBlob', hashes: ['sha256'], methods: [] },
      { name: 'expectedSha256 input', object: obj({}), kind: 's3', expected: SHA_HEX, hashes: ['sha256'], methods: ['expectedSha256 input'] },
      { name: 'sha256 metadata as hex', object: obj({ metadata: { sha256: SHA_HEX } }), kind: 'azureBlob', hashes: ['sha256'], methods: ['sha256 metadata'] },
      { name: 'sha256 metadata as base64', object: obj({ metadata: { sha256: SHA_B64 } }), kind: 's3', hashes: ['sha256'], methods: ['sha256 metadata'] },
      {
        name: 'unusable sha256 metadata is a note',
        object: obj({ metadata: { sha256: 'xyz' } }),
        kind: 's3',
        hashes: ['sha256'],
        methods: [],
        notes: /metadata/,
      },
      { name: 'single-part S3 checksum', object: obj({ checksumSha256: SHA_B64 }), kind: 's3', hashes: ['sha256'], methods: ['x-amz-checksum-sha256'] },
      {
        name: 'multipart S3 checksum is not used',
        object: obj({ checksumSha256: `${SHA_B64}-3` }),
        kind: 's3',
        hashes: ['sha256'],
        methods: [],
        notes: /multipart/,
      },
      {
        name: 'blob Content-MD5',
        object: obj({ contentMd5: MD5_B64, etag: '0x8DC1234567890AB' }),
        kind: 'azureBlob',
        hashes: ['sha256', 'md5'],
        methods: ['Content-MD5'],
      },
      { name: 'S3 single-part ETag is MD5', object: obj({ etag: MD5_HEX }), kind: 's3', hashes: ['sha256', 'md5'], methods: ['ETag (MD5)'] },
      { name: 'S3 quoted ETag', object: obj({ etag: `"${MD5_HEX}"` }), kind: 's3', hashes: ['sha256', 'md5'], methods: ['ETag (MD5)'] },
      { name: 'S3 multipart ETag is not MD5', object: obj({ etag: `${MD5_HEX}-12` }), kind: 's3', hashes: ['sha256'], methods: [] },
      { name: 'Azure 32-hex ETag is not MD5', object: obj({ etag: MD5_HEX }), kind: 'azureBlob', hashes: ['sha256'], methods: [] },
      {
        name: 'sha256 source makes MD5 unnecessary',
        object: obj({ metadata: { sha256: SHA_HEX }, contentMd5: MD5_B64 }),
        kind: 'azureBlob',
        hashes: ['sha256'],
        methods: ['sha256 metadata'],
      },
      {
        name: 'user input and metadata are both checked',
        object: obj({ metadata: { sha256: SHA_HEX }, checksumSha256: SHA_B64 }),
        kind: 's3',
        expected: SHA_HEX,
        hashes: ['sha256'],
        methods: ['expectedSha256 input', 'sha256 metadata', 'x-amz-checksum-sha256'],
      },
    ];
    for (const r of rows) {
      it(r.name, () => {
        const plan = planVerification(r.object, r.kind, r.expected);
        assert.deepEqual(plan.hashes, r.hashes);
        assert.deepEqual(
          plan.expectations.map((e) => e.method),
          r.methods,
        );
        if (r.notes) assert.match(plan.notes.join('\n'), r.notes);
        // With the right bytes, every plan that has an expectation verifies.
        const v = judge(plan, { sha256: SHA_HEX, md5: MD5_B64 });
        assert.equal(v.verified, r.methods.length > 0);
        assert.equal(v.mismatch, undefined);
      });
    }
    it('rejects an invalid expectedSha256', () => assert.throws(() => planVerification(obj({}), 's3', 'nope'), InputError));
  });

  describe('judge', () => {
    it('reports the method of a verified download', () => {
      const v = judge(planVerification(obj({ contentMd5: MD5_B64 }), 'azureBlob'), { sha256: SHA_HEX, md5: MD5_B64 });
      assert.deepEqual(v, { verified: true, method: 'Content-MD5' });
    });
    it('reports none when nothing could be checked', () => {
      assert.deepEqual(judge(planVerification(obj({}), 's3'), { sha256: SHA_HEX }), { verified: false, method: 'none' });
    });
    it('names expected, actual and source on a mismatch', () => {
      const plan = planVerification(obj({ metadata: { sha256: OTHER_HEX } }), 's3');
      const v = judge(plan, { sha256: SHA_HEX });
      assert.deepEqual(v.mismatch, { method: 'sha256 metadata', algorithm: 'sha256', expected: OTHER_HEX, actual: SHA_HEX });
      assert.throws(
        () => verifyOrThrow('s3://b/m/model.onnx', plan, { sha256: SHA_HEX }),
        (e: unknown) =>
          e instanceof ChecksumMismatchError &&
          e.message.includes(OTHER_HEX) &&
          e.message.includes(SHA_HEX) &&
          e.message.includes('sha256 metadata') &&
          e.message.includes('s3://b/m/model.onnx'),
      );
    });
    it('blames the expectedSha256 input when that is what differs', () => {
      const plan = planVerification(obj({}), 's3', OTHER_HEX);
      assert.throws(
        () => verifyOrThrow('s3://b/k', plan, { sha256: SHA_HEX }),
        (e: unknown) => e instanceof ChecksumMismatchError && e.input === 'expectedSha256',
      );
    });
    it('fails on an MD5 mismatch from Content-MD5', () => {
      const plan = planVerification(obj({ contentMd5: createHash('md5').update('other').digest('base64') }), 'azureBlob');
      const v = judge(plan, { sha256: SHA_HEX, md5: MD5_B64 });
      assert.equal(v.verified, false);
      assert.equal(v.mismatch?.method, 'Content-MD5');
    });
  });

  describe('manifest digest', () => {
    const a = 'a'.repeat(64);
    const b = 'b'.repeat(64);
    it('sorts by path bytes and uses "path sha256\\n" lines with / separators', () => {
      const text = manifestText([
        { path: 'sub\\z.bin', sha256: b },
        { path: 'B.txt', sha256: a },
        { path: './a.txt', sha256: a.toUpperCase() },
        { path: 'sub/a.bin', sha256: b },
        { path: 'é.bin', sha256: a },
      ]);
      assert.equal(text, `B.txt ${a}\na.txt ${a}\nsub/a.bin ${b}\nsub/z.bin ${b}\né.bin ${a}\n`);
    });
    it('is independent of input order', () => {
      const e = [
        { path: 'x/1', sha256: a },
        { path: 'x/2', sha256: b },
      ];
      assert.equal(manifestDigest(e), manifestDigest([...e].reverse()));
      assert.equal(manifestDigest(e), createHash('sha256').update(`x/1 ${a}\nx/2 ${b}\n`).digest('hex'));
    });
    it('matches the documented shell pipeline', function () {
      const dir = mkdtempSync(join(tmpdir(), 'manifest-'));
      try {
        mkdirSync(join(dir, 'sub', 'deeper'), { recursive: true });
        const files: Record<string, string> = { 'config.json': '{}', 'sub/weights.bin': 'w'.repeat(1000), 'sub/deeper/Tok.txt': 'tok', 'Z.md': 'z' };
        for (const [p, c] of Object.entries(files)) writeFileSync(join(dir, p), c);
        const expected = manifestDigest(Object.entries(files).map(([path, c]) => ({ path, sha256: createHash('sha256').update(c).digest('hex') })));
        const shell = execFileSync('sh', [
          '-c',
          `cd "${dir}" && find . -type f -printf '%P\\0' | LC_ALL=C sort -z | xargs -0 sha256sum | awk '{print $2" "$1}' | sha256sum`,
        ]).toString();
        assert.equal(shell.split(' ')[0], expected);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  });
});
