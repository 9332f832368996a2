/**
 * Registry authentication: anonymous, Basic, and Bearer tokens obtained from
 * the WWW-Authenticate challenge (GET realm with Basic credentials, or POST an
 * OAuth2 refresh token as ACR and `docker login` identity tokens do). Tokens
 * are cached per scope set and renewed before they expire or when the
 * registry calls them invalid.
 */
import { AuthError } from '../../errors';
import type { Logger } from '../../log';
import { isTransientError, withRetry } from '../../retry';
import { parseErrorBody } from './errors';
import { isLoopbackHost } from '../../net/loopback';
import { drain, readText, send } from './http';

export interface RefreshTokenContext {
  /** Token endpoint the refresh token is traded at. */
  realm: string;
  /** The registry's own origin (`https://<registry>`, plain http for a loopback or insecure one). */
  registryUrl: string;
  service: string;
  /** True when the token server rejected the previous refresh token. */
  forceRenew: boolean;
}

export interface RegistryCredentials {
  username?: string;
  password?: string;
  /**
   * OAuth2 refresh token (ACR's from /oauth2/exchange, docker's identity
   * token). A function is asked each time a token is needed and may renew it.
   */
  refreshToken?: string | ((ctx: RefreshTokenContext) => Promise<string>);
  /**
   * Trade the refresh token at the registry's own `/oauth2/token`, whatever
   * realm its challenge names (ACR: the refresh token, like the Entra token
   * behind it, is good for every registry the identity can reach).
   */
  tokenAtRegistry?: boolean;
}

interface Challenge {
  scheme: string;
  params: Record<string, string>;
}

