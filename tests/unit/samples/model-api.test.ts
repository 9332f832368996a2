/**
 * The sample app (samples/model-api/server.js) as a real process on
 * 127.0.0.1: health, /version (the sha256 it computes equals FetchModel's
 * rules: folder manifest digest or file sha256), /score, and clear failures.
 */
import { strict as assert } from 'node:assert';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { manifestDigest } from '../../../shared/download/verify';
import { predict, sampleModel } from '../../../scripts/lib/sample-model';
import { freePort } from '../../helpers/net';

const server = join(__dirname, '..', '..', '..', 'samples', 'model-api', 'server.js');
const sha = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');

interface App {
  url: string;
  proc: ChildProcess;
  output: () => string;
  stop(): Promise<void>;
}

async function startApp(env: Record<string, string>): Promise<App> {
  const port = await freePort();
  const proc = spawn(process.execPath, [server], {
    env: { PATH: process.env.PATH ?? '', HOST: '127.0.0.1', PORT: String(port), ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  proc.stdout?.on('data', (d: Buffer) => (output += d.toString()));
  proc.stderr?.on('data', (d: Buffer) => (output += d.toString()));
  const deadline = Date.now() + 15_000;
  while (!output.includes('listening')) {
    if (proc.exitCode !== null) throw new Error(`model-api exited ${proc.exitCode}: ${output}`);
    if (Date.now() > deadline) throw new Error(`model-api did not start: ${output}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    url: `http://127.0.0.1:${port}`,
    proc,
    output: () => output,
    stop: async () => {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      const exited = new Promise((r) => proc.once('exit', r));
      proc.kill('SIGTERM');
      await exited;
    },
  };
}

describe('samples/model-api', function () {
  this.timeout(60_000);
  let dir: string;
  const model = sampleModel('1.1.0');
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'model-api-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  describe('with a folder model (FetchModel version folder content under /models)', () => {
    let app: App;
    let folder: string;
    before(async () => {
      folder = join(dir, 'models');
      mkdirSync(join(folder, 'extra'), { recursive: true });
      writeFileSync(join(folder, 'model.json'), model.body);
      writeFileSync(join(folder, 'extra', 'notes.txt'), 'trained on the sample data\n');
      app = await startApp({ MODEL_PATH: folder, MODEL_VERSION: '1.1.0', MODEL_URI: 'https://example.blob.core.windows.net/models/diabetes/1.1.0/' });
    });
    after(() => app.stop());

    it('answers the health check', async () => {
      const res = await fetch(`${app.url}/`);
      assert.equal(res.status, 200);
      assert.deepEqual(await res.json(), { status: 'ok' });
    });

    it('serves the version and the folder manifest digest FetchModel computes', async () => {
      const v = (await (await fetch(`${app.url}/version`)).json()) as Record<string, unknown>;
      const expected = manifestDigest([
        { path: 'model.json', sha256: sha(model.body) },
        { path: 'extra/notes.txt', sha256: sha('trained on the sample data\n') },
      ]);
      assert.equal(v.modelSha256, expected);
      assert.equal(v.modelVersion, '1.1.0');
      assert.equal(v.modelKind, 'folder');
      assert.equal(v.modelUri, 'https://example.blob.core.windows.net/models/diabetes/1.1.0/');
      assert.deepEqual(v.features, ['age', 'bmi', 'bp', 's5']);
      assert.match(app.output(), new RegExp(`sha256 ${expected}`));
    });

    it('scores rows given as arrays or as objects keyed by feature name', async () => {
      const rows = [
        [0.03, 0.06, 0.02, 0.02],
        [-0.01, 0.0, 0.1, -0.05],
      ];
      const res = await fetch(`${app.url}/score`, { method: 'POST', body: JSON.stringify({ data: [...rows, { age: 0.03, bmi: 0.06, bp: 0.02, s5: 0.02 }] }) });
      assert.equal(res.status, 200);
      const body = (await res.json()) as { predictions: number[]; modelVersion: string };
      assert.deepEqual(body.predictions, [predict(model, rows[0] as number[]), predict(model, rows[1] as number[]), predict(model, rows[0] as number[])]);
      assert.equal(body.modelVersion, '1.1.0');
    });

    it('rejects bad requests with a clear message', async () => {
      const cases: Array<[string, RequestInit, number, RegExp]> = [
        ['/score', { method: 'POST', body: 'not json' }, 400, /not valid JSON/],
        ['/score', { method: 'POST', body: JSON.stringify({ rows: [] }) }, 400, /\{"data"/],
        ['/score', { method: 'POST', body: JSON.stringify({ data: [[1, 2]] }) }, 400, /Row 0 must hold 4 numbers \(age, bmi, bp, s5\)/],
        ['/score', { method: 'POST', body: JSON.stringify({ data: [[1, 2, 3, 'x']] }) }, 400, /Row 0/],
        ['/score', { method: 'POST', body: JSON.stringify({ data: ['x'] }) }, 400, /Row 0 must be an array/],
        ['/score', { method: 'POST', body: 'x'.repeat(1024 * 1024 + 10) }, 413, /larger than/],
        ['/score', { method: 'GET' }, 405, /Use POST/],
        ['/version', { method: 'POST', body: '{}' }, 405, /Use GET/],
        ['/nope', {}, 404, /No route \/nope/],
      ];
      for (const [path, init, status, message] of cases) {
        const res = await fetch(`${app.url}${path}`, init).catch((err: unknown) => err as Error);
        if (res instanceof Error) {
          // The server may close the socket of an oversized upload before the client finishes sending it.
          assert.equal(status, 413, `${path}: ${res.message}`);
          continue;
        }
        assert.equal(res.status, status, `${init.method ?? 'GET'} ${path}`);
        const body = (await res.json()) as { error: string };
        assert.match(body.error, message, `${init.method ?? 'GET'} ${path}`);
      }
    });
  });

  it('serves the file sha256 for a single-file model and the version from the model when MODEL_VERSION is unset', async () => {
    const file = join(dir, 'model-1.0.0.json');
    const m = sampleModel('1.0.0');
    writeFileSync(file, m.body);
    const app = await startApp({ MODEL_PATH: file });
    try {
      const v = (await (await fetch(`${app.url}/version`)).json()) as Record<string, unknown>;
      assert.equal(v.modelSha256, m.fileSha256);
      assert.equal(v.modelSha256, sha(m.body));
      assert.equal(v.modelVersion, '1.0.0');
      assert.equal(v.modelKind, 'file');
      assert.equal(v.modelUri, null);
    } finally {
      await app.stop();
    }
  });

  it('includes every file of a folder model in its digest (a 64 MiB weights file beside model.json)', async () => {
    const folder = join(dir, 'big');
    mkdirSync(folder, { recursive: true });
    writeFileSync(join(folder, 'model.json'), model.body);
    const weights = Buffer.alloc(64 * 1024 * 1024, 7);
    writeFileSync(join(folder, 'weights.bin'), weights);
    const app = await startApp({ MODEL_PATH: folder });
    try {
      const v = (await (await fetch(`${app.url}/version`)).json()) as Record<string, unknown>;
      assert.equal(
        v.modelSha256,
        manifestDigest([
          { path: 'model.json', sha256: sha(model.body) },
          { path: 'weights.bin', sha256: sha(weights) },
        ]),
      );
    } finally {
      await app.stop();
    }
  });

  it('fails at start-up with one clear line when the model is missing or invalid', () => {
    const run = (env: Record<string, string>) =>
      spawnSync(process.execPath, [server], { env: { PATH: process.env.PATH ?? '', PORT: '0', ...env }, encoding: 'utf8', timeout: 15_000 });
    const missing = run({ MODEL_PATH: join(dir, 'nope') });
    assert.equal(missing.status, 1);
    assert.match(missing.stderr, /^model-api: MODEL_PATH '.*nope' does not exist: set MODEL_PATH/);
    const bad = join(dir, 'bad.json');
    writeFileSync(bad, JSON.stringify({ format: 'linear-regression/v1', features: ['a'], coefficients: [1, 2], intercept: 0 }));
    const invalid = run({ MODEL_PATH: bad });
    assert.equal(invalid.status, 1);
    assert.match(invalid.stderr, /is not a linear-regression\/v1 model/);
    const empty = join(dir, 'empty');
    mkdirSync(empty);
    writeFileSync(join(empty, 'weights.bin'), 'x');
    const noDoc = run({ MODEL_PATH: empty });
    assert.equal(noDoc.status, 1);
    assert.match(noDoc.stderr, /No model\.json in the model folder/);
    assert.ok(!/\n\s+at /.test(missing.stderr + invalid.stderr + noDoc.stderr), 'no stack traces');
  });

  it('the development model in samples/model-api/model is a valid model', async () => {
    const app = await startApp({ MODEL_PATH: join(__dirname, '..', '..', '..', 'samples', 'model-api', 'model') });
    try {
      const v = (await (await fetch(`${app.url}/version`)).json()) as Record<string, unknown>;
      assert.equal(v.modelVersion, '0.0.0-dev');
      const res = await fetch(`${app.url}/score`, { method: 'POST', body: JSON.stringify({ data: [[0, 0, 0, 0]] }) });
      assert.deepEqual(((await res.json()) as { predictions: number[] }).predictions, [152]);
    } finally {
      await app.stop();
    }
  });
});
