/**
 * Registry failures as clear one-line messages. The distribution API answers
 * errors with a JSON body `{"errors":[{"code","message","detail"}]}`; the code
 * decides the message and whether trying again may help.
 */
import { UserError } from '../../errors';
import { isTransientStatus } from '../../retry';

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

export class RegistryError extends UserError {
  readonly statusCode: number;
  readonly registryCode?: string;
  readonly transient: boolean;

  constructor(message: string, options: { status: number; registryCode?: string; transient?: boolean; code?: string; input?: string; cause?: unknown }) {
    super(message, { code: options.code ?? 'RegistryError', input: options.input, cause: options.cause });
    this.name = 'RegistryError';
    this.statusCode = options.status;
    this.registryCode = options.registryCode;
    this.transient = options.transient ?? isTransientStatus(options.status);
  }
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
    if (typeof body.error === 'string') return [{ code: body.error.toUpperCase(), message: typeof body.error_description === 'string' ? body.error_description : body.error }];
  } catch {
    /* not JSON */
  }
  return undefined;
}

function oneLine(s: string): string {
  return s.replace(/\s+/g, ' ').trim().slice(0, 300);
}

/** The error for a response with an unexpected status. */
export function registryError(status: number, bodyText: string | undefined, ctx: ErrorContext, headers: Record<string, string | string[] | undefined> = {}): RegistryError {
  const entries = parseErrorBody(bodyText);
  const first = entries?.[0];
  const code = first?.code?.toUpperCase();
  const said = first ? ` (${code ?? 'error'}: ${oneLine(first.message ?? '')})` : '';
  const repo = ctx.repository ? `repository '${ctx.repository}' on ${ctx.registry}` : ctx.registry;
  const what = `${ctx.operation} of ${repo}`;
  const challenge = String(headers['www-authenticate'] ?? '');
  const base = { status, registryCode: code, input: ctx.input };

  if (code === 'TOOMANYREQUESTS' || status === 429) {
    return new RegistryError(`Registry ${ctx.registry} is throttling requests (${status} TOOMANYREQUESTS) during ${ctx.operation}: retry later or lower the concurrency input.`, { ...base, transient: true, code: 'Throttled' });
  }
  if (code === 'DENIED' || status === 403 || /insufficient_scope/.test(challenge)) {
    return new RegistryError(
      `The identity is not allowed to ${ctx.operation.startsWith('pull') ? 'pull from' : 'push to'} ${repo}${said}: grant it the AcrPush role (AcrPull for pulls) on the registry or push rights on this repository, or choose another repository.`,
      { ...base, transient: false, code: 'AuthFailed' },
    );
  }
  if (code === 'UNAUTHORIZED' || status === 401) {
    return new RegistryError(`Registry ${ctx.registry} rejected the credentials for the ${what}${said}: check the service connection's user name and password or token, and that it is meant for this registry.`, {
      ...base,
      transient: false,
      code: 'AuthFailed',
    });
  }
  if (code === 'NAME_UNKNOWN') {
    return new RegistryError(`Repository '${ctx.repository ?? '?'}' does not exist on ${ctx.registry}${said}: check the repository name (it is created by the first push).`, { ...base, transient: false, code: 'NotFound' });
  }
  if (code === 'NAME_INVALID') {
    return new RegistryError(`Registry ${ctx.registry} refuses the repository name '${ctx.repository ?? '?'}'${said}: use lowercase letters, digits and separators.`, { ...base, transient: false, code: 'InvalidInput' });
  }
  if (code === 'MANIFEST_UNKNOWN') {
    return new RegistryError(`Image not found: the ${what} found no such tag or digest${said}; check the tag or digest.`, { ...base, transient: false, code: 'NotFound' });
  }
  if (code === 'MANIFEST_INVALID' || code === 'MANIFEST_BLOB_UNKNOWN' || code === 'MANIFEST_UNVERIFIED' || code === 'TAG_INVALID') {
    return new RegistryError(`Registry ${ctx.registry} refused the image manifest during ${ctx.operation}${said}: the image layout may be incomplete or use a format this registry does not accept; rebuild it.`, {
      ...base,
      transient: false,
      code: 'ManifestInvalid',
    });
  }
  if (code === 'BLOB_UNKNOWN') {
    return new RegistryError(`Registry ${ctx.registry} does not have a blob the ${what} needs${said}: push the image again.`, { ...base, transient: false, code: 'NotFound' });
  }
  if (code === 'DIGEST_INVALID' || code === 'SIZE_INVALID') {
    return new RegistryError(`Registry ${ctx.registry} computed a different digest or size for the data sent during ${ctx.operation}${said}: the local blob may be corrupt; rebuild the image layout.`, {
      ...base,
      transient: false,
      code: 'ChecksumMismatch',
    });
  }
  if (code === 'BLOB_UPLOAD_UNKNOWN' || code === 'BLOB_UPLOAD_INVALID' || code === 'RANGE_INVALID' || status === 416) {
    return new RegistryError(`Registry ${ctx.registry} lost or refused the upload session during ${ctx.operation}${said}.`, { ...base, transient: false, code: 'UploadInvalid' });
  }
  if (code === 'UNSUPPORTED') {
    return new RegistryError(`Registry ${ctx.registry} does not support the ${ctx.operation}${said}.`, { ...base, transient: false, code: 'Unsupported' });
  }
  if (status >= 500 || status === 408) {
    return new RegistryError(`Registry ${ctx.registry} failed during the ${what} with HTTP ${status}${said}: it may be overloaded or down; retry later.`, { ...base, transient: true });
  }
  if (status === 404) {
    return new RegistryError(`Registry ${ctx.registry} answered 404 Not Found to the ${what}${said}: check the registry and repository names.`, { ...base, transient: false, code: 'NotFound' });
  }
  return new RegistryError(`Registry ${ctx.registry} answered HTTP ${status} to the ${what}${said}.`, { ...base });
}
