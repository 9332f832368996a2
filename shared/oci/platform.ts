/**
 * Platforms (`os/architecture[/variant]`): parsed from an input, written as
 * text, and matched against the entries of an image index. The one place
 * that decides which image of a multi-platform index is "linux/amd64" (the
 * model of go-containerregistry's v1/platform.go).
 */
import { InputError } from '../errors';
import type { Descriptor, Platform } from './types';

export const DEFAULT_PLATFORM: Platform = { os: 'linux', architecture: 'amd64' };

/** `os/arch[/variant]`, e.g. `linux/amd64`, `linux/arm64/v8`; empty means linux/amd64. */
export function parsePlatform(raw: string | undefined, input = 'platform'): Platform {
  const s = raw?.trim() || 'linux/amd64';
  const parts = s.split('/');
  if (parts.length < 2 || parts.length > 3 || parts.some((p) => !/^[a-z0-9._-]+$/.test(p))) {
    throw new InputError(input, `Input '${input}' must be os/architecture[/variant], e.g. linux/amd64 or linux/arm64/v8 (got '${s}').`);
  }
  const p: Platform = { os: parts[0], architecture: parts[1] };
  if (parts[2]) p.variant = parts[2];
  return p;
}

/** `os/arch[/variant]`, or `unknown` for an index entry without a platform. */
export function formatPlatform(p: Platform | undefined): string {
  if (!p) return 'unknown';
  return `${p.os}/${p.architecture}${p.variant ? `/${p.variant}` : ''}`;
}

/**
 * Does an index entry's platform satisfy `wanted`? os and architecture must
 * be equal; a variant counts only when both name one, except that arm64/v8
 * also matches an arm64 entry without a variant (v8 is arm64's only variant).
 */
export function platformMatches(candidate: Platform | undefined, wanted: Platform): boolean {
  if (!candidate) return false;
  if (candidate.os !== wanted.os || candidate.architecture !== wanted.architecture) return false;
  if (wanted.variant && candidate.variant && wanted.variant !== candidate.variant) return false;
  if (wanted.variant && !candidate.variant) return wanted.architecture === 'arm64' && wanted.variant === 'v8';
  return true;
}

/** The first index entry for `wanted`, if any. */
export function findPlatform<D extends Pick<Descriptor, 'platform'>>(entries: D[], wanted: Platform): D | undefined {
  return entries.find((d) => platformMatches(d.platform, wanted));
}

/** The platforms an index offers, for a message: `linux/amd64, linux/arm64/v8`. */
export function listPlatforms(entries: Array<Pick<Descriptor, 'platform'>>): string {
  return entries.map((d) => formatPlatform(d.platform)).join(', ');
}
