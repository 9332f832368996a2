/**
 * Image references: `host[:port]/path/name[:tag][@sha256:...]`, parsed and
 * normalised following the distribution/reference grammar, with Docker Hub's
 * defaults (`docker.io` -> `registry-1.docker.io`, `library/` for single names).
 */
import { isDigest, isSha256Hex, SHA256_PREFIX } from '../digest';
import { InputError } from '../errors';

export interface ImageReference {
  /** host[:port], normalised (Docker Hub is `registry-1.docker.io`; IPv6 literals stay in brackets). */
  registry: string;
  /** Repository path inside the registry, e.g. `library/busybox`. */
  repository: string;
  tag?: string;
  /** `sha256:` + 64 lowercase hex. */
  digest?: string;
  toString(): string;
}

const DOCKER_HUB_REGISTRY = 'registry-1.docker.io';
const DOCKER_HUB_ALIASES = new Set(['docker.io', 'index.docker.io', 'registry-1.docker.io', 'registry.hub.docker.com']);

const TAG_RE = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;
const PATH_COMPONENT_RE = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const DOMAIN_COMPONENT = '(?:[A-Za-z0-9]|[A-Za-z0-9][A-Za-z0-9-]*[A-Za-z0-9])';
const HOST_RE = new RegExp(`^${DOMAIN_COMPONENT}(?:\\.${DOMAIN_COMPONENT})*$`);
/** distribution/reference `ipv6address`: hex digits and colons only (no zone id, no embedded IPv4). */
const IPV6_RE = /^\[[0-9A-Fa-f:]+\]$/;
const PORT_RE = /^[0-9]{1,5}$/;
/** distribution/reference `RepositoryNameTotalLengthMax`: applies to the path (repository without the registry). */
const MAX_PATH_LENGTH = 255;

export function isValidTag(tag: string): boolean {
  return TAG_RE.test(tag);
}

/** Turn any string into a valid tag: invalid characters become '-', a bad first character gets a '_' prefix, cut to 128. */
export function sanitizeTag(s: string): string {
  let t = s.trim().replace(/[^A-Za-z0-9_.-]+/g, '-');
  if (t === '') return '_';
  if (!/^[A-Za-z0-9_]/.test(t)) t = `_${t}`;
  return t.slice(0, 128);
}

export function formatReference(ref: Pick<ImageReference, 'registry' | 'repository' | 'tag' | 'digest'>): string {
  let s = `${ref.registry}/${ref.repository}`;
  if (ref.tag) s += `:${ref.tag}`;
  if (ref.digest) s += `@${ref.digest}`;
  return s;
}

/** Same registry and repository (tag/digest ignored). */
export function sameRepository(a: Pick<ImageReference, 'registry' | 'repository'>, b: Pick<ImageReference, 'registry' | 'repository'>): boolean {
  return normaliseRegistry(a.registry) === normaliseRegistry(b.registry) && a.repository === b.repository;
}

