/**
 * Registry failures as clear one-line messages. The distribution API answers
 * errors with a JSON body `{"errors":[{"code","message","detail"}]}`; the code
 * decides the message and whether trying again may help.
 */
import { AuthError, ChecksumMismatchError, isTransientStatus, NotFoundError, UserError, type ErrorCode, type UserErrorOptions } from '../../errors';

interface RegistryErrorEntry {
  code?: string;
  message?: string;
  detail?: unknown;
}

export interface ErrorContext {
  /** e.g. `push`, `pull`, `upload blob sha256:...`. */
  operation: string;
  registry: string;
  repository?: string;
  /** Task input the failure is about (e.g. `repository`, `dockerRegistryConnection`). */
  input?: string;
}

export interface RegistryErrorOptions {
  status: number;
  /** The registry's own code (`UNAUTHORIZED`, `NAME_UNKNOWN`, ...), kept as data. */
  registryCode?: string;
  transient?: boolean;
  code?: ErrorCode;
  input?: string;
  cause?: unknown;
}

/**
 * A registry answer that is none of the common cases (throttling, refused
 * manifests, lost upload sessions, 5xx): a {@link UserError} with the HTTP
 * status and the registry's own code. Credentials, missing things and digest
 * mismatches are the common {@link AuthError}, {@link NotFoundError} and
 * {@link ChecksumMismatchError}, carrying the same data.
 */
export class RegistryError extends UserError {
  constructor(message: string, options: RegistryErrorOptions) {
    super(message, { ...toUserErrorOptions(options), code: options.code ?? 'RegistryError' });
    this.name = 'RegistryError';
  }
}

function toUserErrorOptions(o: RegistryErrorOptions): UserErrorOptions {
  return { input: o.input, cause: o.cause, statusCode: o.status, remoteCode: o.registryCode, transient: o.transient ?? isTransientStatus(o.status) };
}

/** Parses a registry error body; undefined when it is not one. */
export function parseErrorBody(text: string | undefined): RegistryErrorEntry[] | undefined {
  if (!text) return undefined;
  try {
    const body = JSON.parse(text) as { errors?: unknown; error?: unknown; error_description?: unknown };
    if (Array.isArray(body.errors)) {
      return body.errors.filter((e): e is RegistryErrorEntry => typeof e === 'object' && e !== null);
    }
    // OAuth2 error shape (token endpoints)
    if (typeof body.error === 'string')
      return [{ code: body.error.toUpperCase(), message: typeof body.error_description === 'string' ? body.error_description : body.error }];
  } catch {
    /* not JSON */
  }
  return undefined;
}

function oneLine(s: string): string {
  return s.replace(/\s+/g, ' ').trim().slice(0, 300);
}

/** The error for a response with an unexpected status. */
export function registryError(
  status: number,
  bodyText: string | undefined,
  ctx: ErrorContext,
  headers: Record<string, string | string[] | undefined> = {},
): UserError {
  const entries = parseErrorBody(bodyText);
  const first = entries?.[0];
  const code = first?.code?.toUpperCase();
  const said = first ? ` (${code ?? 'error'}: ${oneLine(first.message ?? '')})` : '';
  const repo = ctx.repository ? `repository '${ctx.repository}' on ${ctx.registry}` : ctx.registry;
  const what = `${ctx.operation} of ${repo}`;
  const challenge = String(headers['www-authenticate'] ?? '');
  const base = { status, registryCode: code, input: ctx.input };

  if (code === 'TOOMANYREQUESTS' || status === 429) {
    return new RegistryError(
      `Registry ${ctx.registry} is throttling requests (${status} TOOMANYREQUESTS) during ${ctx.operation}: retry later or lower the concurrency input.`,
      { ...base, transient: true, code: 'Throttled' },
    );
  }
  if (code === 'DENIED' || status === 403 || /insufficient_scope/.test(challenge)) {
    return new AuthError(
      `The identity is not allowed to ${ctx.operation.startsWith('pull') ? 'pull from' : 'push to'} ${repo}${said}: grant it the AcrPush role (AcrPull for pulls) on the registry or push rights on this repository, or choose another repository.`,
      toUserErrorOptions({ ...base, transient: false }),
    );
  }
  if (code === 'UNAUTHORIZED' || status === 401) {
    return new AuthError(
      `Registry ${ctx.registry} rejected the credentials for the ${what}${said}: check the service connection's user name and password or token, and that it is meant for this registry.`,
      toUserErrorOptions({ ...base, transient: false }),
    );
  }
  if (code === 'NAME_UNKNOWN') {
    return new NotFoundError(
      `Repository '${ctx.repository ?? '?'}' does not exist on ${ctx.registry}${said}: check the repository name (it is created by the first push).`,
      toUserErrorOptions({ ...base, transient: false }),
    );
  }
  if (code === 'NAME_INVALID') {
    return new RegistryError(
      `Registry ${ctx.registry} refuses the repository name '${ctx.repository ?? '?'}'${said}: use lowercase letters, digits and separators.`,
      { ...base, transient: false, code: 'InvalidInput' },
    );
  }
  if (code === 'MANIFEST_UNKNOWN') {
    return new NotFoundError(
      `Image not found: the ${what} found no such tag or digest${said}; check the tag or digest.`,
      toUserErrorOptions({ ...base, transient: false }),
    );
  }
  if (code === 'MANIFEST_INVALID' || code === 'MANIFEST_BLOB_UNKNOWN' || code === 'MANIFEST_UNVERIFIED' || code === 'TAG_INVALID') {
    return new RegistryError(
      `Registry ${ctx.registry} refused the image manifest during ${ctx.operation}${said}: the image layout may be incomplete or use a format this registry does not accept; rebuild it.`,
      {
        ...base,
        transient: false,
        code: 'ManifestInvalid',
      },
    );
  }
  if (code === 'BLOB_UNKNOWN') {
    return new NotFoundError(
      `Registry ${ctx.registry} does not have a blob the ${what} needs${said}: push the image again.`,
      toUserErrorOptions({ ...base, transient: false }),
    );
  }
  if (code === 'DIGEST_INVALID' || code === 'SIZE_INVALID') {
    return new ChecksumMismatchError(
      `Registry ${ctx.registry} computed a different digest or size for the data sent during ${ctx.operation}${said}: the local blob may be corrupt; rebuild the image layout.`,
      toUserErrorOptions({ ...base, transient: false }),
    );
  }
  if (code === 'BLOB_UPLOAD_UNKNOWN' || code === 'BLOB_UPLOAD_INVALID' || code === 'RANGE_INVALID' || status === 416) {
    return new RegistryError(`Registry ${ctx.registry} lost or refused the upload session during ${ctx.operation}${said}.`, {
      ...base,
      transient: false,
      code: 'UploadInvalid',
    });
  }
  if (code === 'UNSUPPORTED') {
    return new RegistryError(`Registry ${ctx.registry} does not support the ${ctx.operation}${said}.`, { ...base, transient: false, code: 'Unsupported' });
  }
  if (status >= 500 || status === 408) {
    return new RegistryError(`Registry ${ctx.registry} failed during the ${what} with HTTP ${status}${said}: it may be overloaded or down; retry later.`, {
      ...base,
      transient: true,
    });
  }
  if (status === 404) {
    return new NotFoundError(
      `Registry ${ctx.registry} answered 404 Not Found to the ${what}${said}: check the registry and repository names.`,
      toUserErrorOptions({ ...base, transient: false }),
    );
  }
  return new RegistryError(`Registry ${ctx.registry} answered HTTP ${status} to the ${what}${said}.`, { ...base });
}
