/**
 * Which HTTP proxy a request goes through, and the agent that goes through it:
 * the one place the model stores (Azure Blob, S3) and the registry client turn
 * proxy settings into `http.Agent`s.
 *
 * Order: an explicit proxy URL (the agent's proxy settings, passed by the task)
 * > HTTPS_PROXY / https_proxy / HTTP_PROXY / http_proxy > none. A host listed in
 * the no-proxy list (explicit list, else NO_PROXY / no_proxy) is reached
 * directly. No-proxy entries follow curl's rules: comma or space separated;
 * `*` bypasses everything; `example.com`, `.example.com` and `*.example.com`
 * match the domain and its subdomains; `host:port` matches only that port;
 * IPv4/IPv6 addresses match exactly and `10.0.0.0/8`-style CIDR blocks match
 * addresses inside them. The agent's bypass list (regular expressions against
 * the full URL, as the agent itself applies them) is checked too.
 *
 * The agent's settings are read by `agentProxy()` in shared/adapter.ts, by hand
 * rather than with task-lib's `getHttpProxyConfiguration()`: that reads the
 * same variables (Agent.ProxyUrl, Agent.ProxyUsername, Agent.ProxyPassword,
 * Agent.ProxyBypassList) but is not equivalent: it throws on a malformed bypass
 * list (JSON.parse) or an invalid bypass expression, where the task should
 * carry on with the proxy; its `proxyFormattedUrl` puts the user name and
 * password in the URL without percent-encoding them (a password with `@`, `:`
 * or `/` gives a wrong proxy URL) and is not registered as a secret; and it
 * knows neither NO_PROXY nor HTTPS_PROXY, which self-hosted agents use.
 */
import http from 'node:http';
import type https from 'node:https';
import { BlockList, isIP } from 'node:net';
import { HttpProxyAgent } from 'http-proxy-agent';
import { HttpsProxyAgent } from 'https-proxy-agent';
import { InputError } from '../errors';

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

/**
 * An agent that tunnels through `proxy`: CONNECT for https targets, absolute-form
 * requests for http ones. An invalid proxy URL is the user's to fix.
 */
export function proxyAgent(proxy: string, secure: true, options: http.AgentOptions): https.Agent;
export function proxyAgent(proxy: string, secure: boolean, options: http.AgentOptions): http.Agent;
export function proxyAgent(proxy: string, secure: boolean, options: http.AgentOptions): http.Agent {
  try {
    new URL(proxy);
  } catch {
    throw new InputError('proxy', 'The proxy URL is not a valid URL: fix the agent proxy settings or HTTPS_PROXY (expected http://host:port).');
  }
  return secure ? new HttpsProxyAgent(proxy, options) : new HttpProxyAgent(proxy, options);
}
