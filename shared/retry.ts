/**
 * Retries with exponential backoff and full jitter, and the one place that
 * decides which failures are transient (network resets, timeouts, 408/429/5xx).
 */

import { isTimeoutError, TIMEOUT_RETRIES } from './net/timeouts';

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
  'ECONNRESET', 'ECONNREFUSED', 'ECONNABORTED', 'ETIMEDOUT', 'EPIPE', 'EAI_AGAIN', 'ENETUNREACH', 'EHOSTUNREACH',
  'ENOTCONN', 'ESOCKETTIMEDOUT', 'ERR_STREAM_PREMATURE_CLOSE', 'UND_ERR_SOCKET', 'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'UND_ERR_CLOSED', 'REQUEST_SEND_ERROR', 'PrematureClose',
  'TimeoutError', 'RequestTimeout', 'RequestTimeoutException', 'SlowDown', 'Throttling', 'ThrottlingException',
  'InternalError', 'ServiceUnavailable', 'ServerBusy', 'OperationTimedOut', 'TruncatedBody',
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

export function isTransientStatus(status: number): boolean {
  return status === 408 || status === 429 || (status >= 500 && status !== 501 && status !== 505);
}

/** True when trying again may succeed. */
export function isTransientError(err: unknown): boolean {
  if (typeof err !== 'object' || err === null) return false;
  const e = err as { code?: unknown; name?: unknown; cause?: unknown; transient?: unknown };
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

export function backoffDelay(attempt: number, baseDelayMs: number, maxDelayMs: number, random: () => number = Math.random): number {
  const ceiling = Math.min(maxDelayMs, baseDelayMs * 2 ** (attempt - 1));
  return Math.round(ceiling / 2 + (random() * ceiling) / 2);
}

const defaultSleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Run `fn` until it succeeds, a non-retryable error occurs, or retries run out. */
export async function withRetry<T>(fn: (attempt: number) => Promise<T>, options: RetryOptions = {}): Promise<T> {
  const retries = options.retries ?? 5;
  const base = options.baseDelayMs ?? 500;
  const max = options.maxDelayMs ?? 15_000;
  const retryable = options.isRetryable ?? isTransientError;
  const sleep = options.sleep ?? defaultSleep;
  const timeoutRetries = options.timeoutRetries ?? TIMEOUT_RETRIES;
  let timeouts = 0;
  for (let attempt = 0; ; attempt++) {
    try {
      return await fn(attempt);
    } catch (err) {
      if (attempt >= retries || !retryable(err) || options.signal?.aborted) throw err;
      if (isTimeoutError(err) && ++timeouts > timeoutRetries) throw err;
      const delay = backoffDelay(attempt + 1, base, max, options.random);
      options.onRetry?.(err, attempt + 1, delay);
      await sleep(delay);
    }
  }
}
