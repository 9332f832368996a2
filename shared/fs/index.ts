/**
 * Public surface of shared/fs/: file-system primitives: temp-then-rename writes and directory creation.
 * Code outside this folder imports from here; modules inside import each other directly.
 */
export { isTemporaryName, replacePath, tempSibling, writeFileAtomic } from './atomic-write';
export { ensureDir, EnsureDirError } from './ensure-dir';
