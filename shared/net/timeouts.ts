/**
 * Network limits shared by every client the tasks use (Azure Blob, S3, the
 * registry client, the ACR exchange, ARM and the Kubernetes API):
 *
 * - connect timeout: a TCP (and proxy) connection that is not up within it fails;
 * - idle timeout: an open connection on which no byte moves for that long
 *   fails (a server that accepts and never answers, a stalled body);
 * - deadline: the task's network work as a whole must finish within it.
 *
 * Timeouts are transient (retried by each client), but each client retries a
 * timed-out request at most {@link TIMEOUT_RETRIES} times, so an endpoint that
 * accepts connections and never answers fails within
 * `(TIMEOUT_RETRIES + 1) x (connect + idle) + backoff`: under two minutes
 * with the defaults. The deadline is for slow drips and anything else no
 * single request notices; by default it is long enough for a 50 GB model on a
 * slow link.
 */
import type http from 'node:http';
import type net from 'node:net';
import { RetryableError, UserError } from '../errors';

export interface NetworkLimits {
  /** A connection that is not established within this fails (ms). */
  connectTimeoutMs: number;
  /** A request on which no byte moves for this long fails (ms). */
  idleTimeoutMs: number;
  /** The task's network work as a whole must finish within this (ms). */
  deadlineMs: number;
}

/** Default of the networkTimeout input (seconds): connect and idle timeout of each request. */
export const DEFAULT_NETWORK_TIMEOUT_SECONDS = 30;
/** Default of the networkDeadline input (minutes): 6 hours, the longest a hosted job may run. */
export const DEFAULT_NETWORK_DEADLINE_MINUTES = 360;
/** Retries of a request that timed out (a black hole is tried TIMEOUT_RETRIES + 1 times). */
export const TIMEOUT_RETRIES = 2;
/** Bound on the backoff between timed-out attempts that the clients use (ms, per retry). */
export const TIMEOUT_BACKOFF_CEILING_MS = 4_000;

export function networkLimits(timeoutSeconds = DEFAULT_NETWORK_TIMEOUT_SECONDS, deadlineMinutes = DEFAULT_NETWORK_DEADLINE_MINUTES): NetworkLimits {
  return { connectTimeoutMs: timeoutSeconds * 1000, idleTimeoutMs: timeoutSeconds * 1000, deadlineMs: deadlineMinutes * 60_000 };
}

export const DEFAULT_NETWORK_LIMITS: NetworkLimits = networkLimits();

/**
 * Longest a request to an endpoint that accepts connections and never answers
 * (or drops them) can take with these limits, retries and backoff included.
 * Per attempt the connect timer or the idle timer fires, never both in turn:
 * the idle timer runs from the socket's creation too.
 */
export function blackHoleWorstCaseMs(
  limits: Pick<NetworkLimits, 'connectTimeoutMs' | 'idleTimeoutMs'>,
  attempts = TIMEOUT_RETRIES + 1,
  backoffCeilingMs = TIMEOUT_BACKOFF_CEILING_MS,
): number {
  return attempts * Math.max(limits.connectTimeoutMs, limits.idleTimeoutMs) + (attempts - 1) * backoffCeilingMs;
}

/** An idle or connect timeout: transient (retried), with the host and the input to raise it. */
export class NetworkTimeoutError extends RetryableError {
  override readonly code = 'ETIMEDOUT';
  constructor(
    readonly host: string,
    readonly phase: 'connect' | 'idle',
    readonly timeoutMs: number,
  ) {
    super(
      phase === 'connect'
        ? `no connection to ${host} within ${Math.round(timeoutMs / 1000)} s (networkTimeout)`
        : `no answer from ${host} for ${Math.round(timeoutMs / 1000)} s (networkTimeout)`,
      { transient: true },
    );
    this.name = 'NetworkTimeoutError';
  }
}

/** True for a connect/idle timeout of any of the clients (ours, the AWS SDK's, fetch's). */
export function isTimeoutError(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; typeof e === 'object' && e !== null && depth < 5; depth++) {
    const x = e as { code?: unknown; name?: unknown; cause?: unknown };
    if (
      x.code === 'ETIMEDOUT' ||
      x.code === 'ESOCKETTIMEDOUT' ||
      x.code === 'UND_ERR_CONNECT_TIMEOUT' ||
      x.code === 'UND_ERR_HEADERS_TIMEOUT' ||
      x.code === 'UND_ERR_BODY_TIMEOUT'
    )
      return true;
    if (x.name === 'TimeoutError' || x.name === 'NetworkTimeoutError') return true;
    e = x.cause;
  }
  return false;
}

/** The task's network work did not finish within the deadline. */
export class NetworkDeadlineError extends UserError {
  constructor(readonly deadlineMs: number) {
    super(
      `The task's network work did not finish within ${formatMinutes(deadlineMs)} (input 'networkDeadline'): check the endpoint's health and the agent's bandwidth, or raise networkDeadline.`,
      { code: 'NetworkDeadline', input: 'networkDeadline' },
    );
    this.name = 'NetworkDeadlineError';
  }
}

function formatMinutes(ms: number): string {
  const minutes = ms / 60_000;
  return minutes >= 1 && Number.isInteger(minutes) ? `${minutes} minute${minutes === 1 ? '' : 's'}` : `${Math.round(ms / 1000)} s`;
}

/**
 * An AbortSignal that aborts with a {@link NetworkDeadlineError} after the
 * deadline (or when `parent` aborts). The timer does not keep the process alive.
 */
