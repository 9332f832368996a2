/**
 * TestModelImage's work: load the image of an OCI layout into the agent's
 * container engine, run it with its own entrypoint and env (plus the env the
 * caller adds) with its port on 127.0.0.1, wait until it is ready, then run
 * the checks: health, the model identity the app reports (against the
 * bundle's modelSha256) and the caller's prediction checks (shared/check).
 *
 * The container and the loaded image are removed in every case: success,
 * failure, error and cancellation (the signal aborts what runs, cleanup then
 * runs without it). A failure after the container started is returned (with
 * the container's last log lines) so the caller can still write outputs and
 * the run summary; only cancellation and failures before the start throw.
 */
import { randomBytes } from 'node:crypto';
import {
  checksFailedError,
  evaluate,
  lookup,
  parseJsonPath,
  parseStatus,
  renderFailure,
  type PathSegment,
  runChecks,
  type Check,
  type CheckOutcome,
  type SendCheck,
} from '../check';
import { errorMessage, InputError, UserError } from '../errors';
import type { Logger } from '../log';
import type { OciLayout } from '../oci/layout';
import { dockerArchiveStream } from '../oci/docker-archive';
import { Annotation } from '../oci/types';
import { sleep } from '../retry';
import { lastLine, type ContainerEngine } from './engine';
import { httpSend, loopbackSender, tcpOpen } from './http';
import { summaryMarkdown } from './summary';

export type NetworkMode = 'publish' | 'host';

export const RUN_DEFAULTS = {
  readinessPath: '/',
  readinessTimeoutSeconds: 60,
  versionPath: '/version',
  versionSha256Path: '$.modelSha256',
  requestTimeoutSeconds: 30,
  logLines: 50,
  network: 'publish' as NetworkMode,
} as const;

/** Label on every container this task starts (its value: the run id). */
export const CONTAINER_LABEL = 'io.modeltoaks.test';

export interface TestImageOptions {
  layout: OciLayout;
  /** Ref name of the image in the layout (empty: its only image). */
  sourceTag?: string;
  /** The image and port, when the caller resolved them already ({@link resolveImage}). */
  image?: ResolvedImage;
  engine: ContainerEngine;
  /** The port the app listens on in the container; default: the image's only exposed TCP port. */
  containerPort?: number;
  network?: NetworkMode;
  /** Added to (and overriding) the image's env. */
  env?: Array<[string, string]>;
  /** HTTP path answered 200-399 when ready; '' waits for the TCP port instead. */
  readinessPath?: string;
  readinessTimeoutSeconds?: number;
  /** Path of the identity document ('' skips the identity check). */
  versionPath?: string;
  /** JSON path of the model sha256 in it. */
  versionSha256Path?: string;
  /** Expected model sha256 (hex, `sha256:` allowed); default: the image's io.modeltoaks.model.sha256 annotation. */
  modelSha256?: string;
  /** Prediction checks (shared/check). */
  checks?: Check[];
  requestTimeoutSeconds?: number;
  /** Container log lines shown on failure. */
  logLines?: number;
  signal?: AbortSignal;
  logger: Logger;
  /** Masks registered secrets in text shown (log, summary, outputs). */
  mask?: (text: string) => string;
}

export interface ReportedModel {
  /** The identity document as the app answered it (parsed JSON), when it answered JSON. */
  document?: unknown;
  sha256?: string;
  version?: string;
}

export interface TestImageResult {
  engine: string;
  imageDigest: string;
  imageRef: string;
  hostPort?: number;
  readySeconds?: number;
  outcomes: CheckOutcome[];
  reported?: ReportedModel;
  expectedSha256?: string;
  /** The failure of the test (exited, not ready, checks failed), or undefined when it passed. */
  failure?: UserError;
  containerLog?: string[];
  summary: string;
}

const normalizeSha = (s: string): string =>
  s
    .trim()
    .toLowerCase()
    .replace(/^sha256:/, '');

/** The container port to probe: the input, else the image's only exposed TCP port. */
export function pickContainerPort(exposed: Record<string, unknown> | undefined, given: number | undefined): number {
  if (given !== undefined) return given;
  const ports = Object.keys(exposed ?? {})
    .filter((p) => !p.endsWith('/udp') && !p.endsWith('/sctp'))
    .map((p) => Number(p.split('/')[0]))
    .filter((n) => Number.isInteger(n) && n > 0 && n < 65536);
  if (ports.length === 1) return ports[0]!;
  if (ports.length === 0) {
    throw new InputError(
      'containerPort',
      "The image exposes no TCP port (BundleModelImage 'ports', Dockerfile EXPOSE): set 'containerPort' to the port the app listens on.",
    );
  }
  throw new InputError('containerPort', `The image exposes several TCP ports (${ports.join(', ')}): set 'containerPort' to the one the app serves on.`);
}

