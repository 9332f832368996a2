/**
 * Makes sure a task's bundle in dist/tasks/<task>/ is built from the sources
 * on disk before anything runs it: rebuilt (scripts/build.mjs <task>) when it
 * is missing or older than any of its inputs, at most once per process and
 * task. Inputs are every file under tasks/<task>/ and shared/,
 * scripts/build.mjs, package.json, package-lock.json and npm's
 * node_modules/.package-lock.json (touched by every install).
 *
 * Why by modification time and not "always once per process": `npm test`, the
 * demo and the benches build first, so a check that finds the bundle current
 * costs a few milliseconds where a rebuild costs 1-3 s per task; editing a
 * source, or a checkout that changes one, gives it a newer mtime and so a
 * rebuild on the next run of a single test file.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

const checked = new Set<string>();

function newestUnder(dir: string): number {
  let newest = 0;
  let entries: import('node:fs').Dirent[];
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return 0;
  }
  for (const e of entries) {
    const p = join(dir, e.name);
    if (e.isDirectory()) newest = Math.max(newest, newestUnder(p));
    else if (e.isFile()) newest = Math.max(newest, statSync(p).mtimeMs);
  }
  return newest;
}

function mtimeOf(file: string): number {
  try {
    return statSync(file).mtimeMs;
  } catch {
    return 0;
  }
}

/** Why the bundle must be rebuilt, or undefined when it is current. */
export function staleReason(task: string, root: string): string | undefined {
  const bundle = join(root, 'dist', 'tasks', task, 'index.js');
  if (!existsSync(bundle)) return `${bundle} is missing`;
  const built = mtimeOf(bundle);
  const inputs: Array<[string, number]> = [
    [`tasks/${task}/`, newestUnder(join(root, 'tasks', task))],
    ['shared/', newestUnder(join(root, 'shared'))],
    ...['scripts/build.mjs', 'scripts/lib/task-validation.ts', 'package.json', 'package-lock.json', 'node_modules/.package-lock.json'].map(
      (f): [string, number] => [f, mtimeOf(join(root, f))],
    ),
  ];
  const newer = inputs.filter(([, t]) => t > built).map(([name]) => name);
  return newer.length ? `${newer.join(', ')} changed since it was built` : undefined;
}

/** Rebuilds dist/tasks/<task> when it is missing or stale; checks each task once per process. */
export function ensureFreshBundle(task: string, root: string = join(__dirname, '..', '..')): void {
  const key = `${root}\0${task}`;
  if (checked.has(key)) return;
  const reason = staleReason(task, root);
  if (reason) {
    const started = Date.now();
    try {
      execFileSync(process.execPath, [join(root, 'scripts', 'build.mjs'), task], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    } catch (err) {
      const e = err as { stdout?: Buffer; stderr?: Buffer };
      throw new Error(`Building ${task} failed (${reason}):\n${e.stdout?.toString() ?? ''}${e.stderr?.toString() ?? ''}`);
    }
    process.stderr.write(`  (rebuilt dist/tasks/${task} in ${((Date.now() - started) / 1000).toFixed(1)} s: ${reason})\n`);
  }
  checked.add(key);
}
