/**
 * TestModelImage as the agent runs it (runMock), against the real Docker
 * engine the harness starts (tests/helpers/docker-engine.ts: no bridge
 * network, so the container runs on the host network on a free port): the
 * sample app bundled by the real BundleModelImage onto the local Node base
 * image, with the sample model 1.1.0 and the sample check spec. Each failure
 * is one line, shows what it must (container log, request/answer/diff), and
 * no container or loaded image is left behind, also after a cancellation.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildNodeBaseImage } from '../../scripts/lib/node-base-image';
import { sampleModel } from '../../scripts/lib/sample-model';
import { dockerEngine, unavailableReason, type DockerEngine } from '../helpers/docker-engine';
import { freePort } from '../helpers/net';
import { requirePrerequisite } from '../helpers/prerequisite';
import { ensureBuilt, root, runMock, type MockRun, type TaskSpec } from './mock-task';

describe('TestModelImage task (real Docker engine)', function () {
  this.timeout(300_000);
  let engine: DockerEngine;
  let work: string;
  let layout: string;
  const model = sampleModel('1.1.0');

  before(async function () {
    const e = await dockerEngine();
    requirePrerequisite(this, e !== undefined, `a Docker engine (root and Debian docker.io; ${unavailableReason()})`);
    engine = e as DockerEngine;
    ensureBuilt('BundleModelImage');
    ensureBuilt('TestModelImage');
    work = mkdtempSync(join(tmpdir(), 'test-image-task-'));
    mkdirSync(join(work, 'model'));
    writeFileSync(join(work, 'model', 'model.json'), model.body);
    const base = await buildNodeBaseImage({ cacheDir: join(tmpdir(), 'model-to-aks-node-base-cache') });
    const bundle = await runMock({
      task: 'BundleModelImage',
      inputs: {
        baseImage: base.spec,
        modelPath: join(work, 'model'),
        modelDestination: '/models',
        appDirectory: join(root, 'samples', 'model-api'),
        appDestination: '/app',
        cmd: '["/app/server.js"]',
        env: 'MODEL_PATH=/models\nMODEL_VERSION=1.1.0\nHOST=0.0.0.0\nPORT=8080',
        ports: '8080',
        user: '65534',
        modelVersion: '1.1.0',
        modelSha256: model.folderSha256,
        imageName: 'samples/model-api',
        tags: '7',
        outputPath: join(work, 'image'),
      },
      variables: { 'Build.BuildId': '7' },
    });
    assert.ok(bundle.succeeded, bundle.message);
    layout = bundle.outputs.imageLayout as string;
  });
  after(() => {
    if (work) rmSync(work, { recursive: true, force: true });
  });

  /** What this task may leave in the engine: nothing. */
  function assertNothingLeft(): void {
    assert.equal(engine.docker(['ps', '--all', '--filter', 'label=io.modeltoaks.test', '--format', '{{.Names}}']).trim(), '', 'a test container is left');
    assert.equal(
      engine.docker(['images', '--filter', 'reference=modeltoaks-test', '--format', '{{.Repository}}:{{.Tag}}']).trim(),
      '',
      'a loaded image is left',
    );
  }

  let runs = 0;
  async function run(inputs: TaskSpec['inputs'], extra: Partial<TaskSpec> = {}): Promise<MockRun & { port: number; summary: string }> {
    const port = Number(inputs.containerPort ?? (await freePort()));
    const temp = join(work, `agent-temp-${++runs}`);
    mkdirSync(temp);
    const r = await runMock({
      task: 'TestModelImage',
      inputs: {
        imageLayout: layout,
        network: 'host',
        containerPort: port,
        env: `PORT=${port}\nHOST=127.0.0.1`,
        checkSpec: join(root, 'samples', 'checks', 'model-api.yaml'),
        readinessTimeoutSeconds: 30,
        ...inputs,
      },
      variables: { 'Agent.TempDirectory': temp, 'System.DefaultWorkingDirectory': root },
      env: { DOCKER_HOST: engine.host },
      ...extra,
    });
    const attachment = r.stdout.match(/^##vso\[task\.addattachment type=Distributedtask\.Core\.Summary;name=Model image test;\](.+)$/m);
    const summary = attachment ? readFileSync(attachment[1]!.trim(), 'utf8') : '';
    return Object.assign(r, { port, summary });
  }

  it('passes an image that answers as the spec expects: outputs, summary, nothing left behind', async () => {
    const port = await freePort();
    const r = await run(
      {
        containerPort: port,
        env: `PORT=${port}\nHOST=127.0.0.1\nMODEL_API_TOKEN=tok-test-model-image-1234`,
        predictionRequest: 'GET /version',
        predictionExpect: 'status 200\n$.modelVersion == "1.1.0"',
      },
      { secrets: ['tok-test-model-image-1234'] },
    );
    assert.ok(r.secrets.includes('tok-test-model-image-1234'), 'a secret-looking env value is registered');
    assert.ok(r.succeeded, `${r.message}\n${r.log.join('\n')}`);
    assert.match(r.message, new RegExp(`^The image passed 5 check\\(s\\) on docker: ready in [\\d.]+ s, serving model sha256 ${model.folderSha256}\\.$`));
    assert.equal(r.outputs.passed, 'true');
    assert.equal(r.outputs.failedChecks, '');
    assert.equal(r.outputs.reportedModelSha256, model.folderSha256);
    assert.equal(r.outputs.reportedModelVersion, '1.1.0');
    assert.equal((JSON.parse(r.outputs.reportedModel!) as { modelSha256: string }).modelSha256, model.folderSha256);
    assert.ok(Number(r.outputs.readySeconds) >= 0 && Number(r.outputs.readySeconds) < 30, r.outputs.readySeconds);
    const results = JSON.parse(r.outputs.checkResults!) as Array<{ name: string; passed: boolean }>;
    assert.deepEqual(
      results.map((c) => [c.name, c.passed]),
      [
        ['health', true],
        ['model identity', true],
        ['prediction', true],
        ['malformed input is refused', true],
        ['GET /version', true],
      ],
    );
    assert.match(r.summary, /✅ The image passed its test/);
    assert.match(r.summary, new RegExp(`sha256 \`${model.folderSha256}\` ✅ matches modelSha256`));
    assert.match(r.summary, /\| ✅ pass \| prediction \| `POST \/score` \| HTTP 200 \|/);
    assert.ok(r.log.some((l) => /^Removed container modeltoaks-test-[0-9a-f]{12}$/.test(l)));
    assert.ok(r.log.some((l) => /^Removed image modeltoaks-test:[0-9a-f]{12}$/.test(l)));
    assertNothingLeft();
  });

  it('an app that exits at start fails in one line and shows its log', async () => {
    const r = await run({ env: 'MODEL_PATH=/no/such/model' });
    assert.equal(r.result, 'Failed');
    assert.doesNotMatch(r.message, /[\r\n]/);
    assert.match(
      r.message,
      /^The container exited with code 1 [\d.]+ s after it started, before it was ready \(its last log line: model-api: MODEL_PATH '\/no\/such\/model' does not exist/,
    );
    assert.ok(
      r.log.some((l) => /^ {2}\| model-api: MODEL_PATH '\/no\/such\/model' does not exist/.test(l)),
      r.log.join('\n'),
    );
    assert.equal(r.outputs.passed, 'false');
    assert.match(r.summary, /❌ The image failed its test/);
    assert.match(r.summary, /Container log \(last 1 lines\)/);
    assertNothingLeft();
  });

  it('an app that never becomes ready fails after the readiness timeout', async () => {
    const started = Date.now();
    const r = await run({ readinessPath: '/not-a-route', readinessTimeoutSeconds: 3 });
    assert.equal(r.result, 'Failed');
    assert.match(
      r.message,
      /^The container did not become ready within 3 s: GET \/not-a-route on 127\.0\.0\.1:\d+ last gave HTTP 404; see its log above, raise 'readinessTimeoutSeconds'/,
    );
    assert.ok(Date.now() - started < 60_000);
    assert.ok(
      r.log.some((l) => /^ {2}\| model-api listening on/.test(l)),
      'the container log is shown',
    );
    assertNothingLeft();
  });

  it('a wrong prediction fails naming the check, and the log shows request, answer and the diff', async () => {
    const spec = join(work, 'wrong.yaml');
    writeFileSync(
      spec,
      [
        '- name: exact predictions',
        '  request: { method: POST, path: /score, bodyFile: ' + join(root, 'samples', 'checks', 'sample-input.json') + ' }',
        '  expect:',
        '    json:',
        '      $.predictions: [205.475, 999]',
      ].join('\n'),
    );
    const r = await run({ checkSpec: spec });
    assert.equal(r.result, 'Failed');
    assert.match(
      r.message,
      /^1 of 3 check\(s\) failed on the image: 'exact predictions' \(\$\.predictions: expected \[205\.475,999\], got \[205\.475,175\.075\]\): see the request, answer and expectation in the log above/,
    );
    const text = r.log.join('\n');
    assert.match(text, /^Check 'exact predictions' \(.*wrong\.yaml:1\) failed\.$/m);
    assert.match(text, /^ {2}Request: POST \/score \(body from .*sample-input\.json\)$/m);
    assert.match(text, /^ {2}Answer: HTTP 200, \d+ bytes$/m);
    assert.match(text, /^ {8}- {3}999$/m);
    assert.match(text, /^ {8}\+ {3}175\.075$/m);
    assert.equal(r.outputs.failedChecks, 'exact predictions');
    assert.match(r.summary, /<summary>exact predictions: request, answer, expectation<\/summary>/);
    assertNothingLeft();
  });

  it('a model sha256 other than the bundle expects fails as a mismatch', async () => {
    const other = 'ab'.repeat(32);
    // An empty filePath input reaches the task as the working directory (the agent fills it in): no spec.
    const r = await run({ modelSha256: other, checkSpec: root });
    assert.equal(r.result, 'Failed');
    assert.equal(
      r.message,
      `The container serves model sha256 ${model.folderSha256} (GET /version $.modelSha256), not the bundle's modelSha256 ${other}: the image holds a different model than the one fetched; rebuild the image from the fetched model (or correct 'modelSha256').`,
    );
    assert.equal(r.outputs.reportedModelSha256, model.folderSha256);
    assert.match(r.summary, new RegExp(`❌ expected \`${other}\``));
    assertNothingLeft();
  });

  it('a cancelled job stops in time and leaves no container or image', async () => {
    const started = Date.now();
    const r = await run({ readinessPath: '/not-a-route', readinessTimeoutSeconds: 600 }, { cancelWhen: (line) => /^Waiting up to 600 s/.test(line) });
    assert.equal(r.result, 'Failed');
    assert.equal(r.message, 'The job was cancelled: the test container and the loaded image were removed.');
    assert.ok(Date.now() - started < 60_000, 'ended long before the readiness timeout');
    assert.ok(r.log.some((l) => /^Received SIGINT: cancelling\.$/.test(l)));
    assertNothingLeft();
  });

  it('no container engine on PATH: one line saying what to install', async () => {
    const r = await run({}, { env: { PATH: join(work, 'empty-bin'), DOCKER_HOST: engine.host } });
    assert.equal(r.result, 'Failed');
    assert.equal(
      r.message,
      'No container engine on this agent: TestModelImage runs the image with Docker or Podman, and none is on PATH. Microsoft-hosted Linux agents (ubuntu-latest) have Docker; on a self-hosted agent install Docker (sudo apt-get install -y docker.io, then add the agent user to the docker group) or Podman (sudo apt-get install -y podman).',
    );
    assert.ok(!r.log.some((l) => /Loading image/.test(l)), 'nothing else happens');
  });
});
