/**
 * A test token server for distribution 2.8 token auth, and an ACR look-alike.
 *
 * - GET  /oauth2/token?service&scope   Basic credentials -> {token, access_token, expires_in}
 * - POST /oauth2/token   grant_type=refresh_token (ACR refresh tokens) -> {access_token}
 * - POST /oauth2/exchange grant_type=access_token&service&tenant&access_token (an Entra token
 *   validated by the test's callback) -> {refresh_token}
 *
 * Tokens are ES256 JWTs with an x5c header whose certificate is the registry's
 * rootcertbundle, `aud` a string, signatures raw r||s, and `access` claims.
 */
import { execFileSync } from 'node:child_process';
import { createPrivateKey, randomBytes, sign, X509Certificate, type KeyObject } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface AccessEntry {
  type: string;
  name: string;
  actions: string[];
}

export interface TokenServerOptions {
  service: string;
  /** Basic-auth users: name -> password. */
  users?: Record<string, string>;
  /** Actions an identity may do on a repository (default: everything asked). */
  policy?: (identity: string, repository: string, asked: string[]) => string[];
  /** Lifetime of access tokens in seconds (default 300). */
  tokenLifetimeSec?: number;
  /**
   * Distribution accepts tokens up to 60 s past `exp`; with this set, `exp` is
   * moved back by 60 s so the registry really refuses a token after its lifetime.
   */
  compensateRegistryLeeway?: boolean;
  /** `expires_in` told to clients (default: the real lifetime); larger values simulate revoked tokens. */
  advertisedLifetimeSec?: number;
  /** Validates a fake Entra token given to /oauth2/exchange; returns the identity or undefined. */
  validateEntraToken?: (token: string, tenant: string | undefined) => string | undefined;
  /** Identities limited to pull (declarative policy, usable across processes). */
  readOnly?: string[];
  /** Entra tokens starting with this prefix are accepted (declarative validator). */
  entraTokenPrefix?: string;
  /** Anonymous GETs get a token with no access (like Docker Hub) when true; 401 otherwise. */
  allowAnonymous?: boolean;
}

export interface TokenServerStats {
  tokensIssued: number;
  basicTokens: number;
  refreshTokens: number;
  exchanges: number;
  rejected: number;
  lastScopes: string[];
}

export interface TokenServer {
  url: string;
  realm: string;
  service: string;
  issuer: string;
  rootCertBundlePath: string;
  stats: TokenServerStats;
  options: TokenServerOptions;
  /** Answer the next `n` exchange requests with `status` (e.g. 429, 503). */
  failExchanges(n: number, status: number): void;
  stop(): Promise<void>;
}

function b64url(data: Buffer | string): string {
  return Buffer.from(data).toString('base64url');
}

export function makeJwt(key: KeyObject, certDer: Buffer, claims: Record<string, unknown>): string {
  const head = b64url(JSON.stringify({ typ: 'JWT', alg: 'ES256', x5c: [certDer.toString('base64')] }));
  const body = b64url(JSON.stringify(claims));
  const sig = sign('sha256', Buffer.from(`${head}.${body}`), { key, dsaEncoding: 'ieee-p1363' });
  return `${head}.${body}.${b64url(sig)}`;
}

function parseScope(scope: string): AccessEntry | undefined {
  const first = scope.indexOf(':');
  const last = scope.lastIndexOf(':');
  if (first < 0 || last <= first) return undefined;
  return {
    type: scope.slice(0, first),
    name: scope.slice(first + 1, last),
    actions: scope
      .slice(last + 1)
      .split(',')
      .filter(Boolean),
  };
}

