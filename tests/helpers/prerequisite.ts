/**
 * A test that needs something from the machine (a Debian package, a Docker
 * engine) says so: on a developer's machine it is skipped with the reason and
 * the command that installs it; under CI (see ./ci.cjs: .ci/run exports
 * CI=true), where .ci/run installs everything, a missing prerequisite fails
 * the run instead of shrinking it.
 */
import { strict as assert } from 'node:assert';
import type { Context } from 'mocha';
import { inCI } from './ci.cjs';

export { inCI };

export function requirePrerequisite(ctx: Context, available: boolean, what: string): void {
  if (!available) missingPrerequisite(ctx, what);
}

/** Skips (locally) or fails (under CI) because `what` is missing; never returns. */
export function missingPrerequisite(ctx: Context, what: string): never {
  if (inCI()) assert.fail(`${what} is missing: .ci/run should have provided it.`);
  console.log(`    skipped: ${what} is missing (run .ci/run as root, or see the README for the packages)`);
  ctx.skip();
  throw new Error('unreachable: mocha skip() throws');
}
