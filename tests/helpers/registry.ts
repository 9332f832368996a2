/**
 * A real OCI registry for tests: Debian's `docker-registry` (distribution 2.8)
 * bound to 127.0.0.1 on a free port, storage in a temp folder, with no auth,
 * htpasswd (bcrypt) or token auth. Stopped by the PID of the server process.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './net';

export { freePort };

export type RegistryAuthMode =
  | { mode: 'none' }
  | { mode: 'htpasswd'; users: Record<string, string> }
  | { mode: 'token'; realm: string; service: string; issuer: string; rootCertBundlePath: string };

export interface TestRegistry {
  port: number;
  /** host:port, e.g. 127.0.0.1:41234 */
  host: string;
  url: string;
  dir: string;
  pid: number;
  stop(): Promise<void>;
  /** Server log (stderr), for diagnosing failures. */
  log(): string;
}

async function waitForHttp(url: string, timeoutMs: number, proc: ChildProcess): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (proc.exitCode !== null || proc.signalCode !== null) throw new Error(`docker-registry exited with code ${proc.exitCode}`);
    try {
      const res = await fetch(url);
      await res.arrayBuffer();
      return;
    } catch {
      if (Date.now() > deadline) throw new Error(`docker-registry did not answer at ${url}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

export async function startRegistry(auth: RegistryAuthMode = { mode: 'none' }): Promise<TestRegistry> {
  const dir = mkdtempSync(join(tmpdir(), 'registry-'));
  const port = await freePort();
  let authYaml = '';
  if (auth.mode === 'htpasswd') {
    const lines = Object.entries(auth.users).map(([u, p]) => execFileSync('htpasswd', ['-Bbn', u, p], { encoding: 'utf8' }).trim());
    writeFileSync(join(dir, 'htpasswd'), lines.join('\n') + '\n');
    authYaml = `auth:\n  htpasswd:\n    realm: test-registry\n    path: ${join(dir, 'htpasswd')}\n`;
  } else if (auth.mode === 'token') {
    authYaml = `auth:\n  token:\n    realm: ${auth.realm}\n    service: ${auth.service}\n    issuer: ${auth.issuer}\n    rootcertbundle: ${auth.rootCertBundlePath}\n`;
  }
  const config = `version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: ${join(dir, 'data')}
  delete:
    enabled: true
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: 127.0.0.1:${port}
  secret: test-secret-${port}
${authYaml}`;
  writeFileSync(join(dir, 'config.yml'), config);
  const proc = spawn('docker-registry', ['serve', join(dir, 'config.yml')], { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  proc.stderr?.on('data', (d: Buffer) => {
    log = (log + d.toString()).slice(-20000);
  });
  const url = `http://127.0.0.1:${port}`;
  try {
    await waitForHttp(`${url}/v2/`, 15_000, proc);
  } catch (err) {
    proc.kill('SIGKILL');
    throw new Error(`${(err as Error).message}\n${log}`);
  }
  const pid = proc.pid as number;
  return {
    port,
    host: `127.0.0.1:${port}`,
    url,
    dir,
    pid,
    log: () => log,
    stop: async () => {
      const running = () => proc.exitCode === null && proc.signalCode === null;
      if (running()) {
        const exited = new Promise((r) => proc.once('exit', r));
        process.kill(pid, 'SIGTERM');
        await Promise.race([exited, new Promise((r) => setTimeout(r, 3000))]);
        if (running()) process.kill(pid, 'SIGKILL');
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
