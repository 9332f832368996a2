/**
 * Atomic placement of a downloaded file or folder.
 *
 * A download is written to a temporary sibling of its final path (same folder,
 * hence same filesystem, so rename(2) is atomic) whose name starts with `.`
 * and contains `.partial-`: nothing there looks like a model. Only after the
 * content is complete and verified is it renamed to the final path. An
 * existing file or folder at the final path is first renamed away
 * (`.<name>.old-<random>`), the new one renamed in, then the old one
 * deleted; if the second rename fails, the old one is put back. On failure
 * the temporary is deleted. The temporary names and the rename-aside are
 * shared/fs/atomic-write.ts's (tempSibling, replacePath); this module adds the
 * destination checks and the messages that name the 'destination' input.
 *
 * Every path placement writes, renames or deletes is a STRICT descendant of
 * the folder it is placing into (`within`, the `destination` input): the
 * final path is checked lexically before anything is created, then again on
 * real paths (symlinks resolved) once its parent exists. A final path equal
 * to that folder, outside it, or ending in `.`/`..` is refused with a
 * UserError (code PathOutsideDestination), whatever a store listed.
 *
 *   const p = await beginPlacement('/agent/_temp/model/model.onnx', 'file', { within: '/agent/_temp/model' });
 *   try { await download(p.tempPath); await verify(); await p.commit(); }
 *   catch (e) { await p.abort(); throw e; }
 */
import { mkdir, readdir, realpath, rm } from 'node:fs/promises';
import { basename, dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { UserError, errorMessage } from '../errors';
import { isTemporaryName, replacePath, tempSibling } from '../fs/atomic-write';
import { ensureDir } from '../fs/ensure-dir';

type PlacementKind = 'file' | 'folder';

export interface Placement {
  readonly finalPath: string;
  /** Where to write: a file path (kind 'file', not yet created) or an existing empty folder (kind 'folder'). */
  readonly tempPath: string;
  readonly kind: PlacementKind;
  /** Move the temporary into place, replacing what was there. */
  commit(): Promise<void>;
  /** Remove the temporary (idempotent; safe after commit). */
  abort(): Promise<void>;
}

function notWritable(dir: string, err: unknown): UserError {
  return new UserError(
    `The destination folder ${dir} cannot be created or written (${errorMessage(err)}); set the 'destination' input to a folder the agent's user can write to.`,
    { code: 'DestinationNotWritable', input: 'destination', cause: err },
  );
}

/** Create `dir` (and parents) and check that it is a writable folder; UserError naming 'destination' otherwise. */
export async function ensureWritableDir(dir: string): Promise<void> {
  try {
    await ensureDir(dir); // level by level: recursive mkdir loops forever under /proc
  } catch (err) {
    throw notWritable(dir, err);
  }
}

function outside(root: string, p: string, why: string): UserError {
  return new UserError(
    `Refusing to place the model at ${p}: ${why}, and a model is only ever written inside the destination folder ${root}; this is a bug or a hostile store listing, nothing was written.`,
    { code: 'PathOutsideDestination', input: 'destination' },
  );
}

/** `p` relative to `root` when it is a strict descendant, else undefined. */
function strictlyBelow(root: string, p: string): string | undefined {
  const r = relative(root, p);
  if (r === '' || r === '..' || r.startsWith(`..${sep}`) || isAbsolute(r)) return undefined;
  return r;
}

/**
 * Start placing a file or folder at `finalPath`, which must be a strict
 * descendant of `options.within` (the destination folder; every caller names
 * it, so a caller that normalised `dest/..` into `dest`'s parent is caught
 * here); creates the parent folder when needed.
 */
export async function beginPlacement(finalPath: string, kind: PlacementKind, options: { within: string }): Promise<Placement> {
  const raw = finalPath.split(/[\\/]+/).pop() ?? '';
  const root = resolve(options.within);
  if (raw === '' || raw === '.' || raw === '..') throw outside(root, finalPath, `its last segment is '${raw}'`);
  if (strictlyBelow(root, resolve(finalPath)) === undefined) throw outside(root, finalPath, 'it is not below the destination');
  const lexicalParent = dirname(resolve(finalPath));
  const name = basename(resolve(finalPath));
  // Symlinks already inside the destination must not lead the model elsewhere:
  // check the real path before creating any folder, and again once it exists.
  const checkParent = async (): Promise<string> => {
    let realRoot: string;
    let parent: string;
    try {
      realRoot = await realOfNearest(root);
      parent = await realOfNearest(lexicalParent);
    } catch (err) {
      throw notWritable(lexicalParent, err);
    }
    if (parent !== realRoot && strictlyBelow(realRoot, parent) === undefined) throw outside(root, finalPath, `its folder resolves to ${parent}`);
    return parent;
  };
  await checkParent();
  await ensureWritableDir(lexicalParent);
  const parent = await checkParent();
  const target = join(parent, name);
  let tempPath: string;
  try {
    tempPath = tempSibling(target);
    if (kind === 'folder') await mkdir(tempPath, { mode: 0o700 });
  } catch (err) {
    throw notWritable(parent, err);
  }
  let committed = false;
  return {
    finalPath,
    tempPath,
    kind,
    async commit() {
      if (committed) return;
      await replaceAtomically(tempPath, target);
      committed = true;
    },
    async abort() {
      if (committed) return;
      await rm(tempPath, { recursive: true, force: true });
    },
  };
}

/** realpath of `p`, or of its nearest existing ancestor with the rest appended. */
async function realOfNearest(p: string): Promise<string> {
  const rest: string[] = [];
  let at = p;
  for (;;) {
    try {
      return join(await realpath(at), ...rest.reverse());
    } catch (err) {
      const up = dirname(at);
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT' || up === at) throw err;
      rest.push(basename(at));
      at = up;
    }
  }
}

/** rename(src, dest), replacing an existing file or folder at dest safely. */
export async function replaceAtomically(src: string, dest: string): Promise<void> {
  try {
    await replacePath(src, dest);
  } catch (err) {
    throw new UserError(
      `Cannot move the downloaded model into place at ${dest} (${errorMessage(err)}); check that the 'destination' folder is writable and not in use.`,
      {
        code: 'DestinationNotWritable',
        input: 'destination',
        cause: err,
      },
    );
  }
}

/**
 * Remove temporaries left in `dir` by earlier runs that were killed
 * (`.*.partial-*`, `.*.old-*`). Best effort; returns what was removed.
 */
export async function sweepStaleTemporaries(dir: string): Promise<string[]> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return [];
  }
  const removed: string[] = [];
  for (const n of names) {
    if (isTemporaryName(n)) {
      await rm(join(dir, n), { recursive: true, force: true }).catch(() => undefined);
      removed.push(n);
    }
  }
  return removed;
}
