/**
 * A small hostile S3 for tests: a node:http server on 127.0.0.1 speaking just
 * enough path-style S3 (ListObjectsV2, HEAD and ranged GET of objects) for
 * FetchModel to list and download a folder model, holding whatever keys the
 * test gives it verbatim: `a/../../x`, `a//b`, `a\b`, a folder named `..`.
 * Real S3 accepts such keys, the AWS SDK sends them raw, and Azurite/s3rver
 * cannot hold them (they normalise paths), hence this server.
 *
 * It accepts any credentials and signature. Every request is recorded
 * (method, bucket, raw path, key) so a test can check what was fetched.
 *
 * It runs in its own process (written when the task runner blocked the test
 * process's event loop; kept so its state survives a test process crash). The test drives it over a reserved path no bucket can have
 * (`/__hostile__/objects`, `/__hostile__/requests`) and stops it by its PID.
 * Run directly (`node --import tsx tests/helpers/hostile-s3.ts`) it serves
 * and prints `{"endpoint": ...}` on one line.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface HostileS3Request {
  method: string;
  /** The URL exactly as received. */
  rawUrl: string;
  bucket: string;
  /** Object key (decoded, nothing normalised); '' for bucket-level requests. */
  key: string;
}

export interface HostileS3 {
  /** http://127.0.0.1:<port> */
  endpoint: string;
  /** Every S3 request received so far (control requests excluded). */
  requests(): Promise<HostileS3Request[]>;
  /** Replace the objects of a bucket (keys verbatim). */
  setObjects(bucket: string, objects: Record<string, Buffer | string>): Promise<void>;
  stop(): Promise<void>;
}

const CONTROL = '/__hostile__/';

interface StoredObject {
  body: Buffer;
  etag: string;
  lastModified: Date;
}

const xmlEscape = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&apos;');

/** Percent-decode each `/`-separated piece of a raw path without normalising it. */
function decodePath(raw: string): string {
  return raw
    .split('/')
    .map((p) => {
      try {
        return decodeURIComponent(p);
      } catch {
        return p;
      }
    })
    .join('/');
}

function errorXml(res: http.ServerResponse, status: number, code: string, message: string, head: boolean): void {
  res.writeHead(status, { 'Content-Type': 'application/xml' });
  res.end(head ? undefined : `<?xml version="1.0" encoding="UTF-8"?><Error><Code>${code}</Code><Message>${xmlEscape(message)}</Message></Error>`);
}

