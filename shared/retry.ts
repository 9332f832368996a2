/**
 * Retries with exponential backoff and "equal jitter" (half the capped
 * exponential delay, plus a random part of the other half: never less than
 * half the ceiling), and the one place that decides which failures are
 * transient (network resets, timeouts, 408/429/5xx). Our own errors are
 * classified by their typed fields ({@link RetryableError}, {@link UserError}'s
 * retry hints); third-party SDK errors (Azure, AWS, Node, undici) by their shapes.
 * Sleeps are Node's `timers/promises` with an AbortSignal.
 */

import { setTimeout as delay } from 'node:timers/promises';
import { isTransientStatus, RetryableError, UserError } from './errors';
import { isTimeoutError, TIMEOUT_RETRIES } from './net/timeouts';

export { isTransientStatus };

export interface RetryOptions {
  /** Attempts after the first (default 5). */
  retries?: number;
  baseDelayMs?: number;
  maxDelayMs?: number;
  isRetryable?: (err: unknown) => boolean;
  /** Retries after a connect/idle timeout, whatever `retries` says (default TIMEOUT_RETRIES): a black hole fails in bounded time. */
  timeoutRetries?: number;
  onRetry?: (err: unknown, attempt: number, delayMs: number) => void;
  signal?: AbortSignal;
  /** For tests. */
  sleep?: (ms: number) => Promise<void>;
  random?: () => number;
}

const TRANSIENT_CODES = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'ECONNABORTED',
  'ETIMEDOUT',
  'EPIPE',
  'EAI_AGAIN',
  'ENETUNREACH',
  'EHOSTUNREACH',
  'ENOTCONN',
  'ESOCKETTIMEDOUT',
  'ERR_STREAM_PREMATURE_CLOSE',
  'UND_ERR_SOCKET',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
  'UND_ERR_CLOSED',
  'REQUEST_SEND_ERROR',
  'PrematureClose',
  'TimeoutError',
  'RequestTimeout',
  'RequestTimeoutException',
  'SlowDown',
  'Throttling',
  'ThrottlingException',
  'InternalError',
  'ServiceUnavailable',
  'ServerBusy',
  'OperationTimedOut',
  'TruncatedBody',
]);

/** HTTP status of an error from our clients, the Azure SDK or the AWS SDK. */
export function httpStatusOf(err: unknown): number | undefined {
  if (typeof err !== 'object' || err === null) return undefined;
  const e = err as { statusCode?: unknown; status?: unknown; $metadata?: { httpStatusCode?: unknown }; response?: { status?: unknown } };
  for (const v of [e.statusCode, e.status, e.$metadata?.httpStatusCode, e.response?.status]) {
    if (typeof v === 'number') return v;
  }
  return undefined;
}

/** True when trying again may succeed. */
export function isTransientError(err: unknown): boolean {
  if (typeof err !== 'object' || err === null) return false;
  // Ours: the typed verdict decides when there is one.
  if (err instanceof RetryableError) return err.transient;
  if (err instanceof UserError && err.transient !== undefined) return err.transient;
  const e = err as { code?: unknown; name?: unknown; cause?: unknown; transient?: unknown };
  // Third-party errors and test doubles that carry a verdict of their own.
  if (e.transient === true) return true;
  if (e.transient === false) return false;
  const status = httpStatusOf(err);
  if (status !== undefined && status > 0) return isTransientStatus(status);
  if (typeof e.code === 'string' && TRANSIENT_CODES.has(e.code)) return true;
  if (typeof e.name === 'string' && TRANSIENT_CODES.has(e.name)) return true;
  if (err instanceof Error && /socket hang up|aborted|premature close|other side closed|timed? ?out|ECONNRESET/i.test(err.message)) return true;
  if (e.cause !== undefined && e.cause !== err) return isTransientError(e.cause);
  return false;
}

/** The delay before retry `attempt` (1-based): equal jitter, i.e. uniform in [ceiling/2, ceiling], ceiling = min(max, base x 2^(attempt-1)). */
export function backoffDelay(attempt: number, baseDelayMs: number, maxDelayMs: number, random: () => number = Math.random): number {
  const ceiling = Math.min(maxDelayMs, baseDelayMs * 2 ** (attempt - 1));
  return Math.round(ceiling / 2 + (random() * ceiling) / 2);
}

/**
 * Wait `ms`; with a signal, stop early when it aborts, rejecting with the
 * signal's reason (not Node's AbortError) so callers see why they were stopped.
 */
export async function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted) throw signal.reason;
  try {
    await delay(ms, undefined, signal ? { signal } : undefined);
  } catch (err) {
    if (signal?.aborted) throw signal.reason;
    throw err;
  }
}

/** Run `fn` until it succeeds, a non-retryable error occurs, or retries run out. */
export async function withRetry<T>(fn: (attempt: number) => Promise<T>, options: RetryOptions = {}): Promise<T> {
  const retries = options.retries ?? 5;
  const base = options.baseDelayMs ?? 500;
  const max = options.maxDelayMs ?? 15_000;
  const retryable = options.isRetryable ?? isTransientError;
  const wait = options.sleep ?? ((ms: number) => sleep(ms, options.signal));
  const timeoutRetries = options.timeoutRetries ?? TIMEOUT_RETRIES;
  let timeouts = 0;
  for (let attempt = 0; ; attempt++) {
    try {
      return await fn(attempt);
    } catch (err) {
      if (attempt >= retries || !retryable(err) || options.signal?.aborted) throw err;
      if (isTimeoutError(err) && ++timeouts > timeoutRetries) throw err;
      const delayMs = backoffDelay(attempt + 1, base, max, options.random);
      options.onRetry?.(err, attempt + 1, delayMs);
      await wait(delayMs);
    }
  }
}
