/**
 * shared/digest: the one module that builds, checks, takes apart and computes
 * sha256 digests (`sha256:` + 64 lowercase hex), for buffers and streams.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { assertDigest, digestOfHex, HashingStream, hexOfDigest, isDigest, isSha256Hex, sha256Digest, withoutSha256Prefix } from '../../../shared/digest';
import { UserError } from '../../../shared/errors';

const HEX = 'a'.repeat(64);
const EMPTY = 'sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';

describe('digest', () => {
  const digests: Array<[string, boolean]> = [
    [`sha256:${HEX}`, true],
    [EMPTY, true],
    [`sha256:${'A'.repeat(64)}`, false],
    [`SHA256:${HEX}`, false],
    [`sha256:${'a'.repeat(63)}`, false],
    [`sha256:${'a'.repeat(65)}`, false],
    [`sha512:${HEX}`, false],
    [HEX, false],
    [`sha256:${'g'.repeat(64)}`, false],
    [` sha256:${HEX}`, false],
    ['', false],
  ];
  for (const [value, ok] of digests) {
    it(`isDigest(${JSON.stringify(value.slice(0, 20))}...) is ${ok}; assertDigest agrees`, () => {
      assert.equal(isDigest(value), ok);
      if (ok) assert.doesNotThrow(() => assertDigest(value));
      else
        assert.throws(
          () => assertDigest(value),
          (e: unknown) => e instanceof UserError && e.code === 'InvalidDigest' && e.message.includes('64 lowercase hex'),
        );
    });
  }

  const hexes: Array<[string, boolean, boolean]> = [
    // value, lowercase only, any case
    [HEX, true, true],
    ['AB'.repeat(32), false, true],
    ['aB'.repeat(32), false, true],
    ['a'.repeat(63), false, false],
    ['g'.repeat(64), false, false],
    [`sha256:${HEX}`, false, false],
  ];
  for (const [value, lower, any] of hexes) {
    it(`isSha256Hex(${value.slice(0, 8)}… ${value.length} chars): ${lower} / anyCase ${any}`, () => {
      assert.equal(isSha256Hex(value), lower);
      assert.equal(isSha256Hex(value, { anyCase: true }), any);
    });
  }

  it('builds and takes apart sha256:<hex>', () => {
    assert.equal(digestOfHex(HEX), `sha256:${HEX}`);
    assert.equal(hexOfDigest(`sha256:${HEX}`), HEX);
    assert.throws(
      () => hexOfDigest(HEX),
      (e: unknown) => e instanceof UserError && e.code === 'InvalidDigest',
    );
  });

  const prefixes: Array<[string, string, string]> = [
    // value, exact case, any case
    [`sha256:${HEX}`, HEX, HEX],
    [`SHA256:${HEX}`, `SHA256:${HEX}`, HEX],
    [HEX, HEX, HEX],
    ['', '', ''],
    ['xsha256:1', 'xsha256:1', 'xsha256:1'],
  ];
  for (const [value, exact, any] of prefixes) {
    it(`withoutSha256Prefix(${JSON.stringify(value.slice(0, 10))})`, () => {
      assert.equal(withoutSha256Prefix(value), exact);
      assert.equal(withoutSha256Prefix(value, { anyCase: true }), any);
    });
  }

  const contents: Array<[string, Buffer | string]> = [
    ['empty', ''],
    ['text (hashed as UTF-8)', 'héllo'],
    ['bytes', Buffer.from([0, 1, 2, 255])],
  ];
  for (const [name, data] of contents) {
    it(`sha256Digest and HashingStream agree with node:crypto: ${name}`, async () => {
      const expected = `sha256:${createHash('sha256').update(data).digest('hex')}`;
      assert.equal(sha256Digest(data), expected);
      const hasher = new HashingStream();
      const out: Buffer[] = [];
      const buf = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
      await pipeline(
        Readable.from(buf.length ? [buf.subarray(0, 1), buf.subarray(1)] : []),
        hasher,
        new Writable({
          write(c: Buffer, _e, cb) {
            out.push(c);
            cb();
          },
        }),
      );
      assert.equal(hasher.digest(), expected);
      assert.equal(hasher.digest(), expected, 'digest() may be called twice');
      assert.equal(hasher.bytes, buf.length);
      assert.deepEqual(Buffer.concat(out), buf, 'passes the bytes through unchanged');
    });
  }
});
