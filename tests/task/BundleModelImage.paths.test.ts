/**
 * BundleModelImage keeps to its folders: it never replaces an outputPath it did
 * not make (a non-empty folder without an oci-layout file), refuses image
 * destinations with '..' or other bad segments before normalising them, fails
 * in one line on an outputPath that cannot be created (under /proc, where
 * Node's recursive mkdir loops forever) and never prints Docker build-arg values.
 */
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runMock, type MockRun, type TaskSpec } from './mock-task';

describe('BundleModelImage task: paths and what it prints', function () {
  this.timeout(120_000);
  let work: string;

  before(() => {
    work = mkdtempSync(join(tmpdir(), 'bundle-paths-'));
    mkdirSync(join(work, 'model'));
    writeFileSync(join(work, 'model', 'model.onnx'), 'weights');
    mkdirSync(join(work, 'app'));
    writeFileSync(join(work, 'app', 'serve.py'), 'print("hi")\n');
  });
  after(() => rmSync(work, { recursive: true, force: true }));

  const spec = (inputs: TaskSpec['inputs'], extra: Partial<TaskSpec> = {}): TaskSpec => ({
    task: 'BundleModelImage',
    inputs: { baseImage: 'scratch', modelPath: join(work, 'model'), appDirectory: join(work, 'app'), tags: '1', ...inputs },
    variables: { 'Build.ArtifactStagingDirectory': join(work, 'staging') },
    ...extra,
  });

  function assertOneLine(r: MockRun, pattern: RegExp): void {
    assert.equal(r.succeeded, false, r.stdout);
    assert.match(r.message, pattern);
    assert.ok(!r.message.includes('\n') && !/\n\s+at /.test(r.visible), 'one line, no stack trace');
    assert.ok(!r.message.startsWith('Unexpected error'), r.message);
  }

  /** Names and contents of every file under dir. */
  function snapshot(dir: string): Record<string, string> {
    const out: Record<string, string> = {};
    for (const e of readdirSync(dir, { recursive: true, withFileTypes: true })) {
      if (e.isFile()) out[join(e.parentPath, e.name)] = readFileSync(join(e.parentPath, e.name), 'utf8');
    }
    return out;
  }

  it('refuses an outputPath that is a non-empty folder without an oci-layout file, leaving it intact', async () => {
    const out = join(work, 'my-project');
    mkdirSync(join(out, 'src'), { recursive: true });
    writeFileSync(join(out, 'README.md'), 'precious');
    writeFileSync(join(out, 'src', 'main.ts'), 'export {};');
    const before = snapshot(out);
    const r = await runMock(spec({ outputPath: out }));
    assertOneLine(r, /outputPath/);
    assert.ok(r.message.includes(out), r.message);
    assert.deepEqual(snapshot(out), before, 'the folder and its files are untouched');
    assert.deepEqual(
      readdirSync(work).filter((n) => n.startsWith('.my-project')),
      [],
      'no staging folder left behind',
    );
  });

  it('replaces an earlier image layout and fills an empty folder', async () => {
    const out = join(work, 'layout');
    const first = await runMock(spec({ outputPath: out }));
    assert.ok(first.succeeded, first.stdout);
    const again = await runMock(spec({ outputPath: out, tags: '2' }));
    assert.ok(again.succeeded, again.stdout);
    mkdirSync(join(work, 'empty'));
    const empty = await runMock(spec({ outputPath: join(work, 'empty') }));
    assert.ok(empty.succeeded, empty.stdout);
  });

  it('refuses an outputPath that is a file', async () => {
    writeFileSync(join(work, 'a-file'), 'keep me');
    const r = await runMock(spec({ outputPath: join(work, 'a-file') }));
    assertOneLine(r, /outputPath/);
    assert.equal(readFileSync(join(work, 'a-file'), 'utf8'), 'keep me');
  });

  it('fails in one line, naming outputPath, when the output folder cannot be created (/proc)', async () => {
    const r = await runMock(spec({ outputPath: '/proc/x/y' }));
    assertOneLine(r, /outputPath/);
    assert.ok(r.message.includes('/proc/x/y'), r.message);
  });

  const badDestinations: Array<[string, string]> = [
    ['modelDestination', '../../etc'],
    ['modelDestination', '/models/../../etc'],
    ['modelDestination', '/models/./weights'],
    ['modelDestination', '/models//weights'],
    ['modelDestination', 'C:\\models'],
    ['modelDestination', '/mod\u0001els'],
    ['appDestination', '../app'],
    ['appDestination', '/srv/..'],
  ];
  for (const [input, value] of badDestinations) {
    it(`refuses ${input} '${JSON.stringify(value).slice(1, -1)}' naming the input`, async () => {
      const out = join(work, `dest-${input}-${Buffer.from(value).toString('hex')}`);
      const r = await runMock(spec({ outputPath: out, [input]: value }));
      assertOneLine(r, new RegExp(`'${input}'`));
      assert.ok(!existsSync(out), 'no output written');
    });
  }

  it('accepts ordinary destinations (trailing slash included)', async () => {
    const r = await runMock(spec({ outputPath: join(work, 'dest-ok'), modelDestination: '/opt/models/', appDestination: '/srv/app' }));
    assert.ok(r.succeeded, r.stdout);
  });

  /** A stand-in docker CLI on PATH: answers `version`, fails `build` (the command line is printed before the build runs). */
  function standInDocker(): Record<string, string> {
    const bin = join(work, 'bin');
    mkdirSync(bin, { recursive: true });
    writeFileSync(join(bin, 'docker'), '#!/bin/sh\nif [ "$1" = version ]; then echo 27.0.0; exit 0; fi\necho "build refused by the stand-in" >&2\nexit 1\n');
    chmodSync(join(bin, 'docker'), 0o755);
    return { PATH: `${bin}:${process.env.PATH ?? ''}` };
  }

  it('docker mode refuses a build context that already holds its model folder, and leaves that folder alone', async () => {
    const context = join(work, 'ctx');
    mkdirSync(join(context, '.bundle-model'), { recursive: true });
    writeFileSync(join(context, '.bundle-model', 'mine.txt'), 'not yours');
    writeFileSync(join(context, 'Dockerfile'), 'FROM scratch\n');
    const r = await runMock(
      spec(
        { mode: 'docker', dockerfile: join(context, 'Dockerfile'), buildContext: context, outputPath: join(work, 'docker-ctx-out') },
        { env: standInDocker() },
      ),
    );
    assertOneLine(r, /'buildContext'.*\.bundle-model/);
    assert.equal(readFileSync(join(context, '.bundle-model', 'mine.txt'), 'utf8'), 'not yours');
  });

  it('docker mode prints build-arg names but never their values', async () => {
    const env = standInDocker();
    writeFileSync(join(work, 'Dockerfile'), 'FROM scratch\n');
    const secret = 'npm-token-Zx81-do-not-print';
    const r = await runMock(
      spec(
        { mode: 'docker', dockerfile: join(work, 'Dockerfile'), buildArgs: `NPM_TOKEN=${secret}\nPLAIN=visible-value`, outputPath: join(work, 'docker-out') },
        { env },
      ),
    );
    assert.equal(r.succeeded, false, r.stdout);
    assert.ok(r.stdout.includes('--build-arg NPM_TOKEN'), r.stdout);
    assert.ok(
      !r.stdout.includes(secret),
      r.stdout
        .split('\n')
        .filter((l) => l.includes(secret))
        .join('\n'),
    );
    assert.ok(!r.stdout.includes('visible-value'), 'a build-arg value was printed');
  });
});
