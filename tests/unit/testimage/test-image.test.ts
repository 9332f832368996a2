/**
 * The pure parts of TestModelImage's library as tables (which port, which
 * `run` arguments, which host port), the docker-archive stream read back, the
 * summary's markdown, and the engine runner and detection with small engine
 * CLIs written for the test (the real engine runs in tests/task).
 */
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { Readable } from 'node:stream';
import tar from 'tar-stream';
import { parseSpec } from '../../../shared/check';
import { InputError, UserError } from '../../../shared/errors';
import { bundleImage } from '../../../shared/oci/bundle';
import { dockerArchiveStream } from '../../../shared/oci/docker-archive';
import { OciLayout } from '../../../shared/oci/layout';
import { ContainerEngine, detectEngine, findOnPath } from '../../../shared/testimage/engine';
import { tcpOpen } from '../../../shared/testimage/http';
import { summaryMarkdown } from '../../../shared/testimage/summary';
import { parseHostPort, pickContainerPort, runArguments, type TestImageResult } from '../../../shared/testimage/test-image';

describe('testimage', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'testimage-unit-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  describe('pickContainerPort', () => {
    const table: Array<[Record<string, unknown> | undefined, number | undefined, number | RegExp]> = [
      [{ '8080/tcp': {} }, undefined, 8080],
      [{ '8080': {} }, undefined, 8080],
      [{ '8080/tcp': {}, '53/udp': {} }, undefined, 8080],
      [{ '8080/tcp': {}, '9090/tcp': {} }, 9090, 9090],
      [undefined, 5000, 5000],
      [undefined, undefined, /exposes no TCP port/],
      [{ '53/udp': {} }, undefined, /exposes no TCP port/],
      [{ '8080/tcp': {}, '9090/tcp': {} }, undefined, /several TCP ports \(8080, 9090\)/],
    ];
    for (const [exposed, given, expected] of table) {
      it(`${JSON.stringify(exposed)} ${given ?? ''} -> ${String(expected)}`, () => {
        if (typeof expected === 'number') assert.equal(pickContainerPort(exposed, given), expected);
        else
          assert.throws(
            () => pickContainerPort(exposed, given),
            (e: unknown) => e instanceof InputError && e.input === 'containerPort' && expected.test(e.message),
          );
      });
    }
  });

  describe('runArguments', () => {
    it('publishes the port on 127.0.0.1 only, never pulls, labels the container, passes env in order', () => {
      assert.deepEqual(
        runArguments({
          name: 'n',
          runId: 'r',
          image: 'i:t',
          containerPort: 8080,
          network: 'publish',
          env: [
            ['A', '1'],
            ['B', 'x=y'],
          ],
        }),
        [
          'run',
          '--detach',
          '--name',
          'n',
          '--label',
          'io.modeltoaks.test=r',
          '--pull',
          'never',
          '--publish',
          '127.0.0.1::8080/tcp',
          '--env',
          'A=1',
          '--env',
          'B=x=y',
          'i:t',
        ],
      );
    });
    it('host network: no published port', () => {
      const args = runArguments({ name: 'n', runId: 'r', image: 'i:t', containerPort: 8080, network: 'host', env: [] });
      assert.deepEqual(args.slice(8), ['--network', 'host', 'i:t']);
    });
  });

  describe('parseHostPort', () => {
    const table: Array<[string, number | undefined]> = [
      ['127.0.0.1:32768\n', 32768],
      ['0.0.0.0:1234\n127.0.0.1:4321', 4321],
      ['[::1]:5000', undefined],
      ['', undefined],
    ];
    for (const [text, port] of table) it(JSON.stringify(text), () => assert.equal(parseHostPort(text), port));
  });

  describe('dockerArchiveStream', () => {
    it('holds manifest.json naming the config, the tag and the layers in order, and every blob byte for byte', async () => {
      const model = join(dir, 'model');
      mkdirSync(model);
      writeFileSync(join(model, 'model.bin'), Buffer.alloc(70_000, 7));
      await bundleImage({ baseImage: 'scratch', model: { path: model }, tags: ['1'], outputPath: join(dir, 'layout') });
      const layout = await OciLayout.open(join(dir, 'layout'));
      const found = await layout.findManifest('1');
      const files = new Map<string, Buffer>();
      const extract = tar.extract();
      extract.on('entry', (header, stream, next) => {
        const chunks: Buffer[] = [];
        stream.on('data', (c: unknown) => {
          chunks.push(c as Buffer);
        });
        stream.on('end', () => {
          if (header.type === 'file') files.set(header.name, Buffer.concat(chunks));
          next();
        });
      });
      await new Promise<void>((resolve, reject) => {
        extract.on('finish', resolve);
        extract.on('error', reject);
        dockerArchiveStream(layout, found.manifest, 'modeltoaks-test:abc').pipe(extract);
      });
      const blob = (d: string) => `blobs/sha256/${d.slice('sha256:'.length)}`;
      assert.deepEqual(JSON.parse(files.get('manifest.json')!.toString()), [
        { Config: blob(found.manifest.config.digest), RepoTags: ['modeltoaks-test:abc'], Layers: found.manifest.layers.map((l) => blob(l.digest)) },
      ]);
      for (const d of [found.manifest.config, ...found.manifest.layers]) assert.deepEqual(files.get(blob(d.digest)), await layout.readBlob(d.digest));
    });

    it('fails when a blob of the layout is corrupt', async () => {
      const layout = await OciLayout.open(join(dir, 'layout'));
      const found = await layout.findManifest('1');
      const layer = found.manifest.layers[found.manifest.layers.length - 1]!;
      const bytes = await layout.readBlob(layer.digest);
      bytes[bytes.length - 1] ^= 0xff;
      writeFileSync(layout.blobPath(layer.digest), bytes);
      const drain = async () => {
        for await (const chunk of dockerArchiveStream(layout, found.manifest, 'x:y') as AsyncIterable<Buffer>) void chunk;
      };
      await assert.rejects(drain(), /corrupt/);
    });
  });

  describe('summaryMarkdown', () => {
    const check = parseSpec(
      '- name: p\n  request: { method: POST, path: /score, body: "tok-secret" }\n  expect: { json: { $.a: 1 } }\n',
      'spec.yaml',
      'checks',
    )[0]!;
    const base: TestImageResult = { engine: 'docker', imageDigest: 'sha256:abc', imageRef: 'modeltoaks-test:1', outcomes: [], summary: '' };

    it('passed: verdict, image, readiness, the model against the expected sha256, the checks', () => {
      const md = summaryMarkdown({
        ...base,
        readySeconds: 1.5,
        expectedSha256: 'aa',
        reported: { sha256: 'aa', version: '1.1.0' },
        outcomes: [{ check, passed: true, failures: [], details: [], attempts: 1, durationMs: 3 }],
      });
      assert.match(md, /^\*\*✅ The image passed its test\*\*$/m);
      assert.match(md, /^\| Ready after \| 1\.5 s \|$/m);
      assert.match(md, /^\| Model served \| version `1\.1\.0`, sha256 `aa` ✅ matches modelSha256 \|$/m);
      assert.match(md, /^\| ✅ pass \| p \| `POST \/score` \|/m);
      assert.doesNotMatch(md, /<details>/);
    });

    it('failed: the reason, each failed check in a block its text cannot close, the container log; secrets masked', () => {
      const answer = { status: 200, headers: {}, body: Buffer.from('{"a":2,"b":"```"}') };
      const md = summaryMarkdown(
        {
          ...base,
          failure: new UserError('1 of 1 check(s) failed on the image'),
          expectedSha256: 'aa',
          reported: { sha256: 'bb' },
          containerLog: ['line one tok-secret', 'line two'],
          outcomes: [
            {
              check,
              passed: false,
              failures: ['$.a: expected 1, got 2'],
              details: [{ message: '$.a: expected 1, got 2' }],
              answer,
              attempts: 1,
              durationMs: 3,
            },
          ],
        },
        (s) => s.replaceAll('tok-secret', '***'),
      );
      assert.match(md, /^\*\*❌ The image failed its test\*\*$/m);
      assert.match(md, /^> 1 of 1 check\(s\) failed on the image$/m);
      assert.match(md, /❌ expected `aa`/);
      assert.match(md, /<summary>p: request, answer, expectation<\/summary>\n\n````text\n/);
      assert.match(md, /<summary>Container log \(last 2 lines\)<\/summary>/);
      assert.ok(!md.includes('tok-secret'), md);
    });
  });

  describe('tcpOpen (readiness without a path)', () => {
    const serve = (onConnection: (s: Socket) => void) =>
      new Promise<{ port: number; close: () => void }>((resolve) => {
        const server = createServer(onConnection).listen(0, '127.0.0.1', () =>
          resolve({ port: (server.address() as AddressInfo).port, close: () => server.close() }),
        );
      });
    it('true for a listener that keeps the connection, false for none and for a proxy that closes at once', async () => {
      const held: Socket[] = [];
      const app = await serve((s) => held.push(s));
      const proxy = await serve((s) => s.destroy());
      try {
        assert.equal(await tcpOpen('127.0.0.1', app.port, 2000), true);
        assert.equal(await tcpOpen('127.0.0.1', proxy.port, 2000), false);
        proxy.close();
        assert.equal(await tcpOpen('127.0.0.1', proxy.port, 2000), false);
      } finally {
        for (const s of held) s.destroy();
        app.close();
      }
    });
  });

  describe('engine', () => {
    const script = (name: string, body: string): string => {
      const bin = mkdtempSync(join(dir, `bin-${name}-`));
      writeFileSync(join(bin, name), `#!/bin/sh\n${body}\n`);
      chmodSync(join(bin, name), 0o755);
      return bin;
    };

    it('runs a command with stdin, exit code and output; a timeout and an abort kill it', async () => {
      const sh = new ContainerEngine('docker', '/bin/sh');
      const r = await sh.exec(['-c', 'cat; echo err >&2; exit 3'], { input: Readable.from([Buffer.from('in')]) });
      assert.deepEqual(r, { code: 3, stdout: 'in', stderr: 'err\n' });
      await assert.rejects(sh.exec(['-c', 'sleep 5; sleep 5'], { timeoutMs: 200 }), /'docker -c' did not finish within 200 ms/);
      const ac = new AbortController();
      const started = Date.now();
      const p = sh.exec(['-c', 'sleep 5; sleep 5'], { signal: ac.signal });
      setTimeout(() => ac.abort(new Error('stop')), 100);
      await assert.rejects(p, /stop/);
      assert.ok(Date.now() - started < 3000);
    });

    it('findOnPath finds executables only', () => {
      const bin = script('docker', 'exit 0');
      writeFileSync(join(bin, 'podman'), 'not executable');
      assert.equal(findOnPath('docker', `/nonexistent:${bin}`), join(bin, 'docker'));
      assert.equal(findOnPath('podman', bin), undefined);
    });

    it('auto: Docker when its engine answers, else Podman; neither: one line saying what to install', async () => {
      const up = script('docker', 'echo 28.2.2');
      assert.equal((await detectEngine('auto', { env: { PATH: up } })).kind, 'docker');
      const down = script('docker', 'echo "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?" >&2; exit 1');
      const podman = script('podman', 'exit 0');
      const chosen = await detectEngine('auto', { env: { PATH: `${down}:${podman}` } });
      assert.deepEqual([chosen.kind, chosen.bin], ['podman', join(podman, 'podman')]);
      await assert.rejects(
        detectEngine('auto', { env: { PATH: down } }),
        (e: unknown) =>
          e instanceof UserError &&
          e.code === 'NoContainerEngine' &&
          /^The Docker CLI is on PATH but its engine does not answer \(Cannot connect to the Docker daemon/.test(e.message),
      );
      await assert.rejects(
        detectEngine('auto', { env: { PATH: join(dir, 'empty') } }),
        (e: unknown) =>
          e instanceof UserError &&
          e.input === undefined &&
          /^No container engine on this agent: TestModelImage runs the image with Docker or Podman/.test(e.message),
      );
      await assert.rejects(
        detectEngine('podman', { env: { PATH: up }, input: 'engine' }),
        (e: unknown) => e instanceof UserError && e.input === 'engine' && /with Podman, and none/.test(e.message),
      );
    });
  });
});
