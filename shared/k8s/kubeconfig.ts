/**
 * Building a KubeConfig from what the user has: a kubeconfig file or string
 * (optionally a context), a ServiceAccount record (server, CA, token), or the
 * kubeconfig ARM returns for an AKS cluster. Entra ID clusters hand out a user
 * that runs `kubelogin`; that user is replaced by bearer tokens for the AKS
 * server application obtained from an Azure TokenCredential and renewed as they
 * expire, so no kubelogin binary is needed and long rollouts keep working.
 */
import { KubeConfig, type User } from '@kubernetes/client-node';
import type { TokenCredential } from '@azure/identity';
import { AuthError, errorMessage, InputError } from '../errors';
import { isRecord } from './types';

/** Application id of the AKS Entra ID server app (fixed for every AKS cluster). */
export const AKS_SERVER_APP_ID = '6dae42f8-4368-4678-94ff-3960e28e3630';

const ENTRA_AUTH_PROVIDER = 'modeltoaks-entra';

/** Load a kubeconfig document; `input` names the task input for errors. */
export function kubeConfigFromString(text: string, options: { context?: string; input: string; source?: string }): KubeConfig {
  const kc = new KubeConfig();
  const where = options.source ? ` (${options.source})` : '';
  try {
    kc.loadFromString(text);
  } catch (err) {
    throw new InputError(
      options.input,
      `The kubeconfig${where} given in '${options.input}' cannot be read: ${parseReason(err)}; check it is a valid kubeconfig YAML file.`,
    );
  }
  if (options.context) {
    if (!kc.getContextObject(options.context)) {
      const known =
        kc
          .getContexts()
          .map((c) => c.name)
          .join(', ') || 'none';
      throw new InputError(options.input, `The kubeconfig${where} has no context '${options.context}' (contexts: ${known}): pick one of those.`);
    }
    kc.setCurrentContext(options.context);
  }
  if (!kc.getCurrentCluster()) {
    throw new InputError(
      options.input,
      `The kubeconfig${where} given in '${options.input}' has no current context with a cluster: set current-context or choose a cluster context.`,
    );
  }
  return kc;
}

/**
 * The parser's reason and position, without any text of the document: a
 * kubeconfig holds credentials, and YAML errors quote alias names, tags and
 * snippets (the first line only, quoted parts and tags blanked).
 */
function parseReason(err: unknown): string {
  const first = errorMessage(err).split('\n')[0] ?? '';
  return first.replace(/"[^"]*"|'[^']*'|!<[^>]*>|!\S+/g, '(…)').slice(0, 200);
}

/** The KubeConfig with its current context's namespace set (a Kubernetes service connection's namespace). */
export function withNamespace(kc: KubeConfig, namespace: string | undefined): KubeConfig {
  if (!namespace) return kc;
  const current = kc.getCurrentContext();
  kc.contexts = kc.contexts.map((c) => (c.name === current ? { ...c, namespace } : c));
  return kc;
}

interface ServiceAccountRecord {
  server: string;
  /** The connection's namespace (the context's). */
  namespace?: string;
  /** PEM of the cluster CA. */
  certificate?: string;
  token: string;
  skipTLSVerify?: boolean;
}

/** A KubeConfig for a ServiceAccount token. */
export function kubeConfigFromServiceAccount(sa: ServiceAccountRecord, input: string): KubeConfig {
  if (!sa.server) throw new InputError(input, `The Kubernetes service connection in '${input}' has no server URL: edit the service connection.`);
  if (!sa.token)
    throw new InputError(
      input,
      `The Kubernetes service connection in '${input}' has no service account token: edit the service connection and paste the secret's token.`,
    );
  const kc = new KubeConfig();
  kc.loadFromClusterAndUser(
    {
      name: 'cluster',
      server: sa.server,
      caData: sa.certificate ? Buffer.from(sa.certificate, 'utf8').toString('base64') : undefined,
      skipTLSVerify: sa.skipTLSVerify ?? false,
    },
    { name: 'serviceaccount', token: sa.token },
  );
  return withNamespace(kc, sa.namespace);
}