/** The `run` arguments (after `run`): detached, labelled, never pulling, the port on 127.0.0.1 or the host's network. */
export function runArguments(o: {
  name: string;
  runId: string;
  image: string;
  containerPort: number;
  network: NetworkMode;
  env: Array<[string, string]>;
}): string[] {
  const args = ['run', '--detach', '--name', o.name, '--label', `${CONTAINER_LABEL}=${o.runId}`, '--pull', 'never'];
  if (o.network === 'host') args.push('--network', 'host');
  else args.push('--publish', `127.0.0.1::${o.containerPort}/tcp`);
  for (const [k, v] of o.env) args.push('--env', `${k}=${v}`);
  args.push(o.image);
  return args;
}

/** The host port of `docker port` output ("127.0.0.1:32768", possibly several lines). */
export function parseHostPort(text: string): number | undefined {
  for (const line of text.split(/\r?\n/)) {
    const m = /^127\.0\.0\.1:(\d+)$/.exec(line.trim());
    if (m) return Number(m[1]);
  }
  return undefined;
}

/** The image of the layout to test and the port to probe, checked before any engine is involved. */
export interface ResolvedImage {
  found: FoundImage;
  containerPort: number;
}
type FoundImage = Awaited<ReturnType<OciLayout['findManifest']>>;

/**
 * Finds the image (`sourceTag`, or the layout's only one) and the container
 * port; errors name the input to fix (sourceTag, containerPort).
 */
export async function resolveImage(layout: OciLayout, sourceTag: string | undefined, containerPort: number | undefined): Promise<ResolvedImage> {
  let found: FoundImage;
  try {
    found = await layout.findManifest(sourceTag || undefined);
  } catch (err) {
    if (err instanceof UserError && (err.code === 'NotFound' || err.code === 'Ambiguous')) {
      throw new InputError('sourceTag', `${err.message.replace(/\.$/, '')}: set 'sourceTag' to one of the layout's images.`, err);
    }
    throw err;
  }
  return { found, containerPort: pickContainerPort(found.config.config?.ExposedPorts, containerPort) };
}

/** A JSON path input, checked: an InputError naming `input` when it is not one. */
export function jsonPathInput(text: string, input: string): PathSegment[] {
  try {
    return parseJsonPath(text);
  } catch (err) {
    throw new InputError(input, `Input '${input}' is not a JSON path like $.modelSha256: ${errorMessage(err)}.`);
  }
}

