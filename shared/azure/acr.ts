/**
 * Azure Container Registry sign-in with Entra ID: an Entra access token for
 * `https://containerregistry.azure.net/.default` is exchanged at
 * `https://<login server>/oauth2/exchange` for an ACR refresh token (about 3 h),
 * which the registry client then trades at the login server's `/oauth2/token`
 * for access tokens per scope. Neither goes to the origin a challenge's realm
 * names.
 * The exchange is done again when the Entra token expires or the token
 * endpoint refuses the refresh token; 429/5xx answers are retried with backoff.
 */
import type { TokenCredential } from '@azure/identity';
import { AuthError, RetryableError, UserError, errorMessage } from '../errors';
import type { Logger } from '../log';
import { silentLogger } from '../log';
import { isTransientError, withRetry } from '../retry';
import type { RefreshTokenContext, RegistryCredentials } from '../oci/registry/auth';
import { readText, send } from '../oci/registry/http';

const ACR_ENTRA_SCOPE = 'https://containerregistry.azure.net/.default';
/** The user name `docker login` uses with an ACR refresh token. */
export const ACR_NULL_USER = '00000000-0000-0000-0000-000000000000';

export interface AcrExchangeOptions {
  /** Login server, e.g. contoso.azurecr.io. */
  registry: string;
  credential: TokenCredential;
  tenantId?: string;
  logger?: Logger;
  /** Task input to name in errors (e.g. azureSubscription). */
  input?: string;
  /** Retries of the exchange on 429/5xx/network errors (default 5). */
  retries?: number;
  retryBaseMs?: number;
  now?: () => number;
}

/** Tenant id (`tid` claim) of a JWT, when it is one. */
function tenantOfJwt(token: string): string | undefined {
  const part = token.split('.')[1];
  if (!part) return undefined;
  try {
    const claims = JSON.parse(Buffer.from(part, 'base64url').toString('utf8')) as { tid?: unknown };
    return typeof claims.tid === 'string' ? claims.tid : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Exchange URL: always the login server's own `/oauth2/exchange`, never the
 * origin a challenge's realm names (the Entra token is valid for every
 * registry the identity can reach, so it goes to this one only).
 */
export function exchangeUrlFor(registryUrl: string): URL {
  return new URL('/oauth2/exchange', registryUrl);
}

/** A refresh-token provider for {@link RegistryCredentials.refreshToken}, exchanging Entra tokens as needed. */
function acrRefreshTokenProvider(options: AcrExchangeOptions): (ctx: RefreshTokenContext) => Promise<string> {
  const logger = options.logger ?? silentLogger;
  const now = options.now ?? Date.now;
  let cached: { refreshToken: string; validUntil: number } | undefined;
  let pending: Promise<string> | undefined;

  const exchange = async (ctx: RefreshTokenContext): Promise<string> => {
    let entra;
    try {
      entra = await options.credential.getToken(ACR_ENTRA_SCOPE);
    } catch (err) {
      throw new AuthError(
        `Could not get an Entra ID token for registry ${options.registry} from the Azure service connection: ${errorMessage(err).split('\n')[0]}; check the service connection (and for managed identity, that the agent runs on Azure with an identity).`,
        {
          input: options.input,
          cause: err,
        },
      );
    }
    if (!entra?.token)
      throw new AuthError(`The Azure service connection returned no Entra ID token for registry ${options.registry}: check the service connection.`, {
        input: options.input,
      });
    const tenant = options.tenantId ?? tenantOfJwt(entra.token);
    const url = exchangeUrlFor(ctx.registryUrl);
    const form = new URLSearchParams({ grant_type: 'access_token', service: ctx.service || options.registry, access_token: entra.token });
    if (tenant) form.set('tenant', tenant);
    const body = await withRetry(
      async () => {
        const res = await send({
          method: 'POST',
          url,
          headers: { 'Content-Type': 'application/x-www-form-urlencoded', Accept: 'application/json' },
          body: form.toString(),
        });
        const text = await readText(res, 1 << 20);
        if (res.status === 200) return JSON.parse(text) as { refresh_token?: string };
        if (res.status === 429 || res.status >= 500) throw new RetryableError(`ACR token exchange answered HTTP ${res.status}`, { statusCode: res.status });
        throw new AuthError(
          `Registry ${options.registry} refused the Entra ID token (HTTP ${res.status} from ${url.pathname}): give the service connection's identity the AcrPush role on the registry, and check the login server name.`,
          { input: options.input },
        );
      },
      {
        retries: options.retries ?? 5,
        baseDelayMs: options.retryBaseMs ?? 1000,
        isRetryable: isTransientError,
        onRetry: (err, attempt, delay) => logger.info(`ACR token exchange: ${errorMessage(err)}; retry ${attempt} in ${(delay / 1000).toFixed(1)} s`),
      },
    ).catch((err: unknown) => {
      if (err instanceof UserError) throw err;
      throw new AuthError(
        `Could not exchange the Entra ID token at ${url.origin} for registry ${options.registry}: ${errorMessage(err)}; check the login server name and the agent's network.`,
        { cause: err },
      );
    });
    if (!body.refresh_token)
      throw new AuthError(`Registry ${options.registry} answered the token exchange without a refresh token: it does not look like Azure Container Registry.`, {
        input: options.input,
      });
    // Exchange again a little before the Entra token expires (federated tokens live ~10 minutes).
    const entraExpiry = entra.expiresOnTimestamp || now() + 10 * 60_000;
    cached = { refreshToken: body.refresh_token, validUntil: Math.min(entraExpiry - 60_000, now() + 3 * 3600_000 - 300_000) };
    logger.debug(`Exchanged an Entra ID token for an ACR refresh token for ${options.registry}`);
    return body.refresh_token;
  };

  return async (ctx) => {
    if (!ctx.forceRenew && cached && now() < cached.validUntil) return cached.refreshToken;
    if (!pending) pending = exchange(ctx).finally(() => (pending = undefined));
    return pending;
  };
}

/** Registry credentials signing in with an Entra ID credential. */
export function acrCredentials(options: AcrExchangeOptions): RegistryCredentials {
  return { username: ACR_NULL_USER, refreshToken: acrRefreshTokenProvider(options), tokenAtRegistry: true };
}
