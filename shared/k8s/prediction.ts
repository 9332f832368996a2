/**
 * The prediction check: the shared checks (shared/check: a request such as a
 * sample input for the model, and what the answer must be) sent to a Service
 * through the API server's service proxy,
 * /api/v1/namespaces/{ns}/services/{name}:{port}/proxy{path}. The new version
 * is checked on its own Service (the canary's, or the rolled-out one).
 */
import { checksFailedError, renderFailures, runChecks, type Check, type CheckOutcome, type SendCheck } from '../check';
import type { UserError } from '../errors';
import type { Logger } from '../log';
import { KubeClient } from './client';
import { isRecord, type KubeObject } from './types';

/** Most bytes of a proxied answer read (the log shows a few KiB of it). */
const ANSWER_BYTES = 1 << 20;

export interface PredictionCheckOptions {
  namespace: string;
  service: string;
  /** Port name or number. */
  port: string | number;
  checks: readonly Check[];
  logger: Logger;
  /** What is checked, for the failure line ("the canary Deployment/x-canary"). */
  what: string;
  /** Tries per check while the proxy answers 502/503/504 or nothing (endpoints lag a finished rollout); default 5. */
  attempts?: number;
  delayMs?: number;
  timeoutMs?: number;
  /** Masks registered secrets in what the log shows. */
  mask?: (text: string) => string;
}

/** The port a request to a Service goes to: its first port's name, else its number. */
export function servicePort(service: KubeObject): string | number {
  const ports = Array.isArray(service.spec?.ports) ? service.spec.ports.filter(isRecord) : [];
  const p = ports[0];
  if (!p) return 80;
  return typeof p.name === 'string' && p.name ? p.name : Number(p.port);
}

/** A transport for runChecks through the service proxy. */
export function serviceProxySender(client: KubeClient, namespace: string, service: string, port: string | number): SendCheck {
  const base = `/api/v1/namespaces/${encodeURIComponent(namespace)}/services/${encodeURIComponent(service)}:${encodeURIComponent(String(port))}/proxy`;
  return async (req, signal) => {
    const headers: Record<string, string> = {};
    let contentType: string | undefined;
    let accept = '*/*';
    for (const [k, v] of Object.entries(req.headers)) {
      const lower = k.toLowerCase();
      if (lower === 'content-type') contentType = v;
      else if (lower === 'accept') accept = v;
      else headers[k] = v;
    }
    const res = await client.send({
      method: req.method,
      path: `${base}${req.path}`,
      body: req.body,
      contentType,
      accept,
      headers,
      signal,
      maxBodyBytes: ANSWER_BYTES,
      truncate: true,
    });
    return { status: res.status, headers: res.headers, body: Buffer.from(res.text, 'utf8') };
  };
}

/**
 * Runs the checks; logs one line per check and, for a failed one, the
 * request, the answer and the expectation. Returns the outcomes and, when any
 * failed, the one-line error (not thrown: the caller rejects or rolls back first).
 */
export async function predictionCheck(client: KubeClient, o: PredictionCheckOptions): Promise<{ outcomes: CheckOutcome[]; error?: UserError }> {
  o.logger.info(`Prediction check: ${o.checks.length} request(s) to Service/${o.service} (namespace ${o.namespace}) through the API server proxy...`);
  const outcomes = await runChecks(o.checks, serviceProxySender(client, o.namespace, o.service, o.port), {
    attempts: o.attempts ?? 5,
    delayMs: o.delayMs ?? 2000,
    timeoutMs: o.timeoutMs,
    onOutcome: (x) =>
      o.logger.info(
        `Prediction check '${x.check.name}': ${x.passed ? 'passed' : 'FAILED'} (${x.answer ? `HTTP ${x.answer.status}` : (x.error ?? 'no answer')}, ${x.durationMs} ms).`,
      ),
  });
  for (const block of renderFailures(outcomes, { mask: o.mask })) for (const line of block.split('\n')) o.logger.info(line);
  return { outcomes, error: checksFailedError(outcomes, o.what) };
}
