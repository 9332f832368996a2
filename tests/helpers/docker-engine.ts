/**
 * A real Docker engine for tests: Debian's `dockerd` (package docker.io),
 * started as root in a temp folder with its own socket, data and exec roots,
 * no iptables and no bridge network (so nothing on the host changes), once per
 * test process, and stopped (by the PID of dockerd itself) when the process
 * exits. Nothing is pulled from the internet: images come from local archives.
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';

export interface DockerEngine {
  /** `unix:///.../docker.sock` */
  host: string;
  dir: string;
  pid: number;
  /** Environment for the docker CLI (DOCKER_HOST set, BuildKit off: the legacy builder needs no network). */
  env: NodeJS.ProcessEnv;
  /** Runs the docker CLI against this engine; returns stdout (throws with stderr on failure). */
  docker(args: string[], options?: { timeoutMs?: number }): string;
  /** `docker load -i archive` (docker-archive or OCI archive tarball). */
  load(archive: string): string;
  /** Copies an image from an OCI layout (layout:ref) into the engine as `name` (via skopeo and docker load). */
  loadOciLayout(layoutDir: string, refName: string, name: string): void;
  log(): string;
}

let engine: Promise<DockerEngine | undefined> | undefined;
let reason = '';

function canRun(): boolean {
  if (process.getuid?.() !== 0) {
    reason = 'not root';
    return false;
  }
  for (const bin of ['/usr/sbin/dockerd', '/usr/bin/docker']) {
    if (!existsSync(bin)) {
      reason = `${bin} missing`;
      return false;
    }
  }
  return true;
}

async function start(): Promise<DockerEngine | undefined> {
  if (!canRun()) return undefined;
  // A short path: the socket path must stay under 108 bytes.
  const dir = mkdtempSync('/tmp/dkr-');
  const sock = join(dir, 'docker.sock');
  const logFd = openSync(join(dir, 'dockerd.log'), 'a');
  const child = spawn(
    '/usr/sbin/dockerd',
    [
      '--host',
      `unix://${sock}`,
      '--data-root',
      join(dir, 'data'),
      '--exec-root',
      join(dir, 'exec'),
      '--pidfile',
      join(dir, 'dockerd.pid'),
      '--iptables=false',
      '--ip6tables=false',
      '--bridge=none',
    ],
    { stdio: ['ignore', logFd, logFd], detached: false },
  );
  child.unref();
  const pid = child.pid as number;
  const host = `unix://${sock}`;
  const env: NodeJS.ProcessEnv = { ...process.env, DOCKER_HOST: host, DOCKER_BUILDKIT: '0' };
  process.once('exit', () => stopSync(pid, dir));
  // A watchdog stops dockerd even when this process dies without running exit handlers (SIGKILL, SIGTERM).
  spawn('sh', ['-c', `while kill -0 ${process.pid} 2>/dev/null; do sleep 1; done; ${stopScript(pid, dir)}`], { detached: true, stdio: 'ignore' }).unref();
  const deadline = Date.now() + 60000;
  for (;;) {
    const r = spawnSync('docker', ['version', '--format', '{{.Server.Version}}'], { env, encoding: 'utf8' });
    if (r.status === 0 && r.stdout.trim()) break;
    if (child.exitCode !== null || Date.now() > deadline) {
      reason = `dockerd did not start: ${readFileSync(join(dir, 'dockerd.log'), 'utf8').split('\n').slice(-5).join(' | ')}`;
      stopSync(pid, dir);
      return undefined;
    }
    await new Promise((r2) => setTimeout(r2, 250));
  }
  const docker = (args: string[], options: { timeoutMs?: number } = {}) => {
    const r = spawnSync('docker', args, { env, encoding: 'utf8', maxBuffer: 1 << 26, timeout: options.timeoutMs ?? 300000 });
    if (r.status !== 0) throw new Error(`docker ${args.join(' ')} failed (${r.status}): ${r.stderr}`);
    return r.stdout;
  };
  return {
    host,
    dir,
    pid,
    env,
    docker,
    load: (archive) => docker(['load', '-i', archive]),
    loadOciLayout: (layoutDir, refName, name) => {
      const archive = join(dir, `load-${Date.now()}-${Math.random().toString(16).slice(2)}.tar`);
      execFileSync('skopeo', ['copy', '--insecure-policy', `oci:${layoutDir}:${refName}`, `docker-archive:${archive}:${name}`], { stdio: 'pipe' });
      try {
        docker(['load', '-i', archive]);
      } finally {
        rmSync(archive, { force: true });
      }
    },
    log: () => readFileSync(join(dir, 'dockerd.log'), 'utf8'),
  };
}

/** Shell: stop dockerd by its PID (bounded wait, then SIGKILL), unmount what it left, remove its folder. */
function stopScript(pid: number, dir: string): string {
  return `if [ -d '${dir}' ]; then kill -TERM ${pid} 2>/dev/null; i=0; while kill -0 ${pid} 2>/dev/null && [ $i -lt 150 ]; do sleep 0.1; i=$((i+1)); done; kill -9 ${pid} 2>/dev/null; grep -o ' ${dir}/[^ ]*' /proc/mounts | sort -r | xargs -r -n1 umount -l 2>/dev/null; rm -rf '${dir}'; fi; true`;
}

function stopSync(pid: number, dir: string): void {
  spawnSync('sh', ['-c', stopScript(pid, dir)]);
}

/** The engine of this test process (started on first use), or undefined when it cannot run here. */
export function dockerEngine(): Promise<DockerEngine | undefined> {
  if (!engine) engine = start();
  return engine;
}

/** Whether a Docker engine can be started here (starts it). */
export async function available(): Promise<boolean> {
  return (await dockerEngine()) !== undefined;
}

export function unavailableReason(): string {
  return reason;
}
