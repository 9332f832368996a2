/**
 * The transport TestModelImage's checks use: plain HTTP to the container's
 * port published on 127.0.0.1 (no proxy: the agent's proxy must never see
 * loopback traffic), the answer read whole up to a cap.
 */
import { request } from 'node:http';
import { createConnection } from 'node:net';
import type { CheckAnswer, CheckRequest, SendCheck } from '../check';

/** Largest answer read; a larger one fails the request. */
export const MAX_ANSWER_BYTES = 8 << 20;

export function loopbackSender(port: number, host = '127.0.0.1'): SendCheck {
  return (req: CheckRequest, signal: AbortSignal) => httpSend(host, port, req, signal);
}

export function httpSend(host: string, port: number, req: CheckRequest, signal: AbortSignal): Promise<CheckAnswer> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string | number> = { ...req.headers };
    if (req.body && !Object.keys(headers).some((h) => h.toLowerCase() === 'content-length')) headers['content-length'] = req.body.length;
    const r = request({ host, port, method: req.method, path: req.path, headers, signal, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (c: Buffer) => {
        size += c.length;
        if (size > MAX_ANSWER_BYTES) {
          res.destroy(new Error(`the answer is larger than ${MAX_ANSWER_BYTES >> 20} MiB`));
          return;
        }
        chunks.push(c);
      });
      res.on('error', reject);
      res.on('end', () => {
        const out: Record<string, string | string[] | undefined> = {};
        for (const [k, v] of Object.entries(res.headers)) out[k.toLowerCase()] = v;
        resolve({ status: res.statusCode ?? 0, headers: out, body: Buffer.concat(chunks) });
      });
    });
    r.on('error', reject);
    r.end(req.body);
  });
}

/**
 * Whether something accepts a TCP connection on host:port and keeps it open
 * for `holdMs`: a published port's proxy (docker-proxy, rootlessport) accepts
 * at once and closes when nothing listens in the container, so an accept
 * alone does not prove the app is up.
 */
export function tcpOpen(host: string, port: number, timeoutMs: number, holdMs = 250): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createConnection({ host, port });
    let settled = false;
    const done = (ok: boolean) => {
      if (settled) return;
      settled = true;
      clearTimeout(hold);
      s.destroy();
      resolve(ok);
    };
    let hold: NodeJS.Timeout | undefined;
    s.setTimeout(timeoutMs, () => done(false));
    s.once('connect', () => {
      s.setTimeout(0);
      hold = setTimeout(() => done(true), holdMs);
    });
    s.once('end', () => done(false));
    s.once('close', () => done(false));
    s.once('error', () => done(false));
    s.resume();
  });
}
