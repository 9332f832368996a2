/**
 * ensureDir(): create a folder the user named, safely. Node's
 * `mkdir(p, { recursive: true })` spins a CPU forever where mkdir answers
 * ENOENT for a parent that exists (e.g. anywhere under /proc), so this walks
 * up to the first existing ancestor, checks it is a writable folder, and
 * creates the missing levels one by one without `recursive`. Every failure
 * is an {@link EnsureDirError} naming the level that could not be used;
 * callers turn it into a line naming their input.
 */
import { constants } from 'node:fs';
import { access, mkdir, stat } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';

export class EnsureDirError extends Error {
  constructor(
    /** The level that could not be used or created. */
    readonly path: string,
    message: string,
    /** errno code when the system gave one (ENOENT, EACCES, ENOTDIR...). */
    readonly code?: string,
    cause?: unknown,
  ) {
    super(message, cause === undefined ? undefined : { cause });
    this.name = 'EnsureDirError';
  }
}

const codeOf = (err: unknown): string | undefined => (err as NodeJS.ErrnoException | undefined)?.code;

async function statOrUndefined(p: string): Promise<import('node:fs').Stats | undefined> {
  try {
    return await stat(p);
  } catch (err) {
    // ENOTDIR: a level above is a file; the walk up reports that level.
    if (codeOf(err) === 'ENOENT' || codeOf(err) === 'ENOTDIR') return undefined;
    throw new EnsureDirError(p, `cannot read ${p} (${codeOf(err) ?? String(err)})`, codeOf(err), err);
  }
}

async function assertWritableFolder(p: string): Promise<void> {
  try {
    await access(p, constants.W_OK | constants.X_OK);
  } catch (err) {
    throw new EnsureDirError(p, `${p} is not writable (${codeOf(err) ?? String(err)})`, codeOf(err), err);
  }
}

/**
 * Makes sure `dir` is an existing, writable folder. Returns the levels it
 * created, top first (empty when `dir` existed). `mode` applies to each
 * created level (before the umask).
 */
export async function ensureDir(dir: string, options: { mode?: number } = {}): Promise<string[]> {
  if (!dir || dir.includes('\0')) throw new EnsureDirError(dir, `'${dir.replace(/\0/g, '\\0')}' is not a usable folder path`);
  const target = resolve(dir);
  const missing: string[] = [];
  let current = target;
  for (;;) {
    const st = await statOrUndefined(current);
    if (st) {
      if (!st.isDirectory()) throw new EnsureDirError(current, `${current} exists and is not a folder`, 'ENOTDIR');
      break;
    }
    missing.unshift(current);
    const parent = dirname(current);
    if (parent === current) throw new EnsureDirError(current, `cannot create ${current} (no existing parent folder)`, 'ENOENT');
    current = parent;
  }
  // `current` is the first existing ancestor (or the target itself).
  await assertWritableFolder(current);
  for (const level of missing) {
    try {
      await mkdir(level, options.mode === undefined ? undefined : { mode: options.mode });
    } catch (err) {
      // Made concurrently by someone else: fine if it is a folder.
      if (codeOf(err) === 'EEXIST' && (await statOrUndefined(level))?.isDirectory()) continue;
      throw new EnsureDirError(level, `cannot create ${level} (${codeOf(err) ?? String(err)})`, codeOf(err), err);
    }
  }
  return missing;
}
