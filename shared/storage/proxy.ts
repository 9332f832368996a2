/**
 * Which HTTP proxy a request to a model store goes through.
 *
 * Order: an explicit proxy URL (the agent's proxy settings, passed by the task)
 * > HTTPS_PROXY / https_proxy / HTTP_PROXY / http_proxy > none. A host listed in
 * the no-proxy list (explicit list, else NO_PROXY / no_proxy) is reached
 * directly. No-proxy entries follow curl's rules: comma or space separated;
 * `*` bypasses everything; `example.com`, `.example.com` and `*.example.com`
 * match the domain and its subdomains; `host:port` matches only that port;
 * IPv4/IPv6 addresses match exactly and `10.0.0.0/8`-style CIDR blocks match
 * addresses inside them.
 */
import { BlockList, isIP } from 'node:net';

export interface ProxyOptions {
  /** Proxy URL configured for the agent (takes precedence over the environment). */
  proxyUrl?: string;
  /** No-proxy list to use instead of NO_PROXY / no_proxy. */
  noProxy?: string;
  /**
   * The agent's proxy bypass list (Agent.ProxyBypassList): regular expressions
   * matched case-insensitively against the full request URL. Invalid ones are ignored.
   */
  bypassPatterns?: string[];
  /** Environment to read (default process.env); for tests. */
  env?: NodeJS.ProcessEnv;
}

/** The proxy URL from the options or the environment, ignoring no-proxy rules; undefined when none is set. */
export function configuredProxyUrl(options: ProxyOptions = {}): string | undefined {
  const env = options.env ?? process.env;
  for (const candidate of [options.proxyUrl, env.HTTPS_PROXY, env.https_proxy, env.HTTP_PROXY, env.http_proxy]) {
    const value = candidate?.trim();
    if (value) return value;
  }
  return undefined;
}

/** The no-proxy list in effect (explicit, else NO_PROXY / no_proxy). */
export function configuredNoProxy(options: ProxyOptions = {}): string {
  const env = options.env ?? process.env;
  return (options.noProxy ?? env.NO_PROXY ?? env.no_proxy ?? '').trim();
}

function defaultPort(protocol: string): number {
  return protocol === 'http:' ? 80 : 443;
}

function stripBrackets(host: string): string {
  return host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
}

/** Split `host:port`, `[v6]:port`, bare IPv6 and plain hosts. */
function splitHostPort(entry: string): { host: string; port?: number } {
  if (entry.startsWith('[')) {
    const end = entry.indexOf(']');
    if (end > 0) {
      const rest = entry.slice(end + 1);
      const port = rest.startsWith(':') ? Number(rest.slice(1)) : undefined;
      return { host: entry.slice(1, end), port: port !== undefined && Number.isInteger(port) ? port : undefined };
    }
  }
  if (isIP(entry) === 6) return { host: entry };
  const colon = entry.lastIndexOf(':');
  if (colon > 0 && entry.indexOf(':') === colon) {
    const port = Number(entry.slice(colon + 1));
    if (Number.isInteger(port) && port > 0) return { host: entry.slice(0, colon), port };
  }
  return { host: entry };
}

function cidrContains(entry: string, host: string): boolean {
  const slash = entry.indexOf('/');
  if (slash < 0) return false;
  const network = entry.slice(0, slash);
  const bits = Number(entry.slice(slash + 1));
  const family = isIP(network);
  const hostFamily = isIP(host);
  if (family === 0 || family !== hostFamily || !Number.isInteger(bits)) return false;
  const list = new BlockList();
  try {
    list.addSubnet(network, bits, family === 4 ? 'ipv4' : 'ipv6');
    return list.check(host, family === 4 ? 'ipv4' : 'ipv6');
  } catch {
    return false;
  }
}

/** True when `targetUrl` must be reached without a proxy according to `noProxy`. */
export function bypassesProxy(targetUrl: string, noProxy: string): boolean {
  let url: URL;
  try {
    url = new URL(targetUrl);
  } catch {
    return false;
  }
  const host = stripBrackets(url.hostname).toLowerCase().replace(/\.$/, '');
  const port = url.port ? Number(url.port) : defaultPort(url.protocol);
  for (const raw of noProxy.split(/[\s,]+/)) {
    const entry = raw.trim().toLowerCase();
    if (!entry) continue;
    if (entry === '*') return true;
    if (entry.includes('/')) {
      if (cidrContains(entry, host)) return true;
      continue;
    }
    const { host: entryHostRaw, port: entryPort } = splitHostPort(entry);
    if (entryPort !== undefined && entryPort !== port) continue;
    const entryHost = entryHostRaw.replace(/^\*?\.+/, '').replace(/\.$/, '');
    if (!entryHost) continue;
    if (isIP(entryHost) !== 0 || isIP(host) !== 0) {
      if (entryHost === host) return true;
      continue;
    }
    if (host === entryHost || host.endsWith(`.${entryHost}`)) return true;
  }
  return false;
}

/** True when one of the agent's bypass regular expressions matches `targetUrl`. */
export function matchesBypassPattern(targetUrl: string, patterns: string[] | undefined): boolean {
  for (const p of patterns ?? []) {
    if (!p.trim()) continue;
    let re: RegExp;
    try {
      re = new RegExp(p.trim(), 'i');
    } catch {
      continue;
    }
    if (re.test(targetUrl)) return true;
  }
  return false;
}

/** The proxy URL to use for requests to `targetUrl`, or undefined to connect directly. */
export function proxyFor(targetUrl: string, options: ProxyOptions = {}): string | undefined {
  const proxy = configuredProxyUrl(options);
  if (!proxy) return undefined;
  if (bypassesProxy(targetUrl, configuredNoProxy(options))) return undefined;
  if (matchesBypassPattern(targetUrl, options.bypassPatterns)) return undefined;
  return proxy;
}

/** A proxy URL with any user:password replaced, safe to log. */
export function redactProxyUrl(proxyUrl: string): string {
  try {
    const url = new URL(proxyUrl);
    if (url.username || url.password) {
      url.username = '***';
      url.password = '';
    }
    return url.toString().replace(/\/$/, '');
  } catch {
    return '(unparseable proxy URL)';
  }
}

const NETWORK_CODES = ['ENOTFOUND', 'EAI_AGAIN', 'ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'ETIMEDOUT', 'ECONNRESET', 'CERT_HAS_EXPIRED', 'DEPTH_ZERO_SELF_SIGNED_CERT', 'SELF_SIGNED_CERT_IN_CHAIN', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'ERR_TLS_CERT_ALTNAME_INVALID'];

/** The network failure code (DNS, refused, TLS...) of an SDK error, looking through messages and causes; undefined for other errors. */
export function networkCode(err: unknown): string | undefined {
  for (let e: unknown = err, depth = 0; e && depth < 5; depth++) {
    const obj = e as { code?: unknown; message?: unknown; cause?: unknown };
    if (typeof obj.code === 'string' && NETWORK_CODES.includes(obj.code)) return obj.code;
    if (typeof obj.message === 'string') {
      const hit = NETWORK_CODES.find((c) => obj.message && (obj.message as string).includes(c));
      if (hit) return hit;
    }
    e = obj.cause;
  }
  return undefined;
}
