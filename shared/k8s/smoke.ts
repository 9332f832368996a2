/**
 * Smoke test through the API server's service proxy:
 * GET /api/v1/namespaces/{ns}/services/{name}:{port}/proxy/{path}, expecting 2xx.
 * Retried a few times: endpoints can lag a moment behind a finished rollout.
 */
import { UserError } from '../errors';
import { isTimeoutError, TIMEOUT_RETRIES } from '../net/timeouts';
import { sleep } from '../retry';
import { KubeClient, KubeConnectionError } from './client';
import { explainKubeError } from './explain';

/** Most bytes of the smoke test's answer read (the message quotes 120 characters of it). */
const SMOKE_BODY_BYTES = 64 << 10;

export interface SmokeOptions {
  namespace: string;
  service: string;
  /** Port name or number. */
  port: string | number;
  path: string;
  attempts?: number;
  delayMs?: number;
}

export async function smokeTest(client: KubeClient, o: SmokeOptions): Promise<{ status: number; body: string }> {
  const path = o.path.startsWith('/') ? o.path : `/${o.path}`;
  const url = `/api/v1/namespaces/${encodeURIComponent(o.namespace)}/services/${encodeURIComponent(o.service)}:${encodeURIComponent(String(o.port))}/proxy${path}`;
  const attempts = o.attempts ?? 5;
  let last: { status: number; body: string } | undefined;
  let timeouts = 0;
  for (let i = 0; i < attempts; i++) {
    try {
      // Only the status and the start of the body are used: read at most SMOKE_BODY_BYTES of it.
      const res = await client.send({ path: url, accept: '*/*', maxBodyBytes: SMOKE_BODY_BYTES, truncate: true });
      last = { status: res.status, body: res.text.slice(0, 300) };
      if (res.status >= 200 && res.status < 300) return last;
      if (res.status === 401 || res.status === 403) break;
    } catch (err) {
      const gaveUp = isTimeoutError(err) && ++timeouts > TIMEOUT_RETRIES;
      if (!(err instanceof KubeConnectionError) || i === attempts - 1 || gaveUp)
        throw explainKubeError(err, `running the smoke test GET ${path} on service ${o.service}`);
    }
    if (i < attempts - 1) await sleep(o.delayMs ?? 2000);
  }
  throw new UserError(
    `Smoke test failed: GET ${path} on service ${o.service} (namespace ${o.namespace}) through the API server proxy returned HTTP ${last?.status ?? '?'}${last?.body ? ` (${last.body.replace(/\s+/g, ' ').trim().slice(0, 120)})` : ''}: check the model server answers 2xx on 'smokeTestPath', and that the identity may get services/proxy.`,
    { code: 'SmokeTestFailed' },
  );
}
