/**
 * A fake Entra ID authority on https://127.0.0.1 (certificate from
 * testCertificates(): a task trusts it through NODE_EXTRA_CA_CERTS), to give
 * an Azure service connection as its `activeDirectoryAuthority`. It serves the
 * tenant's OpenID configuration and records every request; the token endpoint
 * refuses with an Entra-style `invalid_client` error (AADSTS7000215), so a
 * test sees exactly what the client sent to sign in (client id, secret or
 * client assertion, scope) and the task's failure line. It also serves an
 * Azure Pipelines OIDC endpoint (`<url>/oidc`, POST with the job's access
 * token) that hands out {@link FakeEntra.oidcToken}, for workload identity
 * federation.
 */
import { createServer, type Server } from 'node:https';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { testCertificates } from './fake-apiserver';

export interface EntraRequest {
  method: string;
  path: string;
  headers: Record<string, string | string[] | undefined>;
  /** The form fields of a POST body (token requests). */
  form: Record<string, string>;
}

export const ENTRA_REFUSAL = 'AADSTS7000215: Invalid client secret provided (fake authority).';

export class FakeEntra {
  readonly requests: EntraRequest[] = [];
  /** The federated token the OIDC endpoint hands out. */
  readonly oidcToken = 'fake-oidc-federated-token-5d1c';
  private constructor(
    private readonly server: Server,
    /** https://127.0.0.1:<port> */
    readonly url: string,
    /** A PEM file holding the CA that signed the server certificate (for NODE_EXTRA_CA_CERTS). */
    readonly caFile: string,
    private readonly dir: string,
  ) {}

  static async start(): Promise<FakeEntra> {
    const { ca, cert, key } = testCertificates();
    const dir = mkdtempSync(join(tmpdir(), 'fake-entra-'));
    const caFile = join(dir, 'ca.pem');
    writeFileSync(caFile, ca);
    const ref: { self?: FakeEntra } = {};
    const server = createServer({ cert, key }, (req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const url = new URL(req.url ?? '/', 'https://127.0.0.1');
        const body = Buffer.concat(chunks).toString('utf8');
        const form = Object.fromEntries(new URLSearchParams(req.method === 'POST' ? body : ''));
        (ref.self as FakeEntra).requests.push({ method: req.method ?? '', path: url.pathname + url.search, headers: req.headers, form });
        const base = (ref.self as FakeEntra).url;
        const json = (status: number, value: unknown) => {
          res.writeHead(status, { 'content-type': 'application/json' });
          res.end(JSON.stringify(value));
        };
        const config = /^\/([^/]+)\/v2\.0\/\.well-known\/openid-configuration$/.exec(url.pathname);
        if (req.method === 'GET' && config) {
          const tenant = config[1] as string;
          return json(200, {
            issuer: `${base}/${tenant}/v2.0`,
            authorization_endpoint: `${base}/${tenant}/oauth2/v2.0/authorize`,
            token_endpoint: `${base}/${tenant}/oauth2/v2.0/token`,
            end_session_endpoint: `${base}/${tenant}/oauth2/v2.0/logout`,
            jwks_uri: `${base}/${tenant}/discovery/v2.0/keys`,
            response_types_supported: ['code', 'id_token', 'token'],
          });
        }
        if (req.method === 'POST' && /^\/[^/]+\/oauth2\/v2\.0\/token$/.test(url.pathname)) {
          return json(401, {
            error: 'invalid_client',
            error_description: ENTRA_REFUSAL,
            error_codes: [7000215],
            timestamp: new Date().toISOString(),
            trace_id: 'fake',
            correlation_id: 'fake',
          });
        }
        if (req.method === 'POST' && url.pathname === '/oidc') {
          return json(200, { oidcToken: (ref.self as FakeEntra).oidcToken });
        }
        json(404, { error: 'not_found', error_description: `the fake authority has no ${req.method} ${url.pathname}` });
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    ref.self = new FakeEntra(server, `https://127.0.0.1:${(server.address() as AddressInfo).port}`, caFile, dir);
    return ref.self;
  }

  /** The token requests (POST .../oauth2/v2.0/token) recorded so far. */
  tokenRequests(): EntraRequest[] {
    return this.requests.filter((r) => r.method === 'POST' && /\/oauth2\/v2\.0\/token$/.test(r.path.split('?')[0] as string));
  }

  reset(): void {
    this.requests.length = 0;
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
    rmSync(this.dir, { recursive: true, force: true });
  }
}
