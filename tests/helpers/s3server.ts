/**
 * A real S3-compatible server for tests: s3rver (npm) on 127.0.0.1 and a free
 * port, objects in a temp folder. By default it runs as its own process
 * (stopped by its PID) under `--openssl-legacy-provider`: s3rver encrypts
 * ListObjectsV2 continuation tokens with DES, which OpenSSL 3 refuses
 * otherwise, so paging past 1000 keys only works that way. It also keeps the
 * server's CPU off the process under test. `inProcess: true` runs it inside
 * the test process instead (no listing past one page).
 *
 * What s3rver does not do (say so in tests that depend on it): it accepts any
 * signature and any access key (no credential checks), has no object
 * versioning (no version ids), and answers multipart ETags as a plain MD5.
 * `verifySignatures: true` puts a SigV4-verifying front (./sigv4-front.ts)
 * before it: then `endpoint` and `port` are the front's, and a wrong key id
 * or secret is refused as S3 refuses it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Readable } from 'node:stream';
import { CreateBucketCommand, PutObjectCommand, PutObjectTaggingCommand, S3Client } from '@aws-sdk/client-s3';
import S3rver from 's3rver';
import { freePort } from './net';
import { startSigV4Front, type SigV4Front } from './sigv4-front';

export interface TestS3Server {
  /** http://127.0.0.1:<port> (the signature-verifying front's, with verifySignatures) */
  endpoint: string;
  port: number;
  /** The signature-verifying front, with verifySignatures. */
  front?: SigV4Front;
  /** PID of the server process (the test process itself when running in process). */
  pid: number;
  accessKeyId: string;
  secretAccessKey: string;
  region: string;
  /** A client for seeding data (path-style, checksums only when required). */
  client: S3Client;
  createBucket(bucket: string): Promise<void>;
  putObject(bucket: string, key: string, body: string | Buffer | Readable, options?: PutOptions): Promise<void>;
  stop(): Promise<void>;
}

export interface PutOptions {
  metadata?: Record<string, string>;
  tags?: Record<string, string>;
  contentLength?: number;
}

export interface S3ServerOptions {
  /** Run s3rver inside the test process (faster start; listings cannot page past 1000 keys). */
  inProcess?: boolean;
  /** Run s3rver as its own process: the default; `true` is accepted for callers that ask for it explicitly. */
  childProcess?: boolean;
  buckets?: string[];
  /** Verify every request's SigV4 signature with the known key (a front before s3rver, which checks none). */
  verifySignatures?: boolean;
}

async function waitForPort(port: number, proc: ChildProcess, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`s3rver exited with code ${proc.exitCode}`);
    const up = await new Promise<boolean>((ok) => {
      const sock = net.connect(port, '127.0.0.1', () => {
        sock.destroy();
        ok(true);
      });
      sock.once('error', () => ok(false));
    });
    if (up) return;
    if (Date.now() > deadline) throw new Error(`s3rver did not listen on 127.0.0.1:${port}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export async function startS3Server(options: S3ServerOptions = {}): Promise<TestS3Server> {
  // The AWS SDK warns on Node 20 about its 2027 releases; keep test logs clean.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  const dir = mkdtempSync(join(tmpdir(), 's3rver-'));
  const port = await freePort();
  let pid: number;
  let stopServer: () => Promise<void>;
  if (options.childProcess === true || !options.inProcess) {
    const bin = resolve(__dirname, '../../node_modules/s3rver/bin/s3rver.js');
    const proc = spawn(process.execPath, ['--openssl-legacy-provider', bin, '--address', '127.0.0.1', '--port', String(port), '--directory', dir, '--silent'], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    if (proc.pid === undefined) throw new Error('s3rver did not start');
    const childPid = proc.pid;
    let stderr = '';
    proc.stderr?.on('data', (d: Buffer) => {
      stderr = (stderr + d.toString()).slice(-10_000);
    });
    pid = childPid;
    stopServer = async () => {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      const exited = new Promise<void>((r) => proc.once('exit', () => r()));
      process.kill(childPid, 'SIGTERM');
      const timer = setTimeout(() => {
        if (proc.exitCode === null && proc.signalCode === null) process.kill(childPid, 'SIGKILL');
      }, 5000);
      await exited;
      clearTimeout(timer);
    };
    try {
      await waitForPort(port, proc, 30_000);
    } catch (err) {
      await stopServer();
      rmSync(dir, { recursive: true, force: true });
      throw new Error(`${(err as Error).message}: ${stderr}`);
    }
  } else {
    const server = new S3rver({ address: '127.0.0.1', port, directory: dir, silent: true });
    await server.run();
    pid = process.pid;
    stopServer = () => server.close();
  }

  const accessKeyId = 'S3RVER';
  const secretAccessKey = 'S3RVER';
  const front = options.verifySignatures ? await startSigV4Front({ targetPort: port, accessKeyId, secretAccessKey }) : undefined;
  const endpoint = front?.endpoint ?? `http://127.0.0.1:${port}`;
  const region = 'us-east-1';
  const client = new S3Client({
    endpoint,
    region,
    forcePathStyle: true,
    credentials: { accessKeyId, secretAccessKey },
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
  const result: TestS3Server = {
    endpoint,
    port: front?.port ?? port,
    ...(front ? { front } : {}),
    pid,
    accessKeyId,
    secretAccessKey,
    region,
    client,
    async createBucket(bucket) {
      await client.send(new CreateBucketCommand({ Bucket: bucket }));
    },
    async putObject(bucket, key, body, put = {}) {
      await client.send(
        new PutObjectCommand({
          Bucket: bucket,
          Key: key,
          Body: body,
          Metadata: put.metadata,
          ContentLength: put.contentLength ?? (typeof body === 'string' ? Buffer.byteLength(body) : Buffer.isBuffer(body) ? body.length : undefined),
        }),
      );
      if (put.tags) {
        await client.send(
          new PutObjectTaggingCommand({ Bucket: bucket, Key: key, Tagging: { TagSet: Object.entries(put.tags).map(([Key, Value]) => ({ Key, Value })) } }),
        );
      }
    },
    async stop() {
      client.destroy();
      await front?.stop();
      await stopServer();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  for (const b of options.buckets ?? []) await result.createBucket(b);
  return result;
}