interface ExecConfig {
  command?: string;
  args?: string[];
}

/** The Entra ID server app id a kubelogin exec user or legacy azure auth-provider asks tokens for, if the user is one. */
function entraServerIdOf(user: User): string | undefined {
  const exec: unknown = user.exec;
  if (isRecord(exec)) {
    const e = exec as ExecConfig;
    const command = (e.command ?? '').split(/[\\/]/).pop() ?? '';
    if (!/^kubelogin(\.exe)?$/i.test(command)) return undefined;
    const args = Array.isArray(e.args) ? e.args : [];
    const i = args.indexOf('--server-id');
    return i >= 0 && args[i + 1] ? args[i + 1] : AKS_SERVER_APP_ID;
  }
  const ap: unknown = user.authProvider;
  if (isRecord(ap) && ap.name === 'azure') {
    const cfg = isRecord(ap.config) ? ap.config : {};
    return typeof cfg['apiserver-id'] === 'string' ? cfg['apiserver-id'] : AKS_SERVER_APP_ID;
  }
  return undefined;
}

/**
 * Access tokens from a TokenCredential, cached until five minutes before they
 * expire (the credential itself fetches a fresh federated assertion when needed).
 */
export class EntraTokenSource {
  private cached?: { token: string; expiresOnTimestamp: number };
  private pending?: Promise<string>;

  constructor(
    private readonly credential: TokenCredential,
    readonly scope: string,
    private readonly now: () => number = Date.now,
  ) {}

  async getToken(): Promise<string> {
    if (this.cached && this.cached.expiresOnTimestamp - 5 * 60_000 > this.now()) return this.cached.token;
    if (!this.pending) {
      this.pending = (async () => {
        try {
          const t = await this.credential.getToken(this.scope);
          if (!t?.token) throw new Error('the credential returned no token');
          this.cached = { token: t.token, expiresOnTimestamp: t.expiresOnTimestamp };
          return t.token;
        } catch (err) {
          throw new AuthError(
            `Could not get an Entra ID token for the AKS cluster (scope ${this.scope}): ${err instanceof Error ? err.message.split('\n')[0] : String(err)}; check the Azure service connection.`,
            { cause: err },
          );
        } finally {
          this.pending = undefined;
        }
      })();
    }
    return this.pending;
  }
}

class EntraAuthenticator {
  constructor(private readonly sources: Map<string, EntraTokenSource>) {}
  isAuthProvider(user: User): boolean {
    const ap: unknown = user.authProvider;
    return isRecord(ap) && ap.name === ENTRA_AUTH_PROVIDER;
  }
  async applyAuthentication(user: User, opts: { headers?: Record<string, unknown> }): Promise<void> {
    const source = this.sources.get(user.name);
    if (!source) return;
    const token = await source.getToken();
    opts.headers = { ...(opts.headers ?? {}), Authorization: `Bearer ${token}` };
  }
}

/**
 * Replace every kubelogin/azure user of `kc` by bearer tokens from `credential`
 * (scope `<server id>/.default`). Returns how many users were replaced.
 */
export function useEntraTokens(kc: KubeConfig, credential: TokenCredential): number {
  const sources = new Map<string, EntraTokenSource>();
  const users = kc.getUsers().map((u): User => {
    const serverId = entraServerIdOf(u);
    if (!serverId) return u;
    sources.set(u.name, new EntraTokenSource(credential, `${serverId}/.default`));
    return { name: u.name, authProvider: { name: ENTRA_AUTH_PROVIDER, config: { 'server-id': serverId } } };
  });
  if (sources.size === 0) return 0;
  const current = kc.getCurrentContext();
  kc.loadFromOptions({ clusters: kc.getClusters(), users, contexts: kc.getContexts(), currentContext: current });
  kc.addAuthenticator(new EntraAuthenticator(sources));
  return sources.size;
}
