/**
 * Local services for the demo and the end-to-end test, all on 127.0.0.1 and
 * all state in temp folders: Azurite (Blob), s3rver (S3), Debian's
 * docker-registry (when installed) and a Docker engine (when dockerd can run:
 * root and docker.io installed). What cannot run is reported as a skip with
 * the command that enables it. stop() stops everything that was started.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { startAzurite, type TestAzurite } from '../../tests/helpers/azurite';
import { dockerEngine, unavailableReason, type DockerEngine } from '../../tests/helpers/docker-engine';
import { startRegistry, type TestRegistry } from '../../tests/helpers/registry';
import { startS3Server, type TestS3Server } from '../../tests/helpers/s3server';

export interface Skip {
  what: string;
  why: string;
  /** The command that enables it. */
  enable: string;
}

export interface RegistryService {
  host: string;
  username?: string;
  password?: string;
  pid: number;
}

export interface Services {
  azurite: TestAzurite;
  s3: TestS3Server;
  registry?: RegistryService;
  docker?: DockerEngine;
  skipped: Skip[];
  stop(): Promise<void>;
}

export interface ServiceOptions {
  log?: (line: string) => void;
  /** Start the registry with htpasswd (Basic) auth when htpasswd is installed (default true). */
  registryAuth?: boolean;
  /** Try to start a Docker engine (default true). */
  docker?: boolean;
  /** Try to start a registry (default true). */
  registry?: boolean;
  /**
   * Stop the Docker engine in stop() (the demo). Off by default: the engine is
   * shared by every test of one process and stopped when the process exits.
   */
  stopDocker?: boolean;
}

export function onPath(bin: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${bin}`], { stdio: 'ignore' }).status === 0;
}

/** SIGTERM a process by its PID and wait (bounded) until it is gone, then SIGKILL. */
export async function stopPid(pid: number, timeoutMs: number): Promise<void> {
  const alive = () => {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  };
  if (!alive()) return;
  process.kill(pid, 'SIGTERM');
  const deadline = Date.now() + timeoutMs;
  while (alive() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  if (alive()) process.kill(pid, 'SIGKILL');
}

export async function startServices(options: ServiceOptions = {}): Promise<Services> {
  const log = options.log ?? (() => undefined);
  const stops: Array<() => Promise<void>> = [];
  const skipped: Skip[] = [];
  const stop = async () => {
    for (const s of stops.reverse()) await s().catch(() => undefined);
    stops.length = 0;
  };
  try {
    // Started side by side; when one fails, the other is still stopped (by the catch below).
    const [az, s3r] = await Promise.allSettled([startAzurite(), startS3Server()]);
    if (az.status === 'fulfilled') stops.push(() => az.value.stop());
    if (s3r.status === 'fulfilled') stops.push(() => s3r.value.stop());
    if (az.status === 'rejected') throw new Error(`Azurite did not start: ${(az.reason as Error).message}`);
    if (s3r.status === 'rejected') throw new Error(`The S3 server (s3rver) did not start: ${(s3r.reason as Error).message}`);
    const azurite = az.value;
    const s3 = s3r.value;
    log(`Azurite (Blob Storage emulator) on ${azurite.blobEndpoint} (pid ${azurite.pid})`);
    log(`S3 server (s3rver) on ${s3.endpoint} (pid ${s3.pid})`);

    let registry: RegistryService | undefined;
    if (options.registry === false) {
      skipped.push({ what: 'push to a local registry (PushToACR) and running the image', why: 'turned off', enable: 'unset DEMO_SKIP' });
    } else if (!onPath('docker-registry')) {
      skipped.push({
        what: 'push to a local registry (PushToACR) and running the image',
        why: 'docker-registry is not installed',
        enable: 'sudo apt-get install -y docker-registry',
      });
    } else {
      const useAuth = options.registryAuth !== false && onPath('htpasswd');
      const username = 'demo';
      const password = `pw-${Math.random().toString(36).slice(2, 12)}`;
      const r: TestRegistry = await startRegistry(useAuth ? { mode: 'htpasswd', users: { [username]: password } } : { mode: 'none' });
      stops.push(() => r.stop());
      registry = { host: r.host, pid: r.pid, ...(useAuth ? { username, password } : {}) };
      log(`OCI registry (docker-registry) on http://${r.host} (pid ${r.pid}, ${useAuth ? 'Basic auth' : 'no auth'})`);
    }

    let docker: DockerEngine | undefined;
    if (options.docker === false) {
      skipped.push({ what: 'running the pushed image in a Docker engine', why: 'turned off', enable: 'unset DEMO_SKIP' });
    } else {
      if (process.getuid?.() !== 0) {
        skipped.push({
          what: 'running the pushed image in a Docker engine',
          why: 'dockerd needs root',
          enable: 'sudo npm run demo   (after: sudo apt-get install -y docker.io)',
        });
      } else if (!existsSync('/usr/sbin/dockerd') || !existsSync('/usr/bin/docker')) {
        skipped.push({ what: 'running the pushed image in a Docker engine', why: 'docker.io is not installed', enable: 'sudo apt-get install -y docker.io' });
      } else {
        docker = await dockerEngine();
        if (docker) {
          const engine = docker;
          log(`Docker engine (dockerd) on ${engine.host} (pid ${engine.pid})`);
          if (options.stopDocker) stops.push(() => stopPid(engine.pid, 20_000));
        } else {
          skipped.push({
            what: 'running the pushed image in a Docker engine',
            why: `dockerd did not start (${unavailableReason()})`,
            enable: 'sudo apt-get install -y docker.io  (and run as root)',
          });
        }
      }
    }
    return { azurite, s3, registry, docker, skipped, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
