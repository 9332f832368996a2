/**
 * Store keys become local paths only through this module.
 *
 * An S3 key or blob name is an arbitrary string: real S3 stores
 * `models/v1/../../../../etc/x` as a plain key and the AWS SDK sends it raw.
 * The part of a key below the model prefix is what FetchModel turns into a
 * path under `destination`, so that part must be a plain relative path: no
 * empty, `.` or `..` segment, no backslash (a separator on Windows agents),
 * no leading `/`, no NUL. A key that breaks this is never used; FetchModel
 * fails with one line naming the key and where it lives. The `modelPath`
 * input obeys the same rules (its last segment can become the local folder
 * name), except that a trailing `/` marks a prefix.
 */
import { InputError, UserError } from '../errors';
import type { ResolvedModel } from './resolve';

/** Why `rel` (a key's part below the model prefix) cannot be a local relative path, or undefined when it can. */
export function unsafeKeyReason(rel: string): string | undefined {
  if (rel.includes('\0')) return 'it contains a NUL character';
  if (rel.includes('\\')) return 'it contains a backslash, a folder separator on Windows';
  if (rel.startsWith('/')) return "it has a leading '/' (an absolute path or an empty folder name)";
  for (const segment of rel.split('/')) {
    if (segment === '..') return "it has a '..' segment, which would point outside the destination";
    if (segment === '.') return "it has a '.' segment";
    if (segment === '') return "it has an empty folder or file name ('//' or a trailing '/')";
  }
  return undefined;
}

/** The prefix below which a resolved model's keys become local paths. */
function localBase(model: ResolvedModel, modelPath: string): string {
  const path = modelPath.trim().replace(/^\/+/, '');
  if (path.endsWith('/')) return path;
  if (model.kind === 'file' && model.rootKey === path) return path.slice(0, path.lastIndexOf('/') + 1);
  return `${path}/`;
}

/**
 * Check every key of a resolved model before any of it is used as a local
 * path: the part of each key below `modelPath` must be a plain relative path.
 * Throws a UserError (code UnsafeStoreKey) naming the key and `location`.
 */
export function checkModelKeys(model: ResolvedModel, modelPath: string, location: string): void {
  const base = localBase(model, modelPath);
  for (const f of model.files) {
    const key = f.object.key;
    const rel = key.startsWith(base) ? key.slice(base.length) : key;
    const why = unsafeKeyReason(rel) ?? unsafeKeyReason(f.relativePath);
    if (why) {
      throw new UserError(
        `The key ${JSON.stringify(key)} in ${location} cannot be used as a local path (${why}); nothing was downloaded: rename or remove that object in the store, or point modelPath at a folder without it.`,
        { code: 'UnsafeStoreKey', input: 'modelPath' },
      );
    }
  }
}

/** The modelPath input: refused (naming the input) when a segment is `.`, `..` or empty, or it holds a backslash or NUL. */
export function checkModelPathInput(modelPath: string): void {
  const path = modelPath.trim().replace(/^\/+/, '');
  const body = path.endsWith('/') ? path.slice(0, -1) : path;
  if (!body) return; // empty: reported by the resolver with its own message
  const why = unsafeKeyReason(body);
  if (why) {
    throw new InputError(
      'modelPath',
      `The modelPath input ${JSON.stringify(modelPath)} is not a plain key or prefix: ${why}; give the key or prefix exactly as stored, without '.' or '..' segments, e.g. models/resnet/ or models/resnet/model.onnx.`,
    );
  }
}
