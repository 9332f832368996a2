/**
 * A fake AWS STS on http://127.0.0.1 that answers AssumeRoleWithWebIdentity as
 * the documented Query API does (POST form or GET query, `Action`, `Version
 * 2011-06-15`, `RoleArn`, `RoleSessionName`, `WebIdentityToken`,
 * `DurationSeconds`; XML answers in the 2011-06-15 namespace, errors as
 * `<ErrorResponse><Error><Type/><Code/><Message/></Error>`). The request is
 * unsigned, as the real one is. It checks the token as STS does: the issuer
 * must be a registered OIDC provider (else 400 InvalidIdentityToken "No
 * OpenIDConnect provider found"), the RS256 signature must verify with that
 * provider's key (400 InvalidIdentityToken), the token must not be expired
 * (400 ExpiredTokenException), its audience must be one of the provider's
 * (400 InvalidIdentityToken "Incorrect token audience"), and the role's trust
 * policy must accept its `sub` (403 AccessDenied "Not authorized to perform
 * sts:AssumeRoleWithWebIdentity"). Granted credentials use the configured key
 * pair with a new session token each time; their expiration is
 * DurationSeconds (default 3600) unless `credentialLifetimeSeconds` says
 * otherwise. Every call is recorded.
 */
import { createVerify, randomBytes, randomUUID, type KeyObject } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface FakeStsProvider {
  /** e.g. https://vstoken.dev.azure.com/<organization id> */
  issuer: string;
  audiences: string[];
  publicKey: KeyObject;
}

export interface FakeStsRole {
  arn: string;
  /** The trust policy's condition on `<issuer>:sub`: exact, or with `*` wildcards (StringLike). */
  subject: string;
  issuer: string;
}

export interface FakeStsOptions {
  providers: FakeStsProvider[];
  roles: FakeStsRole[];
  accessKeyId: string;
  secretAccessKey: string;
  /** Overrides DurationSeconds for the granted credentials (to test renewal). */
  credentialLifetimeSeconds?: number;
}

export interface StsCall {
  method: string;
  action?: string;
  roleArn?: string;
  roleSessionName?: string;
  token?: string;
  durationSeconds?: string;
  authorization?: string;
  /** The error code answered, or undefined when credentials were granted. */
  error?: string;
  /** The session token granted. */
  sessionToken?: string;
  expiration?: Date;
}

const NS = 'https://sts.amazonaws.com/doc/2011-06-15/';
const xmlEscape = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

export class FakeSts {
  readonly calls: StsCall[] = [];
  credentialLifetimeSeconds?: number;
  private readonly sessions = new Map<string, Date>();
  private constructor(
    private readonly server: http.Server,
    /** http://127.0.0.1:<port> (for AWS_ENDPOINT_URL_STS) */
    readonly endpoint: string,
    private readonly options: FakeStsOptions,
  ) {
    this.credentialLifetimeSeconds = options.credentialLifetimeSeconds;
  }

  /** Whether a session token was granted here and is not expired: for an S3 front that checks tokens. */
  sessionTokenState(token: string | undefined): 'valid' | 'expired' | 'unknown' {
    const expires = token ? this.sessions.get(token) : undefined;
    if (!expires) return 'unknown';
    return expires.getTime() > Date.now() ? 'valid' : 'expired';
  }

  /** The calls that were granted credentials. */
  get granted(): StsCall[] {
    return this.calls.filter((c) => !c.error);
  }

