/**
 * The container engine on the agent: the Docker CLI (its daemon reachable)
 * or Podman, found on PATH. Commands run as child processes with a bounded
 * time, an optional stdin stream and the caller's abort signal (which kills
 * the child). No engine: one line saying which to install and how.
 */
import { spawn } from 'node:child_process';
import { accessSync, constants, statSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import type { Readable } from 'node:stream';
import { UserError } from '../errors';

export type EngineKind = 'docker' | 'podman';
export type EngineChoice = 'auto' | EngineKind;

export interface ExecResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface ExecOptions {
  input?: Readable;
  signal?: AbortSignal;
  /** Default 120 s. */
  timeoutMs?: number;
}

/** Most bytes of stdout/stderr kept per command (the ends are what matter). */
const MAX_OUTPUT = 1 << 20;

/** Absolute path of `name` on `PATH`, or undefined. */
export function findOnPath(name: string, path = process.env.PATH ?? ''): string | undefined {
  for (const dir of path.split(delimiter)) {
    if (!dir) continue;
    const p = join(dir, name);
    try {
      if (!statSync(p).isFile()) continue;
      accessSync(p, constants.X_OK);
      return p;
    } catch {
      // not here
    }
  }
  return undefined;
}

export class ContainerEngine {
  constructor(
    readonly kind: EngineKind,
    readonly bin: string,
    private readonly env: NodeJS.ProcessEnv = process.env,
  ) {}

  /** Runs `bin args`; resolves with the exit code (never rejects for a non-zero exit); rejects on abort or timeout. */
  exec(args: string[], o: ExecOptions = {}): Promise<ExecResult> {
    return new Promise((resolve, reject) => {
      if (o.signal?.aborted) {
        reject(o.signal.reason);
        return;
      }
      const child = spawn(this.bin, args, { env: this.env, stdio: [o.input ? 'pipe' : 'ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      const keep = (acc: string, chunk: string) => (acc.length + chunk.length > MAX_OUTPUT ? (acc + chunk).slice(-MAX_OUTPUT) : acc + chunk);
      child.stdout?.setEncoding('utf8').on('data', (c: string) => (stdout = keep(stdout, c)));
      child.stderr?.setEncoding('utf8').on('data', (c: string) => (stderr = keep(stderr, c)));
      let settled = false;
      const settle = (fn: () => void) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        o.signal?.removeEventListener('abort', onAbort);
        fn();
      };
      // Rejected at once: a killed CLI's own children may hold its output open for a while.
      const stop = (reason: unknown) => {
        child.kill('SIGKILL');
        settle(() => reject(reason));
      };
      const onAbort = () => stop(o.signal?.reason);
      o.signal?.addEventListener('abort', onAbort, { once: true });
      const timeoutMs = o.timeoutMs ?? 120_000;
      const took = timeoutMs < 1000 ? `${timeoutMs} ms` : `${Math.round(timeoutMs / 1000)} s`;
      const timer = setTimeout(
        () =>
          stop(new UserError(`'${this.kind} ${args[0]}' did not finish within ${took}: check the ${this.kind} engine is healthy.`, { code: 'Unreachable' })),
        timeoutMs,
      );
      if (o.input && child.stdin) {
        const stdin = child.stdin;
        stdin.on('error', () => undefined); // the engine closing its input early is reported by its exit code
        o.input.on('error', (err) => stop(err));
        o.input.pipe(stdin);
      }
      child.on('error', (err) => stop(err));
      child.on('close', (code) => settle(() => resolve({ code: code ?? -1, stdout, stderr })));
    });
  }
}

/** The last non-empty line of an engine's error output, for one-line messages. */
export function lastLine(text: string): string {
  const lines = text
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter(Boolean);
  return (lines[lines.length - 1] ?? '').slice(0, 300);
}

const INSTALL_HINT =
  'Microsoft-hosted Linux agents (ubuntu-latest) have Docker; on a self-hosted agent install Docker (sudo apt-get install -y docker.io, then add the agent user to the docker group) or Podman (sudo apt-get install -y podman)';

export interface DetectOptions {
  env?: NodeJS.ProcessEnv;
  signal?: AbortSignal;
  /** The input that chose the engine, for messages. */
  input?: string;
}

/**
 * The engine to use. `auto`: Docker when its CLI is on PATH and its daemon
 * answers, else Podman when on PATH. An explicit choice must be on PATH.
 */
export async function detectEngine(choice: EngineChoice, o: DetectOptions = {}): Promise<ContainerEngine> {
  const env = o.env ?? process.env;
  const docker = choice !== 'podman' ? findOnPath('docker', env.PATH) : undefined;
  const podman = choice !== 'docker' ? findOnPath('podman', env.PATH) : undefined;
  let dockerProblem: string | undefined;
  if (docker) {
    const engine = new ContainerEngine('docker', docker, env);
    const r = await engine.exec(['version', '--format', '{{.Server.Version}}'], { signal: o.signal, timeoutMs: 30_000 });
    if (r.code === 0 && r.stdout.trim()) return engine;
    dockerProblem = lastLine(r.stderr) || `docker version exited with ${r.code}`;
    if (!podman) {
      throw new UserError(
        `The Docker CLI is on PATH but its engine does not answer (${dockerProblem}): start the Docker service (sudo systemctl start docker) and give the agent user access (the docker group), or install Podman (sudo apt-get install -y podman).`,
        { code: 'NoContainerEngine', input: o.input },
      );
    }
  }
  if (podman) return new ContainerEngine('podman', podman, env);
  const wanted = choice === 'auto' ? 'Docker or Podman' : choice === 'docker' ? 'Docker' : 'Podman';
  throw new UserError(`No container engine on this agent: TestModelImage runs the image with ${wanted}, and none is on PATH. ${INSTALL_HINT}.`, {
    code: 'NoContainerEngine',
    input: choice === 'auto' ? undefined : o.input,
  });
}
