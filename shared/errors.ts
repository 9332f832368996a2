/**
 * The one error model of the library (after go-containerregistry's
 * `remote/transport/error.go`: one error type with a typed code, the service's
 * own code and HTTP status kept as data, and a verdict on whether trying again
 * may help).
 *
 * - {@link UserError} carries one actionable sentence for the person running
 *   the pipeline (what was wrong, which input, what to do) and a typed
 *   {@link ErrorCode}. Its subclasses name the common cases: {@link InputError},
 *   {@link AuthError}, {@link NotFoundError}, {@link ChecksumMismatchError}.
 *   A failure answered by a remote service keeps that service's own code
 *   (`remoteCode`: a registry's `UNAUTHORIZED`, a Kubernetes `reason`, an ARM
 *   error code) and its `statusCode` as data: a registry's 401 IS an
 *   {@link AuthError}, whatever the registry called it.
 * - {@link RetryableError} is a failure that is not the user's to fix as such
 *   (a reset, a 5xx, a truncated body): it carries the HTTP status, a
 *   retry-after hint and the verdict `transient`. `retry.ts` classifies our
 *   errors by these typed fields and third-party SDK errors by their shapes.
 *   One that survives all retries reaches the task boundary as an unexpected
 *   error unless a caller turns it into a {@link UserError}.
 * - {@link errorMessage} is the one way to read the message of anything thrown.
 *
 * Options and inputs. The library's errors name the OPTION a failure is about
 * (`input` below: e.g. `modelPath`, `destination`, `platform`). The library's
 * option names are the tasks' input names by design, so in almost every case
 * the option IS the input; where a task names an input differently, the task
 * entry passes the mapping to the adapter's `runTask` (`inputNames`), the one
 * place that turns an option into "Input 'x': ...". The library never looks up
 * a task input itself.
 *
 * Anything else reaching the task boundary is treated as a bug and reported
 * with its stack under `system.debug`.
 */

/** Every code a {@link UserError} can carry: stable, machine-readable, asserted by tests. */
export type ErrorCode =
  // the generic ones
  | 'UserError'
  | 'InvalidInput'
  | 'AuthFailed'
  | 'NotFound'
  | 'ChecksumMismatch'
  | 'ChecksumRequired'
  | 'Unsupported'
  | 'Ambiguous'
  // network and services
  | 'Unreachable'
  | 'NetworkDeadline'
  | 'Throttled'
  | 'StoreError'
  | 'WrongRegion'
  | 'RangeNotSupported'
  | 'UnsafeStoreKey'
  // downloads and files
  | 'DownloadFailed'
  | 'ObjectChanged'
  | 'NotWritable'
  | 'DestinationNotWritable'
  | 'PathOutsideDestination'
  | 'FileChanged'
  | 'DeferredSourceMissing'
  | 'SymlinkEscape'
  | 'NotAnArchive'
  | 'BadArchive'
  | 'UnsafeArchive'
  | 'ExtractLimit'
  // registries and images
  | 'RegistryError'
  | 'NotARegistry'
  | 'InsecureLocation'
  | 'ManifestInvalid'
  | 'UploadInvalid'
  | 'InvalidDigest'
  | 'InvalidLayout'
  | 'NotALayout'
  | 'NoMatchingPlatform'
  | 'UnsupportedMediaType'
  | 'DockerUnavailable'
  | 'DockerBuildFailed'
  | 'DockerSaveFailed'
  // Kubernetes
  | 'ClusterUnreachable'
  | 'ResponseTooLarge'
  | 'UnknownKind'
  | 'Invalid'
  | 'RolloutFailed'
  | 'RolledBack'
  | 'SmokeTestFailed'
  // Azure DevOps run records
  | 'InvalidRecord'
  | 'DevOpsError'
  // model-server checks (shared/check)
  | 'CheckFailed'
  // canary releases (DeployToAKS action/strategy)
  | 'NoCanary'
  | 'NoStableWorkload'
  | 'CanaryFailed'
  // running an image on the agent (shared/testimage)
  | 'NoContainerEngine'
  | 'ImageLoadFailed'
  | 'ContainerStartFailed'
  | 'ContainerExited'
  | 'NotReady'
  | 'Cancelled';

