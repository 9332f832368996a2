/**
 * Typed errors. A {@link UserError} carries one actionable sentence meant for
 * the person running the pipeline (what was wrong, which input, what to do).
 * Anything else reaching the task boundary is treated as a bug and reported
 * with its stack under `system.debug`.
 */
export class UserError extends Error {
  /** Stable machine-readable code, e.g. `ChecksumMismatch`. */
  readonly code: string;
  /** The task input the problem is about, when there is one. */
  readonly input?: string;

  constructor(message: string, options: { code?: string; input?: string; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'UserError';
    this.code = options.code ?? 'UserError';
    this.input = options.input;
  }
}

/** An input value that cannot be used as given. */
export class InputError extends UserError {
  constructor(input: string, message: string, cause?: unknown) {
    super(message, { code: 'InvalidInput', input, cause });
    this.name = 'InputError';
  }
}

/** Credentials missing, rejected or lacking permission. */
export class AuthError extends UserError {
  constructor(message: string, options: { input?: string; cause?: unknown } = {}) {
    super(message, { code: 'AuthFailed', ...options });
    this.name = 'AuthError';
  }
}

/** Something the user named (container, bucket, object, image, version) does not exist. */
export class NotFoundError extends UserError {
  constructor(message: string, options: { input?: string; cause?: unknown } = {}) {
    super(message, { code: 'NotFound', ...options });
    this.name = 'NotFoundError';
  }
}

/** Downloaded or stored bytes do not hash to what they should. */
export class ChecksumMismatchError extends UserError {
  constructor(message: string, options: { input?: string; cause?: unknown } = {}) {
    super(message, { code: 'ChecksumMismatch', ...options });
    this.name = 'ChecksumMismatchError';
  }
}

export function isUserError(err: unknown): err is UserError {
  return err instanceof UserError;
}

/** Best-effort message of an unknown thrown value. */
export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}