export async function testImage(o: TestImageOptions): Promise<TestImageResult> {
  const log = o.logger;
  const mask = o.mask ?? ((s: string) => s);
  const engine = o.engine;
  const { found, containerPort } = o.image ?? (await resolveImage(o.layout, o.sourceTag, o.containerPort));
  const annotations = { ...(found.config.config?.Labels ?? {}), ...(found.manifest.annotations ?? {}) };
  const expectedSha = o.modelSha256
    ? normalizeSha(o.modelSha256)
    : annotations[Annotation.ModelSha256]
      ? normalizeSha(annotations[Annotation.ModelSha256])
      : undefined;
  const network = o.network ?? RUN_DEFAULTS.network;
  const readinessPath = o.readinessPath ?? RUN_DEFAULTS.readinessPath;
  const versionPath = o.versionPath ?? RUN_DEFAULTS.versionPath;
  const versionSha256Path = o.versionSha256Path ?? RUN_DEFAULTS.versionSha256Path;
  const shaSegments = jsonPathInput(versionSha256Path, 'versionSha256Path');
  const runId = randomBytes(6).toString('hex');
  const image = `modeltoaks-test:${runId}`;
  const name = `modeltoaks-test-${runId}`;
  const result: TestImageResult = {
    engine: engine.kind,
    imageDigest: found.descriptor.digest,
    imageRef: image,
    outcomes: [],
    expectedSha256: expectedSha,
    summary: '',
  };
  const signal = o.signal;
  let loaded = false;
  let created = false;

  const containerLog = async (): Promise<string[]> => {
    const r = await engine.exec(['logs', '--tail', String(o.logLines ?? RUN_DEFAULTS.logLines), name], { timeoutMs: 30_000 }).catch(() => undefined);
    if (!r) return [];
    return `${r.stdout}${r.stderr}`
      .split(/\r?\n/)
      .filter((l) => l.trim() !== '')
      .map((l) => mask(l));
  };
  const fail = async (err: UserError): Promise<TestImageResult> => {
    result.failure = err;
    result.containerLog = await containerLog();
    log.info(`Last ${result.containerLog.length} line(s) of the container's log:`);
    for (const l of result.containerLog) log.info(`  | ${l}`);
    return result;
  };

  try {
    log.info(`Loading image ${found.descriptor.digest} into ${engine.kind} as ${image}`);
    // Marked before the load: a load cancelled half-way may still have tagged the image.
    loaded = true;
    const load = await engine.exec(['load'], { input: dockerArchiveStream(o.layout, found.manifest, image), signal, timeoutMs: 30 * 60_000 });
    if (load.code !== 0) {
      throw new UserError(
        `${engine.kind} load refused the image of '${o.layout.dir}': ${lastLine(load.stderr) || `exit code ${load.code}`}; check the layout (rebuild it with BundleModelImage) and the engine's free disk space.`,
        {
          code: 'ImageLoadFailed',
        },
      );
    }
    const runArgs = runArguments({ name, runId, image, containerPort, network, env: o.env ?? [] });
    log.info(`Starting container ${name} (${network === 'host' ? `host network, port ${containerPort}` : `port ${containerPort} published on 127.0.0.1`})`);
    const started = Date.now();
    created = true;
    const run = await engine.exec(runArgs, { signal, timeoutMs: 120_000 });
    if (run.code !== 0) {
      return await fail(
        new UserError(
          `The container did not start: ${mask(lastLine(run.stderr) || `${engine.kind} run exited with ${run.code}`)}; check the image's entrypoint and 'env'.`,
          {
            code: 'ContainerStartFailed',
          },
        ),
      );
    }
    let hostPort = containerPort;
    if (network === 'publish') {
      const p = await engine.exec(['port', name, `${containerPort}/tcp`], { signal, timeoutMs: 30_000 });
      const parsed = parseHostPort(p.stdout);
      if (p.code !== 0 || parsed === undefined) {
        return await fail(
          new UserError(
            `${engine.kind} did not publish port ${containerPort} of the container on 127.0.0.1 (${lastLine(p.stderr) || p.stdout.trim() || 'no mapping'}): set 'network' to host on agents without a bridge network.`,
            {
              code: 'ContainerStartFailed',
              input: 'network',
            },
          ),
        );
      }
      hostPort = parsed;
    }
    result.hostPort = hostPort;

    // Readiness.
    const timeoutS = o.readinessTimeoutSeconds ?? RUN_DEFAULTS.readinessTimeoutSeconds;
    const deadline = started + timeoutS * 1000;
    const probeWhat = readinessPath ? `GET ${readinessPath} on 127.0.0.1:${hostPort}` : `TCP port 127.0.0.1:${hostPort}`;
    log.info(`Waiting up to ${timeoutS} s for ${probeWhat}`);
    let last = 'no answer yet';
    for (;;) {
      const st = await engine.exec(['inspect', '--format', '{{.State.Status}} {{.State.ExitCode}}', name], { signal, timeoutMs: 30_000 });
      const [status, exitCode] = st.stdout.trim().split(/\s+/);
      if (st.code === 0 && (status === 'exited' || status === 'dead' || status === 'stopped')) {
        const lines = await containerLog();
        return await fail(
          new UserError(
            `The container exited with code ${exitCode} ${((Date.now() - started) / 1000).toFixed(1)} s after it started, before it was ready${lines.length ? ` (its last log line: ${lines[lines.length - 1]!.trim().slice(0, 200)})` : ''}: see its log above; check the app starts with the image's entrypoint and env.`,
            { code: 'ContainerExited' },
          ),
        );
      }
      let ready = false;
      if (readinessPath) {
        try {
          const a = await httpSend(
            '127.0.0.1',
            hostPort,
            { method: 'GET', path: readinessPath, headers: {} },
            AbortSignal.any([AbortSignal.timeout(5000), ...(signal ? [signal] : [])]),
          );
          ready = a.status >= 200 && a.status < 400;
          last = `HTTP ${a.status}`;
        } catch (err) {
          signal?.throwIfAborted();
          last = (err as NodeJS.ErrnoException).code ?? errorMessage(err);
        }
      } else {
        ready = await tcpOpen('127.0.0.1', hostPort, 5000);
        last = ready ? 'open' : 'not accepting connections';
      }
      if (ready) break;
      if (Date.now() >= deadline) {
        return await fail(
          new UserError(
            `The container did not become ready within ${timeoutS} s: ${probeWhat} last gave ${last}; see its log above, raise 'readinessTimeoutSeconds' if it loads slowly, or fix 'readinessPath' / 'containerPort'.`,
            { code: 'NotReady' },
          ),
        );
      }
      await sleep(500, signal);
    }
    result.readySeconds = Math.round((Date.now() - started) / 100) / 10;
    log.info(`Ready after ${result.readySeconds} s`);

    // Checks: health, identity, then the caller's.
    const send: SendCheck = loopbackSender(hostPort);
    const checks: Check[] = [];
    if (readinessPath) {
      checks.push({
        name: 'health',
        source: "input 'readinessPath'",
        request: { method: 'GET', path: readinessPath, headers: {} },
        expect: { status: parseStatus('200-399'), json: [], match: [] },
      });
    }
    const identityName = 'model identity';
    if (versionPath) {
      checks.push({
        name: identityName,
        source: "input 'versionPath'",
        request: { method: 'GET', path: versionPath, headers: {} },
        expect: {
          status: parseStatus('2xx'),
          json: expectedSha
            ? [{ path: versionSha256Path, segments: shaSegments, matcher: { kind: 'matches', regex: new RegExp(`^(?:sha256:)?${expectedSha}$`, 'i') } }]
            : [],
          match: [],
        },
      });
    }
    checks.push(...(o.checks ?? []));
    const outcomes = await runChecks(checks, send, {
      signal,
      timeoutMs: (o.requestTimeoutSeconds ?? RUN_DEFAULTS.requestTimeoutSeconds) * 1000,
      onOutcome: (c) =>
        log.info(
          `${c.passed ? 'PASS' : 'FAIL'} ${c.check.name}: ${c.check.request.method} ${c.check.request.path}${c.answer ? ` -> HTTP ${c.answer.status}` : ''}${c.passed ? '' : ` (${mask(c.failures[0] ?? '')})`}`,
        ),
    });
    result.outcomes = outcomes;

    const identity = outcomes.find((c) => c.check.name === identityName && c.check.source === "input 'versionPath'");
    if (identity?.answer) {
      const reported: ReportedModel = {};
      try {
        reported.document = JSON.parse(identity.answer.body.toString('utf8'));
        const sha = lookup(reported.document, shaSegments);
        if (sha.found && typeof sha.value === 'string') reported.sha256 = normalizeSha(sha.value);
        for (const p of ['$.modelVersion', '$.version']) {
          const v = lookup(reported.document, parseJsonPath(p));
          if (v.found && (typeof v.value === 'string' || typeof v.value === 'number')) {
            reported.version = String(v.value);
            break;
          }
        }
      } catch {
        // not JSON: the identity check reports it
      }
      result.reported = reported;
      log.info(
        `The container reports model ${reported.version ?? '(no version)'} sha256 ${reported.sha256 ?? '(none)'}${expectedSha ? ` (expected ${expectedSha})` : ''}`,
      );
    }
    if (!expectedSha && versionPath)
      log.warn(
        "No expected model sha256 (no 'modelSha256' input, no io.modeltoaks.model.sha256 annotation on the image): the model the container serves was reported, not verified.",
      );

    const failed = outcomes.filter((c) => !c.passed);
    for (const f of failed) log.info(renderFailure(f, { mask }));
    if (
      identity &&
      !identity.passed &&
      identity.answer &&
      statusOk(identity) &&
      expectedSha &&
      result.reported?.sha256 &&
      result.reported.sha256 !== expectedSha
    ) {
      return await fail(
        new UserError(
          `The container serves model sha256 ${result.reported.sha256} (GET ${versionPath} ${versionSha256Path}), not the bundle's modelSha256 ${expectedSha}: the image holds a different model than the one fetched; rebuild the image from the fetched model (or correct 'modelSha256').`,
          { code: 'ChecksumMismatch' },
        ),
      );
    }
    const checkError = checksFailedError(outcomes, 'the image');
    if (checkError) return await fail(new UserError(mask(checkError.message), { code: 'CheckFailed' }));
    return result;
  } finally {
    result.summary = summaryMarkdown(result, mask);
    await cleanup(engine, { name: created ? name : undefined, image: loaded ? image : undefined }, log);
  }
}