/** What `retry.ts` needs to know about a failure; the fields are optional on a {@link UserError}. */
export interface RetryHints {
  /** HTTP status the service answered, when it answered. */
  readonly statusCode?: number;
  /** How long the service asked us to wait (Retry-After), in ms. */
  readonly retryAfterMs?: number;
  /** Whether trying again may help; undefined: decided by status, cause and message. */
  readonly transient?: boolean;
}

export interface UserErrorOptions {
  code?: ErrorCode;
  /** The option (= task input, see the header) the problem is about. */
  input?: string;
  cause?: unknown;
  statusCode?: number;
  retryAfterMs?: number;
  transient?: boolean;
  /** The service's own code: a registry's `UNAUTHORIZED`, a Kubernetes `reason`, an ARM error code. */
  remoteCode?: string;
}

/** True for 408, 429 and 5xx other than 501 and 505: trying again may help. */
export function isTransientStatus(status: number): boolean {
  return status === 408 || status === 429 || (status >= 500 && status !== 501 && status !== 505);
}

export class UserError extends Error implements RetryHints {
  /** Stable machine-readable code, e.g. `ChecksumMismatch`. */
  readonly code: ErrorCode;
  /** The option (= task input, see the header) the problem is about, when there is one. */
  readonly input?: string;
  // `declare`: absent unless given, so an unknown status or verdict stays "not known" for retry.ts.
  declare readonly statusCode?: number;
  declare readonly retryAfterMs?: number;
  declare readonly transient?: boolean;
  /** The service's own code, kept as data (see {@link UserErrorOptions.remoteCode}). */
  declare readonly remoteCode?: string;

  constructor(message: string, options: UserErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'UserError';
    this.code = options.code ?? 'UserError';
    this.input = options.input;
    if (options.statusCode !== undefined) this.statusCode = options.statusCode;
    if (options.retryAfterMs !== undefined) this.retryAfterMs = options.retryAfterMs;
    if (options.transient !== undefined) this.transient = options.transient;
    if (options.remoteCode !== undefined) this.remoteCode = options.remoteCode;
  }
}

type SubclassOptions = Omit<UserErrorOptions, 'code'>;

/** An input value that cannot be used as given. */
export class InputError extends UserError {
  constructor(input: string, message: string, cause?: unknown) {
    super(message, { code: 'InvalidInput', input, cause });
    this.name = 'InputError';
  }
}

/** Credentials missing, rejected or lacking permission. */
export class AuthError extends UserError {
  constructor(message: string, options: SubclassOptions = {}) {
    super(message, { ...options, code: 'AuthFailed' });
    this.name = 'AuthError';
  }
}

/** Something the user named (container, bucket, object, image, version) does not exist. */
export class NotFoundError extends UserError {
  constructor(message: string, options: SubclassOptions = {}) {
    super(message, { ...options, code: 'NotFound' });
    this.name = 'NotFoundError';
  }
}

/** Downloaded or stored bytes do not hash to what they should. */
export class ChecksumMismatchError extends UserError {
  constructor(message: string, options: SubclassOptions = {}) {
    super(message, { ...options, code: 'ChecksumMismatch' });
    this.name = 'ChecksumMismatchError';
  }
}

export interface RetryableErrorOptions {
  statusCode?: number;
  retryAfterMs?: number;
  /** Default: by `statusCode` when given ({@link isTransientStatus}), else true. False pins the failure as permanent. */
  transient?: boolean;
  /** A Node-style code (`ECONNRESET`, `TruncatedBody`, `TimeoutError`) for logs and for classifiers that read codes. */
  code?: string;
  cause?: unknown;
}

/**
 * A failure of a remote service or of the network, with the retry verdict:
 * a 5xx, a reset, a truncated or missing body, a stalled read. Not a sentence
 * for the user (callers wrap what survives the retries in a {@link UserError}).
 */
export class RetryableError extends Error implements RetryHints {
  declare readonly statusCode?: number;
  declare readonly retryAfterMs?: number;
  readonly transient: boolean;
  declare readonly code?: string;

  constructor(message: string, options: RetryableErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'RetryableError';
    if (options.statusCode !== undefined) this.statusCode = options.statusCode;
    if (options.retryAfterMs !== undefined) this.retryAfterMs = options.retryAfterMs;
    if (options.code !== undefined) this.code = options.code;
    this.transient = options.transient ?? (options.statusCode !== undefined ? isTransientStatus(options.statusCode) : true);
  }
}

export function isUserError(err: unknown): err is UserError {
  return err instanceof UserError;
}

/** The message of anything thrown: the one way to read it. */
export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}
