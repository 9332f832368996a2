/**
 * The bundles the extension ships (dist/tasks/<Name>/index.js, built by
 * scripts/build.mjs exactly as `npm run package` does) hold no test-only
 * switches: no upper-case name with TEST in it (DEPLOYTOAKS_TEST_POLL_MS...) is
 * read by our code.
 * Tests configure the tasks the way a user can (inputs, service connection
 * fields, the Azure SDK's own managed identity variables).
 *
 * Dependencies carry a few switches of their own; those are allowed by name
 * only after checking that the dependency's published files contain them and
 * our sources do not.
 */
import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const root = join(__dirname, '..', '..');

/** Switches read by third-party code inside the bundles: name -> file of the dependency that reads it. */
const THIRD_PARTY: Record<string, string> = {
  TASKLIB_TEST_MKDIRP_FAILSAFE: 'node_modules/azure-pipelines-task-lib/task.js',
  TASKLIB_TEST_TOOLRUNNER_EXITDELAY: 'node_modules/azure-pipelines-task-lib/toolrunner.js',
  __IS_WSL_TEST__: 'node_modules/is-wsl/index.js',
  __MINIMATCH_TESTING_PLATFORM__: 'node_modules/minimatch/dist/commonjs/index.js',
};

/** Upper-case names with TEST in them (DEPLOYTOAKS_TEST_POLL_MS, TEST_FOO, X_TESTING); a bare word TEST is not a switch. */
const SWITCH = /\b(?:[A-Z0-9_]+TEST[A-Z0-9_]*|TEST[A-Z0-9_]+)\b/g;

function sourceFiles(dir: string): string[] {
  return readdirSync(join(root, dir), { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile() && e.name.endsWith('.ts'))
    .map((e) => join(e.parentPath, e.name));
}

describe('shipped task bundles', function () {
  this.timeout(300_000);
  const tasks = readdirSync(join(root, 'tasks')).filter((n) => existsSync(join(root, 'tasks', n, 'task.json')));

  before(() => {
    // Build now: a bundle left in dist/ by an older checkout must not decide this test.
    execFileSync(process.execPath, [join(root, 'scripts', 'build.mjs')], { stdio: 'pipe' });
  });

  it('contain no *TEST* environment switches of ours', () => {
    const found: string[] = [];
    for (const t of tasks) {
      const text = readFileSync(join(root, 'dist', 'tasks', t, 'index.js'), 'utf8');
      for (const name of new Set(text.match(SWITCH) ?? [])) if (!(name in THIRD_PARTY)) found.push(`${t}: ${name}`);
    }
    assert.deepEqual(found, [], `test-only switches in the shipped bundles:\n${found.join('\n')}`);
  });

  it('allows third-party switches only where the dependency really reads them and our code does not', () => {
    const ours = [...sourceFiles('tasks'), ...sourceFiles('shared')].map((f) => readFileSync(f, 'utf8')).join('\n');
    for (const [name, file] of Object.entries(THIRD_PARTY)) {
      assert.ok(readFileSync(join(root, file), 'utf8').includes(name), `${name} is not in ${file}: drop it from the allow-list`);
      assert.ok(!ours.includes(name), `${name} is read by our own code`);
    }
    assert.deepEqual(ours.match(SWITCH) ?? [], [], 'tasks/ and shared/ name no *TEST* switch');
  });
});
