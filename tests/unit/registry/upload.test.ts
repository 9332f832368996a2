/**
 * Upload logic against a small fake registry that behaves like ACR on the
 * points that matter: it keeps partial chunk data, reports it in Range on a
 * status GET, hands out a new Location (with a changing query token) after
 * each request and refuses stale or rebuilt URLs, and refuses `bytes ` in
 * Content-Range.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { UserError } from '../../../shared/errors';
import { silentLogger } from '../../../shared/log';
import { RegistryClient } from '../../../shared/oci/registry/client';
import { BlobPusher, contentRange, offsetFromRange, withDigest } from '../../../shared/oci/registry/push';

describe('chunk planning and headers', () => {
  it('formats Content-Range without a bytes prefix and reads Range back', () => {
    assert.equal(contentRange(0, 1023), '0-1023');
    assert.equal(offsetFromRange('0-1023'), 1024);
    assert.equal(offsetFromRange('bytes=0-99'), 100);
    assert.equal(offsetFromRange('0-0'), 0);
    assert.equal(offsetFromRange(undefined), undefined);
    assert.equal(offsetFromRange('garbage'), undefined);
  });
  it('adds the digest to an upload location without dropping its parameters', () => {
    const u = withDigest(new URL('https://r.io/v2/a/blobs/uploads/uuid?_nouploadcache=false&_state=abc'), 'sha256:00');
    assert.equal(u.searchParams.get('_state'), 'abc');
    assert.equal(u.searchParams.get('_nouploadcache'), 'false');
    assert.equal(u.searchParams.get('digest'), 'sha256:00');
  });
});

interface Upload {
  data: Buffer[];
  size: number;
  token: number;
}

function fakeRegistry(opts: { cutAfterBytes?: number; cutPatches?: number; stuckAfterBytes?: number }) {
  const uploads = new Map<string, Upload>();
  const blobs = new Map<string, Buffer>();
  const contentRanges: string[] = [];
  const stats = { patches: 0, cuts: 0, statusChecks: 0, staleRejected: 0, posts: 0 };
  let cutsLeft = opts.cutPatches ?? 0;
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const send = (status: number, headers: Record<string, string> = {}, body = '') => {
      res.writeHead(status, { 'Content-Length': String(Buffer.byteLength(body)), ...headers });
      res.end(body);
    };
    if (url.pathname === '/v2/') return send(200, { 'Docker-Distribution-API-Version': 'registry/2.0' }, '{}');
    const blob = /^\/v2\/(.+)\/blobs\/(sha256:[a-f0-9]{64})$/.exec(url.pathname);
    if (blob && req.method === 'HEAD') {
      const b = blobs.get(blob[2] as string);
      res.writeHead(b ? 200 : 404, { 'Content-Length': String(b ? b.length : 0) });
      return res.end();
    }
    if (/^\/v2\/.+\/blobs\/uploads\/$/.test(url.pathname) && req.method === 'POST') {
      stats.posts++;
      const id = randomBytes(6).toString('hex');
      uploads.set(id, { data: [], size: 0, token: 1 });
      // relative Location with a query token, like some registries
      return send(202, { Location: `/upload-sessions/${id}?token=1`, Range: '0-0' });
    }
    const up = /^\/upload-sessions\/([a-f0-9]+)$/.exec(url.pathname);
    if (up) {
      const u = uploads.get(up[1] as string);
      if (!u) return send(404, { 'Content-Type': 'application/json' }, JSON.stringify({ errors: [{ code: 'BLOB_UPLOAD_UNKNOWN' }] }));
      if (url.searchParams.get('token') !== String(u.token)) {
        stats.staleRejected++;
        return send(400, { 'Content-Type': 'application/json' }, JSON.stringify({ errors: [{ code: 'BLOB_UPLOAD_INVALID', message: 'stale location' }] }));
      }
      const next = () => `/upload-sessions/${up[1]}?token=${++u.token}`;
      if (req.method === 'GET') {
        stats.statusChecks++;
        return send(204, { Location: next(), Range: `0-${Math.max(0, u.size - 1)}` });
      }
      if (req.method === 'PATCH') {
        stats.patches++;
        const range = String(req.headers['content-range'] ?? '');
        contentRanges.push(range);
        const m = /^(\d+)-(\d+)$/.exec(range);
        if (!m || Number(m[1]) !== u.size) {
          req.resume();
          return send(416, { 'Content-Type': 'application/json' }, JSON.stringify({ errors: [{ code: 'RANGE_INVALID', message: range }] }));
        }
        let received = 0;
        const cut = cutsLeft > 0 && opts.cutAfterBytes !== undefined;
        if (cut) cutsLeft--;
        req.on('data', (c: Buffer) => {
          // A broken registry: accepts the PATCH but keeps nothing past stuckAfterBytes (its Range never advances).
          if (opts.stuckAfterBytes !== undefined && u.size >= opts.stuckAfterBytes) return;
          if (cut && received >= (opts.cutAfterBytes as number)) return;
          const take = cut ? c.subarray(0, Math.max(0, (opts.cutAfterBytes as number) - received)) : c;
          received += take.length;
          u.data.push(take);
          u.size += take.length;
          if (cut && received >= (opts.cutAfterBytes as number)) {
            stats.cuts++;
            req.socket.destroy(); // connection dropped mid-chunk; partial data kept
          }
        });
        req.on('end', () => {
          if (!req.socket.destroyed) send(202, { Location: next(), Range: `0-${u.size - 1}` });
        });
        return;
      }
      if (req.method === 'PUT') {
        const chunks: Buffer[] = [];
        req.on('data', (c: Buffer) => chunks.push(c));
        req.on('end', () => {
          const all = Buffer.concat([...u.data, ...chunks]);
          const digest = `sha256:${createHash('sha256').update(all).digest('hex')}`;
          if (digest !== url.searchParams.get('digest'))
            return send(400, { 'Content-Type': 'application/json' }, JSON.stringify({ errors: [{ code: 'DIGEST_INVALID' }] }));
          blobs.set(digest, all);
          uploads.delete(up[1] as string);
          send(201, { 'Docker-Content-Digest': digest, Location: `/v2/x/blobs/${digest}` });
        });
        return;
      }
    }
    send(404);
  });
  return { server, stats, contentRanges, blobs };
}

describe('chunked upload with resume (fake registry)', function () {
  let dir: string;
  let path: string;
  let data: Buffer;
  let digest: string;

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'upload-unit-'));
    data = randomBytes(5 * 1024 * 1024 + 123);
    path = join(dir, 'blob');
    writeFileSync(path, data);
    digest = `sha256:${createHash('sha256').update(data).digest('hex')}`;
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  async function withFake(
    opts: { cutAfterBytes?: number; cutPatches?: number; stuckAfterBytes?: number },
    fn: (f: ReturnType<typeof fakeRegistry>, pusher: BlobPusher) => Promise<void>,
  ) {
    const fake = fakeRegistry(opts);
    await new Promise<void>((r) => fake.server.listen(0, '127.0.0.1', r));
    const port = (fake.server.address() as AddressInfo).port;
    try {
      const client = new RegistryClient({ registry: `127.0.0.1:${port}`, logger: silentLogger, retryBaseMs: 5 });
      await fn(fake, new BlobPusher(client, 'repo/x', { chunkSize: 1 << 20, retryBaseMs: 5, logger: silentLogger }));
    } finally {
      fake.server.closeAllConnections();
      await new Promise((r) => fake.server.close(r));
    }
  }

  it('sends chunks in order with start-end Content-Range and follows each new Location', async () => {
    await withFake({}, async (fake, pusher) => {
      const r = await pusher.push({ mediaType: 'application/octet-stream', digest, size: data.length }, path);
      assert.equal(r.action, 'uploaded');
      assert.equal(r.chunks, 6);
      assert.ok(fake.blobs.get(digest)?.equals(data));
      assert.deepEqual(fake.contentRanges.slice(0, 2), ['0-1048575', '1048576-2097151']);
      assert.ok(fake.contentRanges.every((c) => !c.startsWith('bytes')));
      assert.equal(fake.stats.staleRejected, 0);
    });
  });

  it('resumes from the registry-reported offset after a connection cut mid-chunk (no restart)', async () => {
    await withFake({ cutAfterBytes: 300_000, cutPatches: 2 }, async (fake, pusher) => {
      const r = await pusher.push({ mediaType: 'application/octet-stream', digest, size: data.length }, path);
      assert.equal(r.restarts, 0);
      assert.equal(fake.stats.cuts, 2);
      assert.ok(fake.stats.statusChecks >= 2);
      assert.equal(fake.stats.posts, 1, 'one upload session');
      assert.ok(fake.blobs.get(digest)?.equals(data));
      // Resumed mid-chunk: a Content-Range that starts at a partial offset.
      assert.ok(
        fake.contentRanges.some((c) => Number(c.split('-')[0]) % (1 << 20) !== 0),
        fake.contentRanges.join(' '),
      );
      assert.ok(r.bytesSent < data.length + 2 * (1 << 20));
    });
  });

  it('a registry whose Range never advances fails the upload after the retries (no endless loop)', async () => {
    await withFake({ stuckAfterBytes: 1 << 20 }, async (fake, pusher) => {
      await assert.rejects(pusher.push({ mediaType: 'application/octet-stream', digest, size: data.length }, path), (e: unknown) => {
        assert.ok(e instanceof UserError, String(e));
        assert.match(e.message, /reports no progress/);
        return true;
      });
      assert.ok(fake.stats.patches < 20, `${fake.stats.patches} PATCHes`);
    });
  });

  it('single PUT for a blob no larger than a chunk', async () => {
    const small = randomBytes(1000);
    const p = join(dir, 'small');
    writeFileSync(p, small);
    const d = `sha256:${createHash('sha256').update(small).digest('hex')}`;
    await withFake({}, async (fake, pusher) => {
      const r = await pusher.push({ mediaType: 'x', digest: d, size: small.length }, p);
      assert.equal(r.chunks, 0);
      assert.equal(fake.stats.patches, 0);
      assert.ok(fake.blobs.get(d)?.equals(small));
      const again = await pusher.push({ mediaType: 'x', digest: d, size: small.length }, p);
      assert.equal(again.action, 'skipped');
    });
  });
});
