/**
 * Temp-then-rename: new content appears at its final path whole or not at
 * all. It is first written under a hidden temporary sibling
 * (`.<name>.partial-<random>`: same folder, hence same file system, so the
 * rename(2) that publishes it is atomic), then renamed into place:
 * writeFileAtomic() for a file's content, replacePath() for a finished file
 * or folder (what is already there is renamed aside, put back on failure,
 * deleted on success).
 */
import { randomBytes } from 'node:crypto';
import { rename, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

/** A fresh hidden name beside `path` for content that will be renamed to `path`. */
export function tempSibling(path: string): string {
  return join(dirname(path), `.${basename(path)}.partial-${randomBytes(6).toString('hex')}`);
}

/** True for a name tempSibling() or replacePath() leave behind when a run is killed (`.*.partial-*`, `.*.old-*`). */
export function isTemporaryName(name: string): boolean {
  return name.startsWith('.') && (name.includes('.partial-') || name.includes('.old-'));
}

/**
 * Moves `src` (a file or folder) to `dest`, replacing whatever is there:
 * `dest` is renamed aside first (no check-then-rename race; absent is fine),
 * put back if the move fails, and deleted once it succeeds. Errors are the
 * file system's own; callers name their input.
 */
export async function replacePath(src: string, dest: string): Promise<void> {
  const old = join(dirname(dest), `.${basename(dest)}.old-${randomBytes(6).toString('hex')}`);
  let movedAside = false;
  try {
    await rename(dest, old);
    movedAside = true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  try {
    await rename(src, dest);
  } catch (err) {
    if (movedAside) await rename(old, dest).catch(() => undefined);
    throw err;
  }
  if (movedAside) await rm(old, { recursive: true, force: true });
}

/**
 * Writes a file through a temporary sibling and one rename over `path`:
 * readers see the old content or the new, never a half-written file. `mode`
 * applies to the new file (e.g. 0o600 for secrets). The temporary is removed
 * when anything fails.
 */
export async function writeFileAtomic(path: string, data: string | Uint8Array, options: { mode?: number } = {}): Promise<void> {
  const tmp = tempSibling(path);
  try {
    await writeFile(tmp, data, options.mode === undefined ? undefined : { mode: options.mode });
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}