/** Parses a WWW-Authenticate header (one or several challenges, quoted values may hold commas). */
export function parseChallenges(headerValue: string | undefined): Challenge[] {
  const out: Challenge[] = [];
  if (!headerValue) return out;
  const s = headerValue;
  let i = 0;
  const skipWs = () => {
    while (i < s.length && /[\s,]/.test(s[i] as string)) i++;
  };
  while (i < s.length) {
    skipWs();
    const m = /^[A-Za-z0-9!#$%&'*+.^_`|~-]+/.exec(s.slice(i));
    if (!m) break;
    const scheme = m[0];
    i += scheme.length;
    const challenge: Challenge = { scheme: scheme.toLowerCase(), params: {} };
    out.push(challenge);
    // params: key=value pairs until the next token not followed by '='
    for (;;) {
      skipWs();
      const km = /^([A-Za-z0-9!#$%&'*+.^_`|~-]+)\s*=\s*/.exec(s.slice(i));
      if (!km) break;
      i += km[0].length;
      const key = (km[1] as string).toLowerCase();
      let value = '';
      if (s[i] === '"') {
        i++;
        while (i < s.length && s[i] !== '"') {
          if (s[i] === '\\' && i + 1 < s.length) i++;
          value += s[i];
          i++;
        }
        i++;
      } else {
        const vm = /^[^,\s]*/.exec(s.slice(i));
        value = vm ? vm[0] : '';
        i += value.length;
      }
      challenge.params[key] = value;
    }
  }
  return out;
}

interface CachedToken {
  token: string;
  expiresAt: number;
}

export interface AuthOptions {
  registry: string;
  /** The registry's own origin (default https://<registry>). */
  registryUrl?: URL;
  credentials?: RegistryCredentials;
  logger?: Logger;
  /** Input to name in credential errors. */
  input?: string;
  now?: () => number;
  /** Retries for token requests (default 4). */
  retries?: number;
  retryBaseMs?: number;
  signal?: AbortSignal;
}

/** Keeps the registry's challenge and the tokens issued for each scope set. */
export class RegistryAuth {
  private challenge?: Challenge;
  private readonly tokens = new Map<string, CachedToken>();
  private readonly pending = new Map<string, Promise<CachedToken>>();
  private readonly now: () => number;
  /** Number of tokens fetched (tests, logs). */
  tokensFetched = 0;

  private readonly registryUrl: URL;

  constructor(private readonly options: AuthOptions) {
    this.now = options.now ?? Date.now;
    this.registryUrl = options.registryUrl ?? new URL(`https://${options.registry}`);
  }

  /** Records the challenge from a 401 (returns true when it carries `error="invalid_token"`). */
  learn(headerValue: string | undefined): Challenge | undefined {
    const challenges = parseChallenges(headerValue);
    const chosen = challenges.find((c) => c.scheme === 'bearer') ?? challenges.find((c) => c.scheme === 'basic');
    if (chosen) this.challenge = chosen;
    return chosen;
  }

  get scheme(): string | undefined {
    return this.challenge?.scheme;
  }

  /** Drops a cached token (the registry refused it). */
  invalidate(scopes: string[]): void {
    this.tokens.delete(scopeKey(scopes));
  }

  /** The Authorization header for a request needing `scopes`, or undefined for anonymous. */
  async authorization(scopes: string[]): Promise<string | undefined> {
    const c = this.challenge;
    if (!c) return undefined;
    const creds = this.options.credentials;
    if (c.scheme === 'basic') {
      if (creds?.username === undefined || creds.password === undefined) return undefined;
      return `Basic ${Buffer.from(`${creds.username}:${creds.password}`).toString('base64')}`;
    }
    if (c.scheme !== 'bearer') return undefined;
    const key = scopeKey(scopes);
    const cached = this.tokens.get(key);
    if (cached && this.now() < cached.expiresAt) return `Bearer ${cached.token}`;
    let p = this.pending.get(key);
    if (!p) {
      p = this.fetchToken(c, scopes).finally(() => this.pending.delete(key));
      this.pending.set(key, p);
    }
    const t = await p;
    this.tokens.set(key, t);
    return `Bearer ${t.token}`;
  }

  private async fetchToken(c: Challenge, scopes: string[]): Promise<CachedToken> {
    const creds = this.options.credentials;
    const service = c.params['service'] ?? '';
    const allScopes = scopes;
    const realmUrl = creds?.tokenAtRegistry ? new URL('/oauth2/token', this.registryUrl) : this.realmOf(c);
    const sendsSecrets = creds?.refreshToken !== undefined || (creds?.username !== undefined && creds.password !== undefined);
    if (sendsSecrets && !credentialsAllowedAt(realmUrl, this.registryUrl)) {
      throw new AuthError(
        `Registry ${this.options.registry} wants the credentials sent to the token server ${realmUrl.origin} over plain http: refused, credentials go to a token server only over https (plain http only on the registry's own host when it is loopback or marked insecure); make the registry's token realm https.`,
      );
    }
    const started = this.now();
    const body = await withRetry(
      async () => {
        if (creds?.refreshToken !== undefined) return this.postRefreshToken(realmUrl, service, allScopes, creds.refreshToken);
        return this.getToken(realmUrl, service, allScopes, creds);
      },
      { retries: this.options.retries ?? 4, baseDelayMs: this.options.retryBaseMs ?? 500, signal: this.options.signal, isRetryable: isTransientError },
    );
    const token = body.token ?? body.access_token;
    if (!token) throw new AuthError(`The token server of ${this.options.registry} answered without a token: the registry's authentication is misconfigured.`);
    const lifetime = typeof body.expires_in === 'number' && body.expires_in > 0 ? body.expires_in : 60;
    const margin = Math.min(30, lifetime * 0.2) * 1000;
    this.tokensFetched++;
    this.options.logger?.debug(`Got a registry token for ${allScopes.join(' ') || '(no scope)'} valid ${lifetime} s`);
    return { token, expiresAt: started + lifetime * 1000 - margin };
  }

  private realmOf(c: Challenge): URL {
    const realm = c.params['realm'];
    if (!realm)
      throw new AuthError(
        `Registry ${this.options.registry} asked for a Bearer token without naming a token server (realm): it is not a registry this task can sign in to.`,
      );
    try {
      return new URL(realm);
    } catch {
      throw new AuthError(`Registry ${this.options.registry} named an invalid token server '${realm}'.`);
    }
  }

  private async getToken(realm: URL, service: string, scopes: string[], creds?: RegistryCredentials): Promise<TokenBody> {
    const url = new URL(realm.toString());
    if (service) url.searchParams.set('service', service);
    for (const s of scopes) url.searchParams.append('scope', s);
    url.searchParams.set('client_id', 'model-to-aks-tasks');
    const headers: Record<string, string> = { Accept: 'application/json' };
    if (creds?.username !== undefined && creds.password !== undefined) {
      headers['Authorization'] = `Basic ${Buffer.from(`${creds.username}:${creds.password}`).toString('base64')}`;
      url.searchParams.set('account', creds.username);
    }
    const res = await send({ method: 'GET', url, headers, signal: this.options.signal });
    return this.tokenBody(res.status, await readText(res, 1 << 20), realm);
  }

  private async postRefreshToken(
    realm: URL,
    service: string,
    scopes: string[],
    refresh: string | ((ctx: RefreshTokenContext) => Promise<string>),
  ): Promise<TokenBody> {
    for (let attempt = 0; ; attempt++) {
      const refreshToken =
        typeof refresh === 'string'
          ? refresh
          : await refresh({ realm: realm.toString(), registryUrl: this.registryUrl.origin, service, forceRenew: attempt > 0 });
      const form = new URLSearchParams({
        grant_type: 'refresh_token',
        service,
        scope: scopes.join(' '),
        refresh_token: refreshToken,
        client_id: 'model-to-aks-tasks',
      });
      const res = await send({
        method: 'POST',
        url: realm,
        headers: { 'Content-Type': 'application/x-www-form-urlencoded', Accept: 'application/json' },
        body: form.toString(),
        signal: this.options.signal,
      });
      if ((res.status === 401 || res.status === 400) && typeof refresh === 'function' && attempt === 0) {
        await drain(res);
        continue;
      }
      return this.tokenBody(res.status, await readText(res, 1 << 20), realm);
    }
  }

  private tokenBody(status: number, text: string, realm: URL): TokenBody {
    if (status === 200) {
      try {
        return JSON.parse(text) as TokenBody;
      } catch {
        throw new AuthError(`The token server ${realm.host} of registry ${this.options.registry} answered with something that is not JSON.`);
      }
    }
    const entry = parseErrorBody(text)?.[0];
    const said = entry ? ` (${entry.code ?? ''}: ${(entry.message ?? '').slice(0, 200)})` : '';
    if (status === 401 || status === 403 || status === 400) {
      throw new AuthError(
        `Registry ${this.options.registry} refused to sign in with the given credentials (token server answered ${status}${said}): check the service connection's user name and password or token, and that the identity has access to the registry.`,
        { input: this.options.input },
      );
    }
    throw new AuthError(`The token server of registry ${this.options.registry} answered HTTP ${status}${said}.`, { statusCode: status });
  }
}

interface TokenBody {
  token?: string;
  access_token?: string;
  expires_in?: number;
  refresh_token?: string;
}

function scopeKey(scopes: string[]): string {
  return [...scopes].sort().join(' ');
}

/**
 * Whether credentials (Basic, a refresh token) may be sent to the token server
 * `realm` of the registry at `registryUrl`: any https realm (Docker Hub's is on
 * another host); a plain-http one only when the registry itself is plain http
 * (loopback or marked insecure) and the realm is on a loopback host or the
 * registry's own host. Never over plain http to any other host.
 */
export function credentialsAllowedAt(realm: URL, registryUrl: URL): boolean {
  if (realm.protocol === 'https:') return true;
  if (realm.protocol !== 'http:' || registryUrl.protocol !== 'http:') return false;
  return isLoopbackHost(realm.hostname) || realm.hostname.toLowerCase() === registryUrl.hostname.toLowerCase();
}

export function repositoryScope(repository: string, actions: string): string {
  return `repository:${repository}:${actions}`;
}
