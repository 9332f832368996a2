/**
 * A fake of the Azure Pipelines OIDC token endpoint (the URL the agent gives a
 * job as System.OidcRequestUri, `.../_apis/distributedtask/hubs/<hub>/plans/
 * <plan>/jobs/<job>/oidctoken`), on http://127.0.0.1. As the service does:
 * POST `?api-version=7.1&serviceConnectionId=<id>` with the job's access token
 * as `Authorization: Bearer`, answered with `{"oidcToken": "<JWT>"}`. The JWT
 * is signed RS256 by this fake's own key and carries the claims Azure DevOps
 * puts in a service connection's token: `iss`
 * `https://vstoken.dev.azure.com/<organization id>`, `sub`
 * `sc://<organization>/<project>/<connection name>`, `aud`
 * `api://AzureADTokenExchange`, and `exp` (lifetime configurable). A wrong or
 * missing bearer token gets 401, a connection the fake does not know 400 with
 * an Azure DevOps style JSON error; `unavailable` > 0 answers that many
 * requests 503 first. Every request is recorded; each answer is a new token
 * (its `jti` differs).
 */
import { createSign, generateKeyPairSync, randomUUID, type KeyObject } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export const OIDC_AUDIENCE = 'api://AzureADTokenExchange';

export interface FakePipelineOidcOptions {
  /** The job's access token the endpoint accepts. */
  accessToken: string;
  /** Service connection id -> its name (the last part of `sub`). */
  connections: Record<string, string>;
  organizationId?: string;
  organization?: string;
  project?: string;
  /** Lifetime of each token in seconds (default 600, as Azure DevOps). Negative: already expired. */
  lifetimeSeconds?: number;
}

export interface OidcRequestRecord {
  method: string;
  path: string;
  query: Record<string, string>;
  authorization?: string;
  contentType?: string;
  /** The token answered, if any. */
  token?: string;
}

const b64url = (data: Buffer | string) => Buffer.from(data).toString('base64url');

export class FakePipelineOidc {
  readonly requests: OidcRequestRecord[] = [];
  readonly issuer: string;
  readonly organization: string;
  readonly project: string;
  lifetimeSeconds: number;
  /** How many of the next requests get 503 Service Unavailable. */
  unavailable = 0;
  private constructor(
    private readonly server: http.Server,
    /** The System.OidcRequestUri to give the job. */
    readonly requestUri: string,
    readonly publicKey: KeyObject,
    options: FakePipelineOidcOptions,
  ) {
    this.issuer = `https://vstoken.dev.azure.com/${options.organizationId ?? '6f1c2d4e-0000-4a5b-9c8d-123456789abc'}`;
    this.organization = options.organization ?? 'contoso';
    this.project = options.project ?? 'models';
    this.lifetimeSeconds = options.lifetimeSeconds ?? 600;
  }

  /** The `sub` of a connection's tokens. */
  subjectOf(connectionName: string): string {
    return `sc://${this.organization}/${this.project}/${connectionName}`;
  }

  /** Tokens handed out so far, in order. */
  get tokens(): string[] {
    return this.requests.flatMap((r) => (r.token ? [r.token] : []));
  }

  static async start(options: FakePipelineOidcOptions): Promise<FakePipelineOidc> {
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const ref: { self?: FakePipelineOidc } = {};
    const server = http.createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        const self = ref.self as FakePipelineOidc;
        const url = new URL(req.url ?? '/', 'http://127.0.0.1');
        const record: OidcRequestRecord = {
          method: req.method ?? '',
          path: url.pathname,
          query: Object.fromEntries(url.searchParams),
          authorization: req.headers.authorization,
          contentType: req.headers['content-type'],
        };
        self.requests.push(record);
        const json = (status: number, value: unknown) => {
          const body = JSON.stringify(value);
          res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body) });
          res.end(body);
        };
        const vssError = (status: number, typeKey: string, message: string) =>
          json(status, {
            $id: '1',
            innerException: null,
            message,
            typeName: `Microsoft.VisualStudio.Services.${typeKey}`,
            typeKey,
            errorCode: 0,
            eventId: 3000,
          });
        if (req.method !== 'POST' || !/\/_apis\/distributedtask\/hubs\/[^/]+\/plans\/[^/]+\/jobs\/[^/]+\/oidctoken$/.test(url.pathname)) {
          return vssError(404, 'RouteNotFoundException', `No route for ${req.method} ${url.pathname}.`);
        }
        if (self.unavailable > 0) {
          self.unavailable--;
          return vssError(503, 'ServiceUnavailableException', 'The service is temporarily unavailable.');
        }
        if (req.headers.authorization !== `Bearer ${options.accessToken}`) {
          res.writeHead(401, { 'www-authenticate': 'Bearer', 'content-type': 'text/plain' });
          return res.end('Unauthorized');
        }
        if (!url.searchParams.get('api-version')) return vssError(400, 'VssVersionNotSpecifiedException', 'No api-version was supplied for the POST request.');
        const id = url.searchParams.get('serviceConnectionId') ?? '';
        const name = options.connections[id];
        if (!name) return vssError(400, 'InvalidRequestException', `Service connection ${id} does not exist or is not authorized for use in this pipeline.`);
        const now = Math.floor(Date.now() / 1000);
        const header = b64url(JSON.stringify({ alg: 'RS256', typ: 'JWT', kid: 'fake-pipeline-oidc' }));
        const claims = b64url(
          JSON.stringify({
            jti: randomUUID(),
            sub: self.subjectOf(name),
            aud: OIDC_AUDIENCE,
            iss: self.issuer,
            nbf: now - 5,
            iat: now,
            exp: now + self.lifetimeSeconds,
          }),
        );
        const signature = createSign('RSA-SHA256').update(`${header}.${claims}`).sign(privateKey).toString('base64url');
        record.token = `${header}.${claims}.${signature}`;
        json(200, { oidcToken: record.token });
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as AddressInfo).port;
    const uri = `http://127.0.0.1:${port}/${options.organization ?? 'contoso'}/5e0b4c1a-proj/_apis/distributedtask/hubs/build/plans/4b9c0d1e-plan/jobs/12ab34cd-job/oidctoken`;
    const self = new FakePipelineOidc(server, uri, publicKey, options);
    ref.self = self;
    return self;
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
