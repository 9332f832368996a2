/**
 * Plain records of the credentials a service connection (or the environment)
 * provides. The task adapter fills them from task-lib; library code and scripts
 * take them as options.
 */

export type AzureRmScheme = 'ServicePrincipal' | 'WorkloadIdentityFederation' | 'ManagedServiceIdentity';

export interface AzureRmEndpoint {
  id: string;
  scheme: AzureRmScheme;
  tenantId?: string;
  clientId?: string;
  clientSecret?: string;
  certificatePem?: string;
  subscriptionId?: string;
  /** Cloud name, e.g. AzureCloud, AzureUSGovernment, AzureChinaCloud. */
  environment?: string;
  authorityHost?: string;
  /** The connection's URL: its cloud's Azure Resource Manager endpoint (as Microsoft's Azure tasks use it). */
  resourceManagerUrl?: string;
  /** Job access token, used to request OIDC tokens for workload identity federation. */
  systemAccessToken?: string;
}

export interface S3Endpoint {
  id: string;
  accessKeyId?: string;
  secretAccessKey?: string;
  sessionToken?: string;
  region?: string;
  endpoint?: string;
  forcePathStyle?: boolean;
  roleArn?: string;
  roleSessionName?: string;
  externalId?: string;
  /** Sign in with the job's OIDC token for this connection (AssumeRoleWithWebIdentity on roleArn) instead of keys. */
  useOidc?: boolean;
  /** The job's OIDC endpoint (System.OidcRequestUri), for useOidc. */
  oidcRequestUri?: string;
  /** The job's access token, to ask the OIDC endpoint (useOidc). */
  systemAccessToken?: string;
}

export interface DockerRegistryEndpoint {
  id: string;
  registryType: 'ACR' | 'Others';
  /** Host (and port) of the registry, e.g. contoso.azurecr.io. */
  registry: string;
  username?: string;
  password?: string;
  /** For ACR connections that sign in with Entra ID (workload identity federation, managed identity). */
  azure?: AzureRmEndpoint;
}

export interface KubernetesEndpoint {
  id: string;
  authorizationType: 'Kubeconfig' | 'ServiceAccount' | 'AzureSubscription';
  kubeconfig?: string;
  clusterContext?: string;
  serverUrl?: string;
  /** PEM of the API server CA (ServiceAccount). */
  certificate?: string;
  token?: string;
  acceptUntrustedCerts?: boolean;
  /** The connection's namespace (data parameter `namespace`; an Environment's Kubernetes resource sets it). */
  namespace?: string;
}