/** Canonical registry host: Docker Hub aliases -> registry-1.docker.io; host names lower-cased. */
export function normaliseRegistry(registry: string): string {
  const r = registry.replace(/^https?:\/\//i, '').replace(/\/+$/, '');
  const lower = r.toLowerCase();
  if (DOCKER_HUB_ALIASES.has(lower)) return DOCKER_HUB_REGISTRY;
  return lower;
}

/** Validates `host[:port]` / `[v6]:port`; returns an error text or undefined. */
export function registryProblem(registry: string): string | undefined {
  let host = registry;
  let port: string | undefined;
  if (registry.startsWith('[')) {
    const end = registry.indexOf(']');
    if (end < 0) return `the IPv6 address in '${registry}' has no closing ']'`;
    host = registry.slice(0, end + 1);
    const rest = registry.slice(end + 1);
    if (rest !== '') {
      if (!rest.startsWith(':')) return `'${registry}' is not a valid registry host`;
      port = rest.slice(1);
    }
    if (host.includes('%')) return `'${host}' has an IPv6 zone id ('%...'), which image references do not allow`;
    if (host.includes('.')) return `'${host}' embeds an IPv4 address in an IPv6 address, which image references do not allow: write it in hex`;
    if (!IPV6_RE.test(host)) return `'${host}' is not a valid IPv6 address`;
  } else {
    const colon = registry.lastIndexOf(':');
    if (colon >= 0) {
      host = registry.slice(0, colon);
      port = registry.slice(colon + 1);
    }
    if (!HOST_RE.test(host)) return `'${registry}' is not a valid registry host name`;
  }
  if (port !== undefined && (!PORT_RE.test(port) || Number(port) > 65535 || Number(port) === 0)) return `'${port}' is not a valid port in '${registry}'`;
  return undefined;
}

function build(registry: string, repository: string, tag?: string, digest?: string): ImageReference {
  return {
    registry,
    repository,
    ...(tag !== undefined ? { tag } : {}),
    ...(digest !== undefined ? { digest } : {}),
    toString() {
      return formatReference(this);
    },
  };
}

export interface ParseReferenceOptions {
  /** Tag used when the reference has neither tag nor digest (none by default). */
  defaultTag?: string;
  /** Input name used in error messages (default `reference`). */
  input?: string;
}

/**
 * Parse an image reference. Throws InputError with a one-line explanation on
 * anything the distribution grammar rejects.
 */
export function parseReference(input: string, options: ParseReferenceOptions = {}): ImageReference {
  const inputName = options.input ?? 'reference';
  const raw = input.trim();
  const fail = (why: string): never => {
    throw new InputError(inputName, `Image reference '${raw}' is invalid: ${why}.`);
  };
  if (raw === '') throw new InputError(inputName, `Image reference is empty: give one like 'myregistry.azurecr.io/app:1.0'.`);
  if (/\s/.test(raw)) fail('it contains whitespace');
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(raw)) fail(`drop the URL scheme and give it as 'host/repository:tag'`);
  // distribution/reference `identifier`: a whole reference of 64 hex characters is an image ID, not a name.
  if (isSha256Hex(raw)) fail('64 hexadecimal characters are an image ID, not a repository name: give the repository (and @sha256:<digest> to pin it)');

  let rest = raw;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!digest.includes(':')) fail(`digest '${digest}' must look like sha256:<64 hex characters>`);
    const algorithmOk = digest.startsWith(SHA256_PREFIX);
    if (algorithmOk && isSha256Hex(digest.slice(SHA256_PREFIX.length), { anyCase: true }) && digest !== digest.toLowerCase())
      fail(`digest '${digest}' must use lowercase hex`);
    if (!algorithmOk) fail(`digest algorithm '${digest.split(':')[0]}' is not supported (only sha256)`);
    if (!isDigest(digest)) fail(`digest '${digest}' must be sha256: followed by 64 lowercase hex characters`);
  }

  // Split the registry off: the first component is a host if it has '.', ':', is 'localhost', starts with '[' or has uppercase.
  let registry: string;
  let remainder: string;
  const slash = rest.indexOf('/');
  const first = slash >= 0 ? rest.slice(0, slash) : '';
  if (slash >= 0 && (first.includes('.') || first.includes(':') || first === 'localhost' || first.startsWith('[') || first !== first.toLowerCase())) {
    const problem = registryProblem(first);
    if (problem) fail(problem);
    // Lower-case the host only when it stays a host: 'LOCALDOMAIN/x' is a host only by its upper case.
    registry = /[.:]/.test(first) || first.toLowerCase() === 'localhost' ? normaliseRegistry(first) : first;
    remainder = rest.slice(slash + 1);
  } else {
    registry = DOCKER_HUB_REGISTRY;
    remainder = rest;
  }

  // Tag: after the last ':' of the path part (the path itself has no ':').
  let tag: string | undefined;
  const colon = remainder.lastIndexOf(':');
  if (colon >= 0) {
    tag = remainder.slice(colon + 1);
    remainder = remainder.slice(0, colon);
    if (!isValidTag(tag)) fail(`tag '${tag}' is not a valid tag (letters, digits, '_', '.', '-'; up to 128 characters, not starting with '.' or '-')`);
  }

  if (remainder === '') fail('the repository name is empty');
  if (remainder !== remainder.toLowerCase()) fail(`repository '${remainder}' must be lowercase`);
  for (const component of remainder.split('/')) {
    if (component === '') fail(`repository '${remainder}' has an empty path component`);
    if (!PATH_COMPONENT_RE.test(component))
      fail(`repository component '${component}' may only contain lowercase letters, digits and single separators ('.', '_', '__', '-')`);
  }
  let repository = remainder;
  if (registry === DOCKER_HUB_REGISTRY && !repository.includes('/')) repository = `library/${repository}`;
  if (repository.length > MAX_PATH_LENGTH)
    fail(`the repository path is ${repository.length} characters long; at most ${MAX_PATH_LENGTH} are allowed (the registry host does not count)`);

  if (tag === undefined && digest === undefined && options.defaultTag !== undefined) {
    if (!isValidTag(options.defaultTag)) fail(`default tag '${options.defaultTag}' is not a valid tag`);
    tag = options.defaultTag;
  }
  return build(registry, repository, tag, digest);
}

/** Build a reference from parts (validated like parseReference). */
export function makeReference(registry: string, repository: string, ref: { tag?: string; digest?: string } = {}): ImageReference {
  return parseReference(formatReference({ registry, repository: repository.replace(/^\/+/, ''), ...ref }));
}
