/**
 * A real Azure Blob service for tests: Azurite's blob server as a child
 * process bound to 127.0.0.1 on a free port, in memory (or in a temp folder),
 * with the well-known development account. Stopped by the PID of the server
 * process itself.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { freePort } from './net';

export const AZURITE_ACCOUNT = 'devstoreaccount1';
export const AZURITE_KEY = 'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==';

export interface TestAzurite {
  port: number;
  pid: number;
  accountName: string;
  accountKey: string;
  /** http://127.0.0.1:<port>/devstoreaccount1 */
  blobEndpoint: string;
  connectionString: string;
  stop(): Promise<void>;
  /** What Azurite printed, for diagnosing failures. */
  log(): string;
}

export interface AzuriteOptions {
  /** Keep blobs in memory (default) or in a temp folder. */
  inMemory?: boolean;
  /** Loose mode: ignore unsupported headers and parameters. */
  loose?: boolean;
}

function waitForExit(proc: ChildProcess, ms: number): Promise<boolean> {
  if (proc.exitCode !== null || proc.signalCode !== null) return Promise.resolve(true);
  return new Promise((done) => {
    const t = setTimeout(() => done(false), ms);
    proc.once('exit', () => {
      clearTimeout(t);
      done(true);
    });
  });
}

export async function startAzurite(options: AzuriteOptions = {}): Promise<TestAzurite> {
  const port = await freePort();
  const workDir = mkdtempSync(join(tmpdir(), 'azurite-'));
  const main = resolve(__dirname, '../../node_modules/azurite/dist/src/blob/main.js');
  const args = [main, '--blobHost', '127.0.0.1', '--blobPort', String(port), '--skipApiVersionCheck', '--disableTelemetry', '--silent'];
  // cwd is the temp folder either way, so nothing lands in the repository.
  args.push(...(options.inMemory !== false ? ['--inMemoryPersistence'] : ['--location', workDir]));
  if (options.loose) args.push('--loose');
  const proc = spawn(process.execPath, args, { cwd: workDir, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  proc.stdout?.on('data', (d: Buffer) => (output += d.toString()));
  proc.stderr?.on('data', (d: Buffer) => (output += d.toString()));
  const pid = proc.pid;
  if (pid === undefined) throw new Error('Azurite did not start');

  const stop = async (): Promise<void> => {
    if (proc.exitCode === null && proc.signalCode === null) {
      process.kill(pid, 'SIGTERM');
      if (!(await waitForExit(proc, 5000))) {
        process.kill(pid, 'SIGKILL');
        await waitForExit(proc, 5000);
      }
    }
    rmSync(workDir, { recursive: true, force: true });
  };

  const deadline = Date.now() + 30_000;
  for (;;) {
    if (proc.exitCode !== null) {
      await stop();
      throw new Error(`Azurite exited with code ${proc.exitCode}: ${output}`);
    }
    if (/successfully listens/i.test(output)) break;
    const up = await new Promise<boolean>((ok) => {
      const sock = net.connect(port, '127.0.0.1', () => {
        sock.destroy();
        ok(true);
      });
      sock.once('error', () => ok(false));
    });
    if (up) break;
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`Azurite did not listen on 127.0.0.1:${port} within 30 s: ${output}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }

  const blobEndpoint = `http://127.0.0.1:${port}/${AZURITE_ACCOUNT}`;
  return {
    port,
    pid,
    accountName: AZURITE_ACCOUNT,
    accountKey: AZURITE_KEY,
    blobEndpoint,
    connectionString: `DefaultEndpointsProtocol=http;AccountName=${AZURITE_ACCOUNT};AccountKey=${AZURITE_KEY};BlobEndpoint=${blobEndpoint};`,
    stop,
    log: () => output,
  };
}
