/**
 * Network limits: the defaults bound a black hole under 2 minutes for every
 * client; the socket guards fire on a real (in-process) black hole, also on a
 * reused keep-alive socket; the deadline wins over work that never ends.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { AZURE_BLOB_MAX_TRIES } from '../../../shared/storage/azure-blob';
import { S3_MAX_ATTEMPTS } from '../../../shared/storage/s3';
import {
  blackHoleWorstCaseMs,
  DEFAULT_NETWORK_LIMITS,
  guardRequest,
  NetworkDeadlineError,
  NetworkTimeoutError,
  networkLimits,
  TIMEOUT_BACKOFF_CEILING_MS,
  TIMEOUT_RETRIES,
  withNetworkDeadline,
  withSocketTimeouts,
} from '../../../shared/net/timeouts';
import { withRetry } from '../../../shared/retry';
import { configureTimeouts, send } from '../../../shared/oci/registry/http';
import { startBlackHole, type BlackHole } from '../../helpers/black-hole';

const fast = { connectTimeoutMs: 300, idleTimeoutMs: 300 };

describe('net/timeouts', function () {
  this.timeout(20_000);
  let hole: BlackHole;
  before(async () => {
    hole = await startBlackHole();
  });
  after(async () => {
    configureTimeouts(DEFAULT_NETWORK_LIMITS);
    await hole?.stop();
  });

  it('the defaults of every client bound a black hole under 120 s, retries and backoff included', () => {
    // attempts per request to a black hole, and the longest backoff between them
    const clients: Array<{ client: string; attempts: number; backoffMs: number }> = [
      { client: 'Azure Blob SDK (maxTries, exponential 500 ms..4 s)', attempts: AZURE_BLOB_MAX_TRIES, backoffMs: 4_000 },
      { client: 'AWS S3 SDK (maxAttempts, standard retry)', attempts: S3_MAX_ATTEMPTS, backoffMs: TIMEOUT_BACKOFF_CEILING_MS },
      { client: 'registry client, ACR exchange, ARM (withRetry caps timeouts)', attempts: TIMEOUT_RETRIES + 1, backoffMs: TIMEOUT_BACKOFF_CEILING_MS },
      { client: 'Kubernetes API (one attempt; the smoke test caps timeouts too)', attempts: TIMEOUT_RETRIES + 1, backoffMs: 2_000 },
    ];
    for (const c of clients) {
      const worst = blackHoleWorstCaseMs(DEFAULT_NETWORK_LIMITS, c.attempts, c.backoffMs);
      assert.ok(worst < 120_000, `${c.client}: ${worst} ms`);
    }
    assert.equal(DEFAULT_NETWORK_LIMITS.idleTimeoutMs, 30_000);
    assert.equal(DEFAULT_NETWORK_LIMITS.deadlineMs, 360 * 60_000);
    assert.deepEqual(networkLimits(5, 2), { connectTimeoutMs: 5000, idleTimeoutMs: 5000, deadlineMs: 120_000 });
  });

  it('withRetry retries a timed-out call at most TIMEOUT_RETRIES times, whatever its retries say', async () => {
    let calls = 0;
    await assert.rejects(
      withRetry(
        async () => {
          calls++;
          throw new NetworkTimeoutError('h:1', 'idle', 1000);
        },
        { retries: 10, sleep: async () => undefined },
      ),
      NetworkTimeoutError,
    );
    assert.equal(calls, TIMEOUT_RETRIES + 1);
    let other = 0;
    await assert.rejects(
      withRetry(
        async () => {
          other++;
          throw Object.assign(new Error('reset'), { code: 'ECONNRESET' });
        },
        { retries: 5, sleep: async () => undefined },
      ),
    );
    assert.equal(other, 6, 'other transient failures keep their retries');
  });

  it('guardRequest fails a request to a black hole with an idle timeout naming the host', async () => {
    const started = Date.now();
    const err = await new Promise<Error>((resolve) => {
      const req = http.request(`${hole.url}/x`, { agent: false });
      guardRequest(req, fast, hole.host);
      req.on('error', resolve);
      req.on('response', () => resolve(new Error('answered?')));
      req.end();
    });
    assert.ok(err instanceof NetworkTimeoutError, String(err));
    assert.ok(err.message.startsWith(`no answer from ${hole.host} for `) && err.message.endsWith(' s (networkTimeout)'), err.message);
    assert.ok(Date.now() - started < 3000);
  });

  it('withSocketTimeouts guards the sockets of an agent we do not drive (SDK clients)', async () => {
    const agent = withSocketTimeouts(new http.Agent({ keepAlive: true, timeout: fast.idleTimeoutMs }), fast, hole.host);
    const err = await new Promise<Error>((resolve) => {
      http.get(`${hole.url}/y`, { agent }, () => resolve(new Error('answered?'))).on('error', resolve);
    });
    agent.destroy();
    assert.ok(err instanceof NetworkTimeoutError, String(err));
    assert.equal(err.phase, 'idle');
  });

  it('a reused keep-alive socket keeps its idle timeout (a server that answers once, then goes silent)', async () => {
    // One connection: the first request is answered, the second never is.
    const server = net.createServer((socket) => {
      let answered = false;
      socket.on('data', () => {
        if (answered) return;
        answered = true;
        socket.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: keep-alive\r\n\r\nok');
      });
      socket.on('error', () => undefined);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as net.AddressInfo).port;
    try {
      configureTimeouts(networkLimits(1, 5));
      const first = await send({ method: 'GET', url: new URL(`http://127.0.0.1:${port}/v2/`) });
      first.body.resume();
      await new Promise((r) => first.body.on('end', r));
      await new Promise((r) => setImmediate(r));
      const started = Date.now();
      await assert.rejects(
        send({ method: 'GET', url: new URL(`http://127.0.0.1:${port}/v2/again`) }),
        (e: unknown) => e instanceof NetworkTimeoutError && e.phase === 'idle',
      );
      assert.ok(Date.now() - started < 4000);
    } finally {
      configureTimeouts(DEFAULT_NETWORK_LIMITS);
      server.close();
    }
  });

  it('withNetworkDeadline rejects with the deadline error when the work never ends or fails after it', async () => {
    const started = Date.now();
    await assert.rejects(
      withNetworkDeadline({ deadlineMs: 200 }, () => new Promise(() => undefined)),
      (e: unknown) => e instanceof NetworkDeadlineError && /networkDeadline/.test(e.message) && e.input === 'networkDeadline',
    );
    assert.ok(Date.now() - started < 2000);
    await assert.rejects(
      withNetworkDeadline(
        { deadlineMs: 100 },
        (signal) => new Promise((_, reject) => signal.addEventListener('abort', () => reject(new Error('The operation was aborted')))),
      ),
      NetworkDeadlineError,
    );
    assert.equal(await withNetworkDeadline({ deadlineMs: 1000 }, async () => 42), 42);
  });
});