/** The server itself (in this process); prints nothing. */
export async function serveHostileS3(): Promise<{ endpoint: string; close(): Promise<void> }> {
  const buckets = new Map<string, Map<string, StoredObject>>();
  const requests: HostileS3Request[] = [];
  const setObjects = (bucket: string, objects: Record<string, Buffer>): void => {
    const map = new Map<string, StoredObject>();
    let t = Date.UTC(2026, 0, 1);
    for (const [k, body] of Object.entries(objects)) {
      map.set(k, { body, etag: createHash('md5').update(body).digest('hex'), lastModified: new Date((t += 1000)) });
    }
    buckets.set(bucket, map);
  };

  const server = http.createServer((req, res) => {
    const rawUrl = req.url ?? '/';
    if (rawUrl.startsWith(CONTROL)) {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        if (rawUrl === `${CONTROL}objects` && req.method === 'POST') {
          const { bucket, objects } = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { bucket: string; objects: Record<string, string> };
          setObjects(bucket, Object.fromEntries(Object.entries(objects).map(([k, v]) => [k, Buffer.from(v, 'base64')])));
          res.writeHead(204).end();
        } else if (rawUrl === `${CONTROL}requests`) {
          res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify(requests));
        } else {
          res.writeHead(404).end();
        }
      });
      return;
    }
    const q = rawUrl.indexOf('?');
    const rawPath = q < 0 ? rawUrl : rawUrl.slice(0, q);
    const query = new URLSearchParams(q < 0 ? '' : rawUrl.slice(q + 1));
    // Path style: /<bucket>/<key...>; the key keeps every '.', '..' and empty segment.
    const slash = rawPath.indexOf('/', 1);
    const bucket = decodeURIComponent(slash < 0 ? rawPath.slice(1) : rawPath.slice(1, slash));
    const key = slash < 0 ? '' : decodePath(rawPath.slice(slash + 1));
    const method = req.method ?? 'GET';
    requests.push({ method, rawUrl, bucket, key });
    req.resume();
    const head = method === 'HEAD';
    const objects = buckets.get(bucket);
    if (!objects) return errorXml(res, 404, 'NoSuchBucket', `The bucket ${bucket} does not exist`, head);

    if (key === '') {
      if (method !== 'GET' || query.get('list-type') !== '2') return errorXml(res, 501, 'NotImplemented', 'Only ListObjectsV2 is implemented', head);
      const prefix = query.get('prefix') ?? '';
      const keys = [...objects.keys()].filter((k) => k.startsWith(prefix)).sort();
      const contents = keys
        .map((k) => {
          const o = objects.get(k) as StoredObject;
          return `<Contents><Key>${xmlEscape(k)}</Key><LastModified>${o.lastModified.toISOString()}</LastModified><ETag>&quot;${o.etag}&quot;</ETag><Size>${o.body.length}</Size><StorageClass>STANDARD</StorageClass></Contents>`;
        })
        .join('');
      res.writeHead(200, { 'Content-Type': 'application/xml' });
      res.end(
        `<?xml version="1.0" encoding="UTF-8"?><ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>${xmlEscape(bucket)}</Name><Prefix>${xmlEscape(prefix)}</Prefix><KeyCount>${keys.length}</KeyCount><MaxKeys>1000</MaxKeys><IsTruncated>false</IsTruncated>${contents}</ListBucketResult>`,
      );
      return;
    }

    const o = objects.get(key);
    if (!o) return errorXml(res, 404, 'NoSuchKey', `The key ${key} does not exist`, head);
    if (method !== 'GET' && method !== 'HEAD') return errorXml(res, 501, 'NotImplemented', `${method} is not implemented`, head);
    const headers: http.OutgoingHttpHeaders = {
      ETag: `"${o.etag}"`,
      'Last-Modified': o.lastModified.toUTCString(),
      'Accept-Ranges': 'bytes',
      'Content-Type': 'application/octet-stream',
    };
    const range = /^bytes=(\d+)-(\d*)$/.exec(req.headers.range ?? '');
    if (range && !head) {
      const start = Number(range[1]);
      const end = Math.min(range[2] ? Number(range[2]) : o.body.length - 1, o.body.length - 1);
      if (start >= o.body.length || end < start) return errorXml(res, 416, 'InvalidRange', 'The requested range is not satisfiable', false);
      res.writeHead(206, { ...headers, 'Content-Length': end - start + 1, 'Content-Range': `bytes ${start}-${end}/${o.body.length}` });
      res.end(o.body.subarray(start, end + 1));
      return;
    }
    res.writeHead(200, { ...headers, 'Content-Length': o.body.length });
    res.end(head ? undefined : o.body);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** Start the hostile S3 in its own process. */
export async function startHostileS3(): Promise<HostileS3> {
  const child: ChildProcess = spawn(process.execPath, ['--import', 'tsx', __filename], { stdio: ['ignore', 'pipe', 'inherit'] });
  const endpoint = await new Promise<string>((resolve, reject) => {
    let buf = '';
    child.stdout?.on('data', (c: Buffer) => {
      buf += c.toString('utf8');
      const nl = buf.indexOf('\n');
      if (nl >= 0) resolve((JSON.parse(buf.slice(0, nl)) as { endpoint: string }).endpoint);
    });
    child.once('exit', (code) => reject(new Error(`the hostile S3 process exited with ${code}`)));
  });
  return {
    endpoint,
    async requests() {
      const res = await fetch(`${endpoint}${CONTROL}requests`);
      return (await res.json()) as HostileS3Request[];
    },
    async setObjects(bucket, objects) {
      const body = JSON.stringify({
        bucket,
        objects: Object.fromEntries(Object.entries(objects).map(([k, v]) => [k, (Buffer.isBuffer(v) ? v : Buffer.from(v)).toString('base64')])),
      });
      const res = await fetch(`${endpoint}${CONTROL}objects`, { method: 'POST', body, headers: { 'Content-Type': 'application/json' } });
      if (res.status !== 204) throw new Error(`hostile S3 control answered ${res.status}`);
    },
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        if (child.pid) process.kill(child.pid, 'SIGTERM');
      }),
  };
}

if (require.main === module) {
  void serveHostileS3().then(({ endpoint, close }) => {
    const stop = (): void => void close().finally(() => process.exit(0));
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
    process.stdout.write(`${JSON.stringify({ endpoint })}\n`);
  });
}
