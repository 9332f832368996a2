/**
 * Runs checks through any transport: the caller passes `send` (TestModelImage
 * sends to 127.0.0.1:port, DeployToAKS through the API server's service
 * proxy). Each check is sent, its answer evaluated; a transport failure or a
 * 502/503/504 is tried again while attempts remain. Outcomes are returned,
 * not thrown: the caller logs them and decides ({@link checksFailedError}).
 */
import { errorMessage, UserError } from '../errors';
import { sleep } from '../retry';
import { evaluate, type CheckAnswer, type CheckFailure } from './evaluate';
import { renderFailure, type RenderOptions } from './render';
import type { Check, CheckRequest } from './spec';

/** Sends one request; rejects when no answer came (refused, reset, timed out). */
export type SendCheck = (request: CheckRequest, signal: AbortSignal) => Promise<CheckAnswer>;

export interface CheckOutcome {
  check: Check;
  passed: boolean;
  failures: string[];
  details: CheckFailure[];
  answer?: CheckAnswer;
  /** Why no answer came, when none did. */
  error?: string;
  attempts: number;
  durationMs: number;
}

export interface RunChecksOptions {
  /** Aborts the run (cancellation); the outcome in flight fails with the abort reason. */
  signal?: AbortSignal;
  /** Per request; default 30 s. */
  timeoutMs?: number;
  /** Tries per check for transport failures and 502/503/504; default 1. */
  attempts?: number;
  /** Wait between tries; default 2 s. */
  delayMs?: number;
  /** Called as each check finishes (for logging as it goes). */
  onOutcome?: (outcome: CheckOutcome) => void;
}

export const DEFAULT_CHECK_TIMEOUT_MS = 30_000;
const RETRY_STATUS = new Set([502, 503, 504]);
const formatMs = (ms: number): string => (ms < 1000 ? `${ms} ms` : `${Math.round(ms / 100) / 10} s`);

export async function runChecks(checks: readonly Check[], send: SendCheck, options: RunChecksOptions = {}): Promise<CheckOutcome[]> {
  const attempts = Math.max(1, options.attempts ?? 1);
  const outcomes: CheckOutcome[] = [];
  for (const check of checks) {
    const started = Date.now();
    let answer: CheckAnswer | undefined;
    let error: string | undefined;
    let tries = 0;
    while (tries < attempts) {
      tries++;
      options.signal?.throwIfAborted();
      const timeout = AbortSignal.timeout(options.timeoutMs ?? DEFAULT_CHECK_TIMEOUT_MS);
      const signal = options.signal ? AbortSignal.any([options.signal, timeout]) : timeout;
      try {
        answer = await send(check.request, signal);
        error = undefined;
        if (!RETRY_STATUS.has(answer.status)) break;
      } catch (err) {
        if (options.signal?.aborted) throw options.signal.reason ?? err;
        answer = undefined;
        error = timeout.aborted ? `no answer within ${formatMs(options.timeoutMs ?? DEFAULT_CHECK_TIMEOUT_MS)}` : errorMessage(err);
      }
      if (tries < attempts) await sleep(options.delayMs ?? 2000, options.signal);
    }
    let outcome: CheckOutcome;
    if (answer) {
      const ev = evaluate(check, answer);
      outcome = { check, passed: ev.passed, failures: ev.failures, details: ev.details, answer, attempts: tries, durationMs: Date.now() - started };
    } else {
      const message = `no answer to ${check.request.method} ${check.request.path}: ${error ?? 'unknown error'}`;
      outcome = { check, passed: false, failures: [message], details: [{ message }], error, attempts: tries, durationMs: Date.now() - started };
    }
    outcomes.push(outcome);
    options.onOutcome?.(outcome);
  }
  return outcomes;
}

/** The log blocks of the failed outcomes (see {@link renderFailure}). */
export function renderFailures(outcomes: readonly CheckOutcome[], options: RenderOptions = {}): string[] {
  return outcomes.filter((o) => !o.passed).map((o) => renderFailure(o, options));
}

/** One line for the task's failure, or undefined when all passed. `what` names the target ("the image", "the canary"). */
export function checksFailedError(outcomes: readonly CheckOutcome[], what: string): UserError | undefined {
  const failed = outcomes.filter((o) => !o.passed);
  if (failed.length === 0) return undefined;
  const parts = failed.slice(0, 3).map((o) => `'${o.check.name}' (${o.failures[0]}${o.failures.length > 1 ? `; +${o.failures.length - 1} more` : ''})`);
  return new UserError(
    `${failed.length} of ${outcomes.length} check(s) failed on ${what}: ${parts.join(', ')}${failed.length > 3 ? ', ...' : ''}: see the request, answer and expectation in the log above, then fix the model or the check spec.`,
    { code: 'CheckFailed' },
  );
}

const cell = (s: string): string => s.replace(/\|/g, '\\|').replace(/\r?\n/g, ' ');

/** A markdown table of the outcomes for a run summary; `mask` hides secrets. */
export function outcomesMarkdown(outcomes: readonly CheckOutcome[], mask: (s: string) => string = (s) => s): string {
  const rows = outcomes.map((o) => {
    const req = `${o.check.request.method} ${o.check.request.path}`;
    const got = o.answer ? `HTTP ${o.answer.status}` : (o.error ?? 'no answer');
    return `| ${o.passed ? '✅ pass' : '❌ fail'} | ${cell(o.check.name)} | \`${cell(req)}\` | ${cell(got)} | ${o.passed ? '' : cell(o.failures.join('; '))} |`;
  });
  return mask(['| Result | Check | Request | Answer | Mismatch |', '| --- | --- | --- | --- | --- |', ...rows].join('\n'));
}
