/**
 * FetchModel with a destination that cannot be created fails in one line
 * naming 'destination', at once: under /proc, Node's recursive mkdir spins a
 * CPU forever. The check comes before any store access, so no store runs here.
 */
import { strict as assert } from 'node:assert';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runMock, type MockRun, type TaskSpec } from './mock-task';

describe('FetchModel task: destinations that cannot be created', function () {
  this.timeout(60_000);
  let work: string;
  before(() => {
    work = mkdtempSync(join(tmpdir(), 'fetchmodel-paths-'));
  });
  after(() => rmSync(work, { recursive: true, force: true }));

  const spec = (destination: string): TaskSpec => ({
    task: 'FetchModel',
    inputs: { provider: 's3', s3Connection: 's3conn', bucket: 'models', modelPath: 'bert/', versionSelection: 'highestVersion', destination },
    endpoints: {
      s3conn: {
        scheme: 'UsernamePassword',
        url: 'http://127.0.0.1:9',
        parameters: { username: 'AKIDEXAMPLE', password: 'not-a-secret-really' },
        data: { region: 'us-east-1', forcePathStyle: 'true' },
      },
    },
  });

  function assertOneLine(r: MockRun, destination: string): void {
    assert.equal(r.succeeded, false, r.stdout);
    assert.match(r.message, /'destination'/);
    assert.ok(r.message.includes(destination), r.message);
    assert.ok(!r.message.includes('\n') && !/\n\s+at /.test(r.visible), 'one line, no stack trace');
  }

  it('under /proc', async () => {
    const started = Date.now();
    assertOneLine(await runMock(spec('/proc/x/y')), '/proc/x');
    assert.ok(Date.now() - started < 30_000);
  });

  it('below a file', async () => {
    writeFileSync(join(work, 'file'), 'keep');
    assertOneLine(await runMock(spec(join(work, 'file', 'models'))), join(work, 'file'));
    assert.equal(readFileSync(join(work, 'file'), 'utf8'), 'keep');
  });
});
