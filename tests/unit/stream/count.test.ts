/** shared/stream/count: the one byte-counting pass-through stream. */
import assert from 'node:assert/strict';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { CountingStream } from '../../../shared/stream/count';

async function run(chunks: Buffer[], counter: CountingStream): Promise<Buffer> {
  const out: Buffer[] = [];
  await pipeline(
    Readable.from(chunks),
    counter,
    new Writable({
      write(c: Buffer, _e, cb) {
        out.push(c);
        cb();
      },
    }),
  );
  return Buffer.concat(out);
}

describe('CountingStream', () => {
  const cases: Array<[string, number[]]> = [
    ['no data', []],
    ['one chunk', [5]],
    ['several chunks', [1, 1024, 3, 65536]],
    ['an empty chunk among others', [4, 0, 4]],
  ];
  for (const [name, sizes] of cases) {
    it(`${name}: counts ${sizes.reduce((a, b) => a + b, 0)} bytes, reports each chunk, passes the bytes through`, async () => {
      const chunks = sizes.map((n, i) => Buffer.alloc(n, i + 1));
      const reported: number[] = [];
      const counter = new CountingStream((n) => reported.push(n));
      const out = await run(chunks, counter);
      const total = sizes.reduce((a, b) => a + b, 0);
      assert.equal(counter.bytes, total);
      assert.equal(
        reported.reduce((a, b) => a + b, 0),
        total,
      );
      assert.deepEqual(out, Buffer.concat(chunks));
    });
  }

  it('counts without a callback', async () => {
    const counter = new CountingStream();
    await run([Buffer.alloc(10), Buffer.alloc(7)], counter);
    assert.equal(counter.bytes, 17);
  });
});
