/** Large random test files, written in chunks (memory bounded). */
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, openSync, writeSync } from 'node:fs';

/** Write `size` random bytes to `file`; returns their sha256 (hex) and MD5 (base64). */
export function writeRandomFile(file: string, size: number): { sha256: string; md5: string } {
  const sha = createHash('sha256');
  const md5 = createHash('md5');
  const fd = openSync(file, 'w');
  try {
    for (let done = 0; done < size;) {
      const n = Math.min(4 * 1024 * 1024, size - done);
      const b = randomBytes(n);
      sha.update(b);
      md5.update(b);
      writeSync(fd, b);
      done += n;
    }
  } finally {
    closeSync(fd);
  }
  return { sha256: sha.digest('hex'), md5: md5.digest('base64') };
}
