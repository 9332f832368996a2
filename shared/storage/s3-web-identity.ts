/**
 * AWS credentials from a web identity (OIDC) token: each time the S3 client
 * needs credentials (at first and again when they are about to expire), a
 * fresh token is asked for and exchanged with STS AssumeRoleWithWebIdentity
 * for the role, through the AWS SDK's own web identity provider. The token
 * and the credentials are handed to `onSecret` before anything could print
 * them. STS refusals become one line that says what to configure, naming the
 * token's issuer, subject and audience (not secret), never the token.
 */
import { fromWebToken } from '@aws-sdk/credential-providers';
import { tokenClaims } from '../azure/pipelines-oidc';
import { AuthError, RetryableError, UserError } from '../errors';
import { httpStatusOf } from '../retry';

/** Temporary credentials as the SDK's web identity provider returns them (with their expiration). */
export type WebIdentityCredentials = Awaited<ReturnType<ReturnType<typeof fromWebToken>>>;

export interface WebIdentityOptions {
  roleArn: string;
  roleSessionName?: string;
  /** A new web identity (OIDC) token, asked for each time credentials are needed. */
  token: () => Promise<string>;
  /** How messages name where the token comes from, e.g. "S3 service connection 'prod'". */
  label: string;
  /** The option failures are about (e.g. s3Connection). */
  input?: string;
  /** Requested lifetime of the credentials (STS default 3600 s). */
  durationSeconds?: number;
}

/** STS client settings the provider passes on (region, HTTP handler). */
export interface StsClientSettings {
  region: string;
  requestHandler?: unknown;
}

const errorName = (err: unknown): string =>
  typeof err === 'object' && err !== null ? String((err as { name?: unknown; Code?: unknown }).name ?? (err as { Code?: unknown }).Code ?? '') : '';

/** One line for an STS refusal of the token, saying what to configure. */
export function explainWebIdentityError(err: unknown, token: string, options: WebIdentityOptions): unknown {
  if (err instanceof UserError) return err;
  const name = errorName(err);
  const status = httpStatusOf(err);
  const claims = tokenClaims(token);
  const issuerHost = (claims.iss ?? '').replace(/^https:\/\//, '');
  const aud = Array.isArray(claims.aud) ? claims.aud.join(', ') : (claims.aud ?? '');
  const said = (err instanceof Error ? err.message : '').replace(/\s+/g, ' ').trim();
  const opts = { input: options.input, cause: err, statusCode: status, remoteCode: name || undefined };
  // The SDK names modelled STS errors by their class (InvalidIdentityTokenException), others by their code (AccessDenied).
  switch (name.replace(/Exception$/, '')) {
    case 'AccessDenied':
    case 'IDPRejectedClaim':
      return new AuthError(
        `AWS refused to let ${options.label} assume role '${options.roleArn}' with its OIDC token (${name}): the role's trust policy must allow sts:AssumeRoleWithWebIdentity for the federated principal ${issuerHost} with ${issuerHost}:sub = ${claims.sub ?? '?'} and ${issuerHost}:aud = ${aud} (docs/setup.md).`,
        opts,
      );
    case 'InvalidIdentityToken':
      if (/no openid ?connect provider/i.test(said)) {
        return new AuthError(
          `AWS has no IAM OIDC identity provider for ${claims.iss ?? 'the token issuer'} (${name}): add one in IAM with that provider URL and the audience ${aud}, then trust it in role '${options.roleArn}' (docs/setup.md).`,
          opts,
        );
      }
      return new AuthError(
        `AWS did not accept the OIDC token of ${options.label} (${name}: ${said}): the IAM OIDC identity provider for ${claims.iss ?? 'the issuer'} must list the audience ${aud} (docs/setup.md).`,
        opts,
      );
    case 'ExpiredToken':
      return new AuthError(
        `AWS found the OIDC token of ${options.label} expired (${name}) although it was just issued: check the agent's clock, then re-run the job.`,
        opts,
      );
    case 'IDPCommunicationError':
      return new RetryableError(`STS could not reach the OIDC identity provider (${name}).`, { cause: err, statusCode: status });
    case 'MalformedPolicyDocument':
    case 'PackedPolicyTooLarge':
    case 'RegionDisabled':
    case 'ValidationError':
      return new AuthError(
        `Assuming role '${options.roleArn}' with the OIDC token of ${options.label} failed (${name}: ${said}): check the role ARN and role session name in the service connection.`,
        opts,
      );
    default:
      return err;
  }
}

/**
 * A credential provider the S3 client calls when it has no valid credentials:
 * a fresh token, exchanged with STS; `onSecret` gets the token and the
 * credentials. The SDK keeps the credentials until shortly before they expire.
 */
export function webIdentityCredentials(
  options: WebIdentityOptions,
  sts: StsClientSettings,
  onSecret: (value: string) => void = () => {},
): () => Promise<WebIdentityCredentials> {
  return async () => {
    const token = await options.token();
    onSecret(token);
    try {
      const credentials = await fromWebToken({
        roleArn: options.roleArn,
        roleSessionName: options.roleSessionName || `model-to-aks-${Date.now()}`,
        webIdentityToken: token,
        durationSeconds: options.durationSeconds,
        clientConfig: { region: sts.region, requestHandler: sts.requestHandler },
      })();
      onSecret(credentials.secretAccessKey);
      if (credentials.sessionToken) onSecret(credentials.sessionToken);
      return credentials;
    } catch (err) {
      throw explainWebIdentityError(err, token, options);
    }
  };
}
