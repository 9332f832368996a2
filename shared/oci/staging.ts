/**
 * The output folder of an image build is replaced as a whole: the layout is
 * written into a hidden staging folder beside it and swapped in only when
 * complete. The folder must be absent, empty or an earlier OCI image layout
 * (it holds an `oci-layout` file), so a build never deletes a folder it did
 * not make. Shared by daemonless and Docker modes.
 */
import { promises as fsp } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { errorMessage, InputError } from '../errors';
import { replacePath, tempSibling } from '../fs/atomic-write';
import { ensureDir, EnsureDirError } from '../fs/ensure-dir';

/** The `outputPath` option, required, resolved and checked replaceable. */
export async function resolveOutputPath(given: string | undefined): Promise<string> {
  if (!given?.trim()) throw new InputError('outputPath', `Input 'outputPath' is required: name the folder to write the OCI image layout into.`);
  const outputPath = resolve(given);
  await assertReplaceableOutput(outputPath, given);
  return outputPath;
}

/** InputError unless outputPath is absent, an empty folder or an OCI image layout. */
async function assertReplaceableOutput(outputPath: string, given: string = outputPath): Promise<void> {
  const st = await fsp.stat(outputPath).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT' || err.code === 'ENOTDIR') return undefined;
    throw new InputError(
      'outputPath',
      `Output path '${given}' given in 'outputPath' cannot be read (${err.code ?? err.message}): choose a folder the agent can write to.`,
      err,
    );
  });
  if (!st) return;
  if (!st.isDirectory())
    throw new InputError(
      'outputPath',
      `Output path '${given}' given in 'outputPath' is a file, not a folder: name a new or empty folder, or one holding an earlier image layout.`,
    );
  const names = await fsp.readdir(outputPath);
  if (names.length === 0 || names.includes('oci-layout')) return;
  throw new InputError(
    'outputPath',
    `Output path '${given}' given in 'outputPath' is a folder holding other files and no OCI image layout (no oci-layout file), and BundleModelImage replaces its output folder: name a new or empty folder, e.g. $(Build.ArtifactStagingDirectory)/image.`,
  );
}

/** Creates the parent of outputPath and a fresh staging folder next to it; clear error when not writable. */
export async function prepareStaging(outputPath: string): Promise<string> {
  const staging = tempSibling(outputPath);
  try {
    await ensureDir(dirname(outputPath));
    await fsp.mkdir(staging);
  } catch (err) {
    const why = err instanceof EnsureDirError ? err.message : ((err as NodeJS.ErrnoException).code ?? errorMessage(err));
    throw new InputError(
      'outputPath',
      `Output path '${outputPath}' given in 'outputPath' is not writable (${why}): choose a folder the agent can write to, e.g. under $(Build.ArtifactStagingDirectory).`,
      err,
    );
  }
  return staging;
}

/** Replaces outputPath by the finished staging folder (the old content goes only once the new one is in place). */
export async function publishStaging(staging: string, outputPath: string): Promise<void> {
  await assertReplaceableOutput(outputPath); // again: it may have changed while the image was written
  try {
    await replacePath(staging, outputPath);
  } catch (err) {
    throw new InputError(
      'outputPath',
      `Output path '${outputPath}' cannot be replaced (${(err as NodeJS.ErrnoException).code}): make sure it is a folder nothing else holds open.`,
      err,
    );
  }
}
