/**
 * The agent emulation (scripts/lib/agent.ts) and its fresh-bundle check
 * (scripts/lib/fresh-bundle.ts), on a throw-away repository whose one "task"
 * is a small script printing `##vso` commands and whose build script copies it
 * into dist/: what runTask reads back, the per-run work folder that keeps
 * task-lib's key file apart, the guard against two concurrent runs sharing an
 * Agent.TempDirectory, and when a bundle is rebuilt.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runTask } from '../../scripts/lib/agent';
import { ensureFreshBundle, staleReason } from '../../scripts/lib/fresh-bundle';
import { SecretLeakError } from '../../scripts/lib/secret-scan';

const TASK = `
const fs = require('fs');
const env = process.env;
if (env.INPUT_MODE === 'sleep') { setTimeout(() => {}, 300); }
if (env.INPUT_MODE === 'cancel') {
  const started = Date.now();
  process.on('SIGINT', () => console.log('got SIGINT after ' + (Date.now() - started) + ' ms'));
  process.on('SIGTERM', () => { console.log('got SIGTERM after ' + (Date.now() - started) + ' ms'); console.log('##vso[' + 'task.complete result=Failed;]cancelled'); process.exit(0); });
  console.log('ready to be cancelled');
  setInterval(() => {}, 1000);
  return;
}
if (env.INPUT_MODE === 'leak') { console.log('the key is ' + env.INPUT_PASSWORD); }
console.log('##vso[task.setsecret]' + env.INPUT_PASSWORD);
console.log('plain line with ' + env.INPUT_PASSWORD);
console.log('##vso[task.setvariable variable=out;isOutput=false;issecret=false;]50%AZP25 of a%0Ab');
console.log('##vso[task.setvariable variable=workFolder;]' + (env.AGENT_WORKFOLDER || ''));
console.log('##vso[task.setvariable variable=endpoint;]' + (env.ENDPOINT_DATA_CONN_REGISTRYTYPE || '') + '|' + (env.ENDPOINT_AUTH_SCHEME_CONN || ''));
console.log('##vso[task.setvariable variable=removed;]' + (env.HOME === undefined ? 'yes' : 'no'));
if (env.INPUT_MODE === 'crash') process.exit(3);
console.log('##vso[task.complete result=' + (env.INPUT_MODE === 'fail' ? 'Failed' : 'Succeeded') + ';]done with ' + env.INPUT_PASSWORD);
`;

const BUILD = `
import fs from 'node:fs';
import path from 'node:path';
import url from 'node:url';
const root = path.join(path.dirname(url.fileURLToPath(import.meta.url)), '..');
for (const t of process.argv.slice(2)) {
  fs.mkdirSync(path.join(root, 'dist', 'tasks', t), { recursive: true });
  fs.copyFileSync(path.join(root, 'tasks', t, 'index.js'), path.join(root, 'dist', 'tasks', t, 'index.js'));
  fs.appendFileSync(path.join(root, 'builds.log'), t + '\\n');
}
`;

describe('agent emulation (scripts/lib/agent.ts)', () => {
  let root: string;
  const builds = () => (existsSync(join(root, 'builds.log')) ? readFileSync(join(root, 'builds.log'), 'utf8').split('\n').filter(Boolean).length : 0);

  before(() => {
    root = mkdtempSync(join(tmpdir(), 'agent-harness-'));
    for (const d of ['tasks/Echo', 'shared', 'scripts']) mkdirSync(join(root, d), { recursive: true });
    writeFileSync(join(root, 'tasks', 'Echo', 'index.js'), TASK);
    writeFileSync(join(root, 'shared', 'lib.ts'), 'export {};\n');
    // The build script is older than anything it builds.
    writeFileSync(join(root, 'scripts', 'build.mjs'), BUILD);
    const old = new Date(Date.now() - 60_000);
    for (const f of ['scripts/build.mjs', 'shared/lib.ts', 'tasks/Echo/index.js']) utimesSync(join(root, f), old, old);
  });
  after(() => rmSync(root, { recursive: true, force: true }));

  it('builds a missing bundle once per process, and says why a stale one is stale', () => {
    assert.match(staleReason('Echo', root) ?? '', /index\.js is missing/);
    ensureFreshBundle('Echo', root);
    ensureFreshBundle('Echo', root);
    assert.equal(builds(), 1);
    assert.equal(staleReason('Echo', root), undefined);
    const later = new Date(Date.now() + 5_000);
    utimesSync(join(root, 'shared', 'lib.ts'), later, later);
    assert.match(staleReason('Echo', root) ?? '', /^shared\/ changed since it was built$/);
  });

  it('reads outputs (decoded), registered secrets, the masked message and log, and visible stdout', async () => {
    const run = await runTask({
      task: 'Echo',
      root,
      inputs: { password: 'hunter2-secret', mode: 'ok' },
      endpoints: { CONN: { scheme: 'UsernamePassword', data: { registrytype: 'Others' } } },
      env: { HOME: undefined },
    });
    assert.equal(run.result, 'Succeeded');
    assert.equal(run.succeeded, true);
    assert.equal(run.exitCode, 0);
    assert.deepEqual(run.secrets, ['hunter2-secret']);
    assert.equal(run.outputs.out, '50% of a\nb');
    assert.equal(run.outputs.endpoint, 'Others|UsernamePassword');
    assert.equal(run.outputs.removed, 'yes');
    assert.equal(run.message, 'done with ***');
    assert.ok(run.log.includes('plain line with ***'), run.log.join('\n'));
    assert.ok(!run.visible.includes('##vso[task.setsecret]') && run.stdout.includes('##vso[task.setsecret]hunter2-secret'));
  });

  it('gives a run without Agent.TempDirectory its own Agent.WorkFolder (task-lib keeps its key there) and removes it', async () => {
    const a = await runTask({ task: 'Echo', root, inputs: { password: 'pw-123456', mode: 'ok' } });
    const b = await runTask({ task: 'Echo', root, inputs: { password: 'pw-123456', mode: 'ok' } });
    assert.ok(a.outputs.workFolder && b.outputs.workFolder && a.outputs.workFolder !== b.outputs.workFolder);
    assert.equal(existsSync(a.outputs.workFolder), false);
    const temp = mkdtempSync(join(root, 'temp-'));
    const c = await runTask({ task: 'Echo', root, inputs: { password: 'pw-123456', mode: 'ok' }, variables: { 'Agent.TempDirectory': temp } });
    assert.equal(c.outputs.workFolder, '');
  });

  it('refuses two concurrent runs sharing one Agent.TempDirectory', async () => {
    const temp = mkdtempSync(join(root, 'shared-temp-'));
    const spec = { task: 'Echo', root, inputs: { password: 'pw-123456', mode: 'sleep' }, variables: { 'Agent.TempDirectory': temp } };
    const first = runTask(spec);
    await assert.rejects(runTask(spec), /uses Agent\.TempDirectory .*give each concurrent run its own/);
    assert.equal((await first).succeeded, true);
    assert.equal((await runTask(spec)).succeeded, true, 'free again once the first run ended');
  });

  it('a Failed result or a non-zero exit is not a success', async () => {
    const failed = await runTask({ task: 'Echo', root, inputs: { password: 'pw-123456', mode: 'fail' } });
    assert.equal(failed.result, 'Failed');
    assert.equal(failed.succeeded, false);
    const crashed = await runTask({ task: 'Echo', root, inputs: { password: 'pw-123456', mode: 'crash' } });
    assert.equal(crashed.result, 'Unknown');
    assert.equal(crashed.exitCode, 3);
    assert.equal(crashed.succeeded, false);
  });

  it('cancels a job as the agent does: SIGINT once a line matches, SIGTERM after the grace period', async function () {
    this.timeout(30_000);
    const r = await runTask({ task: 'Echo', root, inputs: { password: 'pw-123456', mode: 'cancel' }, cancelWhen: (l) => l === 'ready to be cancelled' });
    const sigint = r.log.find((l) => l.startsWith('got SIGINT after '));
    const sigterm = r.log.find((l) => l.startsWith('got SIGTERM after '));
    assert.ok(sigint && sigterm, r.log.join('\n'));
    const ms = (l: string) => Number(/after (\d+) ms/.exec(l)?.[1]);
    assert.ok(ms(sigterm) - ms(sigint) >= 7000, `SIGTERM ${ms(sigterm) - ms(sigint)} ms after SIGINT`);
    assert.equal(r.result, 'Failed');
    assert.equal(r.message, 'cancelled');
  });

  it('rejects with SecretLeakError when a secret input is printed before it is registered', async () => {
    await assert.rejects(
      runTask({ task: 'Echo', root, inputs: { password: 'leaked-value-123', mode: 'leak' } }),
      (e: unknown) => e instanceof SecretLeakError && /input 'password'/.test(e.message),
    );
  });

  it('runs the edited sources, not the stale bundle in dist/, when one test file runs in a new process', () => {
    // As `npx mocha tests/task/X.test.ts` after editing a source: dist/ holds an
    // older build, and a new process (nothing checked yet) calls runTask.
    const before = builds();
    const later = new Date(Date.now() + 10_000);
    writeFileSync(
      join(root, 'tasks', 'Echo', 'index.js'),
      TASK.replace("console.log('##vso[task.complete", "console.log('##vso[task.setvariable variable=edition;]edited');\nconsole.log('##vso[task.complete"),
    );
    utimesSync(join(root, 'tasks', 'Echo', 'index.js'), later, later);
    const script = `require(${JSON.stringify(join(__dirname, '..', '..', 'scripts', 'lib', 'agent'))}).runTask({ task: 'Echo', root: ${JSON.stringify(root)}, inputs: { password: 'pw-123456', mode: 'ok' } }).then((r) => console.log(JSON.stringify(r.outputs)), (e) => { console.error(e); process.exit(1); });`;
    const child = spawnSync(process.execPath, ['--require', 'tsx/cjs', '-e', script], { cwd: join(__dirname, '..', '..'), encoding: 'utf8' });
    assert.equal(child.status, 0, child.stderr);
    assert.equal((JSON.parse(child.stdout.trim().split('\n').pop() as string) as Record<string, string>).edition, 'edited', child.stdout);
    assert.equal(builds(), before + 1, 'rebuilt once');
    assert.match(child.stderr, /rebuilt dist\/tasks\/Echo .*: tasks\/Echo\/.* changed since it was built/);
  });
});
