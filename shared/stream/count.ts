/**
 * CountingStream: a pass-through stream that counts the bytes flowing through
 * it (and optionally reports each chunk's size, e.g. to a progress meter).
 * The one byte counter of the library; the hashing stream builds on it.
 */
import { Transform, type TransformCallback, type TransformOptions } from 'node:stream';

export class CountingStream extends Transform {
  /** Bytes seen so far. */
  bytes = 0;

  constructor(
    private readonly onBytes?: (n: number) => void,
    options?: TransformOptions,
  ) {
    super(options);
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.bytes += chunk.length;
    this.onBytes?.(chunk.length);
    cb(null, chunk);
  }
}