async function readBody(req: http.IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

export async function startTokenServer(options: TokenServerOptions): Promise<TokenServer> {
  const dir = mkdtempSync(join(tmpdir(), 'token-server-'));
  const keyPath = join(dir, 'key.pem');
  const certPath = join(dir, 'cert.pem');
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-keyout',
      keyPath,
      '-out',
      certPath,
      '-days',
      '2',
      '-subj',
      '/CN=test-token-issuer',
    ],
    {
      stdio: 'ignore',
    },
  );
  const key = createPrivateKey(readFileSync(keyPath));
  const certDer = Buffer.from(new X509Certificate(readFileSync(certPath)).raw);
  const issuer = 'test-token-issuer';
  const stats: TokenServerStats = { tokensIssued: 0, basicTokens: 0, refreshTokens: 0, exchanges: 0, rejected: 0, lastScopes: [] };
  const refreshTokens = new Map<string, string>(); // refresh token -> identity
  let exchangeFaults = { n: 0, status: 503 };

  const issue = (identity: string, scopes: string[]) => {
    const now = Math.floor(Date.now() / 1000);
    const lifetime = options.tokenLifetimeSec ?? 300;
    const access: AccessEntry[] = [];
    for (const s of scopes) {
      const e = parseScope(s);
      if (!e || e.type !== 'repository') continue;
      const allowed =
        identity === '' ? [] : options.policy ? options.policy(identity, e.name, e.actions) : options.readOnly?.includes(identity) ? ['pull'] : e.actions;
      const granted = e.actions.filter((a) => allowed.includes(a));
      if (granted.length) access.push({ type: e.type, name: e.name, actions: granted });
    }
    stats.tokensIssued++;
    stats.lastScopes = scopes;
    const exp = now + lifetime - (options.compensateRegistryLeeway ? 60 : 0);
    const token = makeJwt(key, certDer, {
      iss: issuer,
      sub: identity,
      aud: options.service,
      exp,
      nbf: now - 120,
      iat: now,
      jti: randomBytes(8).toString('hex'),
      access,
    });
    return { token, access_token: token, expires_in: options.advertisedLifetimeSec ?? lifetime, issued_at: new Date(now * 1000).toISOString() };
  };

  const json = (res: http.ServerResponse, status: number, body: unknown) => {
    const text = JSON.stringify(body);
    res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
    res.end(text);
  };
  const deny = (res: http.ServerResponse, status: number, message: string) => {
    stats.rejected++;
    json(res, status, { errors: [{ code: 'UNAUTHORIZED', message }] });
  };

  const server = http.createServer((req, res) => {
    void (async () => {
      const url = new URL(req.url ?? '/', 'http://x');
      if (url.pathname === '/oauth2/token' && req.method === 'GET') {
        const scopes = url.searchParams
          .getAll('scope')
          .flatMap((s) => s.split(' '))
          .filter(Boolean);
        const auth = req.headers.authorization;
        if (!auth) {
          if (!options.allowAnonymous) return deny(res, 401, 'authentication required');
          return json(res, 200, issue('', scopes));
        }
        const m = /^Basic (.+)$/i.exec(auth);
        const [user, ...rest] = m
          ? Buffer.from(m[1] as string, 'base64')
              .toString('utf8')
              .split(':')
          : [];
        const pass = rest.join(':');
        if (!user || options.users?.[user] === undefined || options.users[user] !== pass) return deny(res, 401, 'invalid username or password');
        stats.basicTokens++;
        return json(res, 200, issue(user, scopes));
      }
      if (url.pathname === '/oauth2/token' && req.method === 'POST') {
        const form = new URLSearchParams(await readBody(req));
        if (form.get('grant_type') !== 'refresh_token') return deny(res, 400, 'unsupported grant_type');
        const identity = refreshTokens.get(form.get('refresh_token') ?? '');
        if (!identity) return deny(res, 401, 'invalid refresh token');
        if (form.get('service') !== options.service) return deny(res, 400, 'wrong service');
        stats.refreshTokens++;
        const scopes = (form.get('scope') ?? '').split(' ').filter(Boolean);
        const t = issue(identity, scopes);
        return json(res, 200, { access_token: t.access_token, expires_in: t.expires_in });
      }
      if (url.pathname === '/oauth2/exchange' && req.method === 'POST') {
        const form = new URLSearchParams(await readBody(req));
        if (exchangeFaults.n > 0) {
          exchangeFaults = { ...exchangeFaults, n: exchangeFaults.n - 1 };
          return json(res, exchangeFaults.status, { errors: [{ code: 'TOOMANYREQUESTS', message: 'slow down' }] });
        }
        if (form.get('grant_type') !== 'access_token') return deny(res, 400, 'grant_type must be access_token');
        if (form.get('service') !== options.service) return deny(res, 400, `unknown service ${form.get('service')}`);
        const entra = form.get('access_token') ?? '';
        const identity = options.validateEntraToken
          ? options.validateEntraToken(entra, form.get('tenant') ?? undefined)
          : options.entraTokenPrefix && entra.startsWith(options.entraTokenPrefix)
            ? 'entra-identity'
            : undefined;
        if (!identity) return deny(res, 401, 'the Entra token was not accepted');
        stats.exchanges++;
        const refresh = `acr-refresh-${randomBytes(12).toString('hex')}`;
        refreshTokens.set(refresh, identity);
        return json(res, 200, { refresh_token: refresh });
      }
      json(res, 404, { errors: [{ code: 'NOT_FOUND', message: url.pathname }] });
    })().catch((err: unknown) => {
      if (!res.headersSent) json(res, 500, { errors: [{ code: 'INTERNAL', message: String(err) }] });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  const url = `http://127.0.0.1:${port}`;
  return {
    url,
    realm: `${url}/oauth2/token`,
    service: options.service,
    issuer,
    rootCertBundlePath: certPath,
    stats,
    options,
    failExchanges: (n, status) => {
      exchangeFaults = { n, status };
    },
    stop: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface TokenServerProcess {
  url: string;
  realm: string;
  service: string;
  issuer: string;
  rootCertBundlePath: string;
  pid: number;
  stop(): Promise<void>;
}

/**
 * The same server in a child process, apart from the test process (task
 * tests; it stays usable by a test that blocks its own event loop).
 */
export async function startTokenServerProcess(options: Omit<TokenServerOptions, 'policy' | 'validateEntraToken'>): Promise<TokenServerProcess> {
  const { spawn } = await import('node:child_process');
  const child = spawn(process.execPath, ['--require', 'tsx/cjs', join(__dirname, 'token-server-main.ts'), JSON.stringify(options)], {
    stdio: ['ignore', 'pipe', 'inherit'],
    cwd: join(__dirname, '..', '..'),
  });
  const info = await new Promise<Omit<TokenServerProcess, 'pid' | 'stop'>>((resolve, reject) => {
    let buf = '';
    child.stdout?.on('data', (d: Buffer) => {
      buf += d.toString();
      const nl = buf.indexOf('\n');
      if (nl >= 0) resolve(JSON.parse(buf.slice(0, nl)) as Omit<TokenServerProcess, 'pid' | 'stop'>);
    });
    child.once('exit', (code) => reject(new Error(`token server process exited with ${code}`)));
  });
  const pid = child.pid as number;
  return {
    ...info,
    pid,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        process.kill(pid, 'SIGTERM');
        await exited;
      }
    },
  };
}

/**
 * An ACR-like login server in front of a test registry and token server: as
 * on ACR, `/oauth2/*` (exchange, token) is served on the login server's own
 * origin; everything else goes to the registry (Host kept, so its upload
 * Locations point back here).
 */
export async function startAcrLoginServer(registryHost: string, tokenServerUrl: string): Promise<{ host: string; stop(): Promise<void> }> {
  const token = new URL(tokenServerUrl);
  const server = http.createServer((req, res) => {
    const toTokens = (req.url ?? '').startsWith('/oauth2/');
    const [hostname, port] = toTokens ? [token.hostname, token.port] : (registryHost.split(':') as [string, string]);
    const upstream = http.request({ hostname, port, method: req.method, path: req.url, headers: req.headers }, (up) => {
      res.writeHead(up.statusCode ?? 502, up.headers);
      up.pipe(res);
    });
    upstream.on('error', () => res.destroy());
    req.pipe(upstream);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    host: `127.0.0.1:${(server.address() as AddressInfo).port}`,
    stop: async () => {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
