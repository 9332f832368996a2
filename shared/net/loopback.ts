/**
 * Which hosts are this machine (plain http allowed, never proxied) and which
 * are addressed by IP or a local name (so storage URLs carry the account or
 * bucket in the path, as emulators expect).
 */
import { isIP } from 'node:net';

function bare(hostname: string): string {
  return hostname.replace(/^\[|\]$/g, '').toLowerCase();
}

/** True for localhost, 127.0.0.0/8 and ::1 (brackets allowed, as in URL.hostname). */
export function isLoopbackHost(hostname: string): boolean {
  const h = bare(hostname);
  return h === 'localhost' || h === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h);
}

/** {@link isLoopbackHost} of a `host[:port]` authority, as a registry is written in a reference (`[::1]:5000`, `127.0.0.1:5000`). */
export function isLoopbackAuthority(authority: string): boolean {
  let host = authority;
  if (host.startsWith('[')) host = host.slice(1, host.indexOf(']'));
  else if (host.includes(':')) host = host.slice(0, host.lastIndexOf(':'));
  return isLoopbackHost(host);
}

/** True for an IP address (v4 or v6, brackets allowed), localhost or a name under .localhost. */
export function isAddressOrLocalName(hostname: string): boolean {
  const h = bare(hostname);
  return isIP(h) !== 0 || h === 'localhost' || h.endsWith('.localhost');
}