function deadlineSignal(limits: Pick<NetworkLimits, 'deadlineMs'>, parent?: AbortSignal): AbortSignal {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(new NetworkDeadlineError(limits.deadlineMs)), limits.deadlineMs);
  timer.unref();
  controller.signal.addEventListener('abort', () => clearTimeout(timer), { once: true });
  return parent ? AbortSignal.any([parent, controller.signal]) : controller.signal;
}

/**
 * Runs `work` with a deadline signal. When the deadline passes, the returned
 * promise rejects with the {@link NetworkDeadlineError} even if `work` does
 * not react to the signal, and whatever `work` throws after that is replaced
 * by the deadline error (an aborted request's error says less).
 */
export async function withNetworkDeadline<T>(limits: Pick<NetworkLimits, 'deadlineMs'>, work: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const signal = deadlineSignal(limits);
  const expired = new Promise<never>((_, reject) => {
    signal.addEventListener('abort', () => reject(signal.reason), { once: true });
  });
  expired.catch(() => undefined);
  try {
    return await Promise.race([work(signal), expired]);
  } catch (err) {
    if (signal.aborted && signal.reason instanceof NetworkDeadlineError) throw signal.reason;
    throw err;
  }
}

/**
 * Connect and idle timeouts on a socket: one that is still connecting after
 * `connectTimeoutMs`, or on which nothing moves for `idleTimeoutMs`, is
 * destroyed with a {@link NetworkTimeoutError} (the request using it fails
 * with that error). Guarding a socket again (a reused keep-alive socket)
 * only updates its limits.
 */
function guardSocket(socket: net.Socket, limits: Pick<NetworkLimits, 'connectTimeoutMs' | 'idleTimeoutMs'>, host: string): void {
  const guarded = socket as net.Socket & { [GUARDED]?: SocketGuard };
  const existing = guarded[GUARDED];
  // A reused keep-alive socket takes the limits of its new request (its agent may have reset the timeout).
  guarded[GUARDED] = { limits, host };
  socket.setTimeout(limits.idleTimeoutMs);
  if (existing) return;
  if (socket.connecting) {
    const timer = setTimeout(() => {
      if (socket.connecting) socket.destroy(new NetworkTimeoutError(host, 'connect', limits.connectTimeoutMs));
    }, limits.connectTimeoutMs);
    timer.unref();
    socket.once('connect', () => clearTimeout(timer));
    socket.once('close', () => clearTimeout(timer));
  }
  socket.on('timeout', () => {
    const g = guarded[GUARDED] ?? { limits, host };
    // A keep-alive socket that sits in its agent's pool is just closed; a busy one fails its request.
    socket.destroy(
      socket.connecting
        ? new NetworkTimeoutError(g.host, 'connect', g.limits.connectTimeoutMs)
        : new NetworkTimeoutError(g.host, 'idle', g.limits.idleTimeoutMs),
    );
  });
}

interface SocketGuard {
  limits: Pick<NetworkLimits, 'connectTimeoutMs' | 'idleTimeoutMs'>;
  host: string;
}

const GUARDED = Symbol('model-to-aks.guarded');

/**
 * Timeouts on one client request we make ourselves: the connect timeout
 * until its socket is up, then the socket's idle timeout. A keep-alive socket
 * keeps its guard when it is reused.
 */
export function guardRequest(req: http.ClientRequest, limits: Pick<NetworkLimits, 'connectTimeoutMs' | 'idleTimeoutMs'>, host: string): void {
  // Timers start when the request gets its socket: a request queued behind busy sockets of its agent is not late.
  req.once('socket', (socket: net.Socket) => guardSocket(socket, limits, host));
}

type ConnectionFactory = (...args: unknown[]) => net.Socket | undefined;

/**
 * Connect and idle timeouts on every socket an agent opens (plain, TLS, or a
 * tunnel through a proxy agent), for clients whose requests we do not create
 * ourselves (the Azure SDK, the AWS SDK). The agent's own `timeout` option
 * must equal the idle timeout, or Node resets a pooled socket's timeout to
 * none when it is reused: create the agent with {@link agentTimeoutOptions}.
 */
export function withSocketTimeouts<A extends http.Agent>(agent: A, limits: Pick<NetworkLimits, 'connectTimeoutMs' | 'idleTimeoutMs'>, host: string): A {
  const target = agent as unknown as { createConnection: ConnectionFactory };
  const original = target.createConnection.bind(agent) as ConnectionFactory;
  target.createConnection = (...args: unknown[]) => {
    const socket = original(...args);
    if (socket) guardSocket(socket, limits, host);
    return socket;
  };
  return agent;
}

/** Agent options that keep a pooled socket's idle timeout when it is reused. */
export function agentTimeoutOptions(limits: Pick<NetworkLimits, 'idleTimeoutMs'>): { timeout: number } {
  return { timeout: limits.idleTimeoutMs };
}

/**
 * The timeout sentence of an error chain ("no answer from host for 30 s
 * (networkTimeout)"), when a connect or idle timeout caused it.
 */
export function timeoutDetail(err: unknown): string | undefined {
  for (let e: unknown = err, depth = 0; typeof e === 'object' && e !== null && depth < 5; depth++) {
    const m = /(?:no answer from|no connection to) \S+ (?:for|within) \d+ s \(networkTimeout\)/.exec(String((e as { message?: unknown }).message ?? ''));
    if (m) return m[0];
    e = (e as { cause?: unknown }).cause;
  }
  return undefined;
}