const statusOk = (c: CheckOutcome): boolean => (c.answer ? evaluate({ expect: { ...c.check.expect, json: [], match: [] } }, c.answer).passed : false);

/** Removes the container and the loaded tag; never throws (a leftover is a warning naming the command to run). */
async function cleanup(engine: ContainerEngine, what: { name?: string; image?: string }, log: Logger): Promise<void> {
  if (what.name) {
    const r = await engine
      .exec(['rm', '--force', '--volumes', what.name], { timeoutMs: 60_000 })
      .catch((err: unknown) => ({ code: -1, stdout: '', stderr: errorMessage(err) }));
    if (r.code !== 0 && !/no such container/i.test(r.stderr))
      log.warn(`Could not remove container ${what.name} (${lastLine(r.stderr)}): remove it with '${engine.kind} rm -f ${what.name}'.`);
    else log.info(`Removed container ${what.name}`);
  }
  if (what.image) {
    const r = await engine.exec(['rmi', what.image], { timeoutMs: 120_000 }).catch((err: unknown) => ({ code: -1, stdout: '', stderr: errorMessage(err) }));
    if (r.code !== 0 && !/no such image|image not known/i.test(r.stderr))
      log.warn(`Could not remove image ${what.image} (${lastLine(r.stderr)}): remove it with '${engine.kind} rmi ${what.image}'.`);
    else log.info(`Removed image ${what.image}`);
  }
}