  static async start(options: FakeStsOptions): Promise<FakeSts> {
    const ref: { self?: FakeSts } = {};
    const server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => (ref.self as FakeSts).handle(req, Buffer.concat(chunks).toString('utf8'), res));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const self = new FakeSts(server, `http://127.0.0.1:${(server.address() as AddressInfo).port}`, options);
    ref.self = self;
    return self;
  }

  private handle(req: http.IncomingMessage, body: string, res: http.ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const params = req.method === 'POST' ? new URLSearchParams(body) : url.searchParams;
    const call: StsCall = {
      method: req.method ?? '',
      action: params.get('Action') ?? undefined,
      roleArn: params.get('RoleArn') ?? undefined,
      roleSessionName: params.get('RoleSessionName') ?? undefined,
      token: params.get('WebIdentityToken') ?? undefined,
      durationSeconds: params.get('DurationSeconds') ?? undefined,
      authorization: req.headers.authorization,
    };
    this.calls.push(call);
    const requestId = randomUUID();
    const fail = (status: number, code: string, message: string, type = 'Sender') => {
      call.error = code;
      const xml = `<ErrorResponse xmlns="${NS}">\n  <Error>\n    <Type>${type}</Type>\n    <Code>${code}</Code>\n    <Message>${xmlEscape(message)}</Message>\n  </Error>\n  <RequestId>${requestId}</RequestId>\n</ErrorResponse>\n`;
      res.writeHead(status, { 'content-type': 'text/xml', 'content-length': Buffer.byteLength(xml), 'x-amzn-requestid': requestId });
      res.end(xml);
    };
    if (req.method !== 'POST' && req.method !== 'GET') return fail(405, 'InvalidAction', 'Only GET and POST are supported.');
    if (call.action !== 'AssumeRoleWithWebIdentity')
      return fail(400, 'InvalidAction', `Could not find operation ${call.action ?? ''} for version ${params.get('Version') ?? ''}`);
    if (params.get('Version') !== '2011-06-15')
      return fail(400, 'InvalidAction', `Could not find operation AssumeRoleWithWebIdentity for version ${params.get('Version') ?? ''}`);
    for (const p of ['RoleArn', 'RoleSessionName', 'WebIdentityToken']) {
      if (!params.get(p))
        return fail(
          400,
          'ValidationError',
          `1 validation error detected: Value null at '${p.charAt(0).toLowerCase()}${p.slice(1)}' failed to satisfy constraint: Member must not be null`,
        );
    }
    if (!/^[\w+=,.@-]{2,64}$/.test(call.roleSessionName ?? '')) {
      return fail(
        400,
        'ValidationError',
        `1 validation error detected: Value '${call.roleSessionName ?? ''}' at 'roleSessionName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]*`,
      );
    }
    const duration = Number(call.durationSeconds ?? 3600);
    if (!Number.isInteger(duration) || duration < 900 || duration > 43200) {
      return fail(
        400,
        'ValidationError',
        `1 validation error detected: Value '${call.durationSeconds ?? ''}' at 'durationSeconds' failed to satisfy constraint: Member must have value between 900 and 43200`,
      );
    }
    const parts = (call.token ?? '').split('.');
    let claims: { iss?: string; sub?: string; aud?: string | string[]; exp?: number };
    try {
      if (parts.length !== 3) throw new Error('not a JWT');
      claims = JSON.parse(Buffer.from(parts[1] as string, 'base64url').toString('utf8')) as typeof claims;
    } catch {
      return fail(400, 'InvalidIdentityToken', 'The web identity token that was passed is not a valid JWT.');
    }
    const provider = this.options.providers.find((p) => p.issuer === claims.iss);
    if (!provider) return fail(400, 'InvalidIdentityToken', `No OpenIDConnect provider found in your account for ${claims.iss ?? ''}`);
    const verified = createVerify('RSA-SHA256')
      .update(`${parts[0]}.${parts[1]}`)
      .verify(provider.publicKey, Buffer.from(parts[2] as string, 'base64url'));
    if (!verified) {
      return fail(
        400,
        'InvalidIdentityToken',
        'The web identity token that was passed could not be validated by AWS. Get a new identity token from the identity provider and then retry the request.',
      );
    }
    const now = Math.floor(Date.now() / 1000);
    if (typeof claims.exp !== 'number' || claims.exp <= now) {
      return fail(400, 'ExpiredTokenException', `Token expired: current date/time ${now} must be before the expiration date/time${claims.exp ?? ''}`);
    }
    const audiences = Array.isArray(claims.aud) ? claims.aud : [claims.aud];
    if (!audiences.some((a) => a !== undefined && provider.audiences.includes(a))) return fail(400, 'InvalidIdentityToken', 'Incorrect token audience');
    const role = this.options.roles.find((r) => r.arn === call.roleArn && r.issuer === claims.iss);
    const like = (pattern: string, value: string) =>
      new RegExp(
        `^${pattern
          .split('*')
          .map((s) => s.replace(/[.+?^${}()|[\]\\]/g, '\\$&'))
          .join('.*')}$`,
      ).test(value);
    if (!role || !like(role.subject, claims.sub ?? '')) return fail(403, 'AccessDenied', 'Not authorized to perform sts:AssumeRoleWithWebIdentity');

    const sessionToken = `FwoGZXIvYXdzE${randomBytes(24).toString('base64url')}`;
    const expiration = new Date(Date.now() + 1000 * (this.credentialLifetimeSeconds ?? duration));
    call.sessionToken = sessionToken;
    call.expiration = expiration;
    this.sessions.set(sessionToken, expiration);
    const accountId = /^arn:aws:iam::(\d+):/.exec(role.arn)?.[1] ?? '000000000000';
    const roleName = role.arn.split('/').pop() ?? 'role';
    const xml = `<AssumeRoleWithWebIdentityResponse xmlns="${NS}">
  <AssumeRoleWithWebIdentityResult>
    <SubjectFromWebIdentityToken>${xmlEscape(claims.sub ?? '')}</SubjectFromWebIdentityToken>
    <Audience>${xmlEscape(audiences[0] ?? '')}</Audience>
    <AssumedRoleUser>
      <Arn>arn:aws:sts::${accountId}:assumed-role/${xmlEscape(roleName)}/${xmlEscape(call.roleSessionName ?? '')}</Arn>
      <AssumedRoleId>AROA${randomBytes(8).toString('hex').toUpperCase()}:${xmlEscape(call.roleSessionName ?? '')}</AssumedRoleId>
    </AssumedRoleUser>
    <Credentials>
      <SessionToken>${sessionToken}</SessionToken>
      <SecretAccessKey>${xmlEscape(this.options.secretAccessKey)}</SecretAccessKey>
      <Expiration>${expiration.toISOString().replace(/\.\d{3}Z$/, 'Z')}</Expiration>
      <AccessKeyId>${xmlEscape(this.options.accessKeyId)}</AccessKeyId>
    </Credentials>
    <Provider>${xmlEscape(claims.iss ?? '')}</Provider>
  </AssumeRoleWithWebIdentityResult>
  <ResponseMetadata>
    <RequestId>${requestId}</RequestId>
  </ResponseMetadata>
</AssumeRoleWithWebIdentityResponse>
`;
    res.writeHead(200, { 'content-type': 'text/xml', 'content-length': Buffer.byteLength(xml), 'x-amzn-requestid': requestId });
    res.end(xml);
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
