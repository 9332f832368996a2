/**
 * Registry access from the agent: the one mapping of a Docker registry
 * service connection (or an Azure Resource Manager connection for an ACR) to a
 * registry host and the credentials the registry client uses, and the
 * per-run registry clients DeployToAKS reads images with. It sits beside
 * shared/adapter.ts: it reads connections only through the adapter.
 *
 * The three tasks used to map connections each their own way; kept here (and
 * documented in docs/architecture.md) is the union of the correct behaviours:
 * - the registry host is normalised (scheme and trailing slash dropped, Docker
 *   Hub aliases to registry-1.docker.io, lower case) and validated, so a Docker
 *   Hub connection matches a Docker Hub image and a malformed URL fails early;
 * - Basic credentials only when the connection has a user name (an empty one
 *   means anonymous; a missing password is sent as empty);
 * - ACR connections with a service principal use it as Basic credentials,
 *   those with workload identity federation or managed identity exchange an
 *   Entra token for an ACR refresh token;
 * - credentials go only to the registry the connection names, never to
 *   another host an image happens to live on.
 * Plain http for loopback (or `insecure`) registries and the agent's proxy
 * are the registry client's (shared/oci/registry/client.ts, http.ts);
 * {@link useAgentProxy} points the latter at the agent's proxy.
 */
import type { TokenCredential } from '@azure/identity';
import * as adapter from '../adapter';
import { acrCredentials } from '../azure/acr';
import { azureCredentialFor } from '../azure/credential';
import type { AzureRmEndpoint, DockerRegistryEndpoint } from '../connections';
import { parseRegistryHost } from '../inputs/parse';
import type { Logger } from '../log';
import { normaliseRegistry, parseReference, type ImageReference } from '../oci/reference';
import type { RegistryCredentials } from '../oci/registry/auth';
import { RegistryClient } from '../oci/registry/client';
import { configureProxy } from '../oci/registry/http';
import { readImageAnnotations, resolveImageDigest } from '../oci/registry/image-info';

/** A registry and how to sign in to it. */
export interface RegistryAccess {
  /** Normalised host[:port], e.g. contoso.azurecr.io, 127.0.0.1:5000, registry-1.docker.io. */
  registry: string;
  credentials?: RegistryCredentials;
  /** The task input whose connection gave the credentials (named in sign-in errors). */
  input: string;
}

export interface AccessOptions {
  logger?: Logger;
  /** Entra credential of an Azure connection record (tests pass a fake). */
  azureCredential?: (endpoint: AzureRmEndpoint) => TokenCredential;
}

/** Registry requests (pulls, pushes, image reads, ACR exchanges) go through the agent's proxy when it has one. */
export function useAgentProxy(): void {
  configureProxy(adapter.agentProxy());
}

/** The registry and credentials of a Docker registry connection record (pure: no agent). */
export function registryAccessOf(endpoint: DockerRegistryEndpoint, input: string, options: AccessOptions = {}): RegistryAccess {
  const registry = parseRegistryHost(endpoint.registry, input);
  if (endpoint.azure) {
    const credential = (options.azureCredential ?? azureCredentialFor)(endpoint.azure);
    return { registry, input, credentials: acrCredentials({ registry, credential, tenantId: endpoint.azure.tenantId, input, logger: options.logger }) };
  }
  const credentials = endpoint.username ? { username: endpoint.username, password: endpoint.password ?? '' } : undefined;
  return { registry, input, credentials };
}

/** An ACR login server signed in to with an Azure Resource Manager connection's identity (pure: no agent). */
export function acrAccessOf(registry: string, endpoint: AzureRmEndpoint, input: string, options: AccessOptions = {}): RegistryAccess {
  const credential = (options.azureCredential ?? azureCredentialFor)(endpoint);
  return { registry, input, credentials: acrCredentials({ registry, credential, tenantId: endpoint.tenantId, input, logger: options.logger }) };
}

/** The Docker registry connection named by `input` (required). */
export function readRegistryConnection(input: string): RegistryAccess {
  return registryAccessOf(adapter.readDockerRegistryEndpoint(input), input, { logger: adapter.taskLogger });
}

/** The Docker registry connection named by `input`, when the input is set. */
export function readOptionalRegistryConnection(input: string): RegistryAccess | undefined {
  return adapter.getString(input) ? readRegistryConnection(input) : undefined;
}

/** The ACR `registry` signed in to with the Azure Resource Manager connection named by `input`. */
export function readAcrAccess(registry: string, input: string): RegistryAccess {
  return acrAccessOf(registry, adapter.readAzureRmEndpoint(input), input, { logger: adapter.taskLogger });
}

/** The access's credentials when it is for `registry` (credentials never go to another registry). */
export function credentialsFor(access: RegistryAccess | undefined, registry: string): RegistryCredentials | undefined {
  return access && access.registry === normaliseRegistry(registry) ? access.credentials : undefined;
}

/** The access's credentials when `image` (a reference; `oci:` and `scratch` have no registry) is on its registry. */
export function credentialsForImage(access: RegistryAccess | undefined, image: string): RegistryCredentials | undefined {
  if (!access) return undefined;
  let registry: string;
  try {
    registry = parseReference(image).registry;
  } catch {
    return undefined;
  }
  return credentialsFor(access, registry);
}

const ACR_HOST = /\.azurecr\.(io|us|cn)$/i;

export interface ImageReaderOptions {
  /** The imageRegistryConnection's access, when given. */
  connection?: RegistryAccess;
  /** For an ACR image the connection does not cover: the ACR access through an Azure identity (asked once per registry). */
  acrFallback?: (registry: string) => RegistryAccess;
  logger?: Logger;
}

/**
 * Reads images (tag digest, annotations) with one registry client per
 * registry for the whole run, so the ping and token exchange happen once.
 */
export function imageReader(options: ImageReaderOptions): {
  client(ref: ImageReference): RegistryClient;
  resolveDigest(ref: ImageReference): Promise<string>;
  annotations(ref: ImageReference): Promise<Record<string, string>>;
} {
  const clients = new Map<string, RegistryClient>();
  const client = (ref: ImageReference): RegistryClient => {
    const key = normaliseRegistry(ref.registry);
    let c = clients.get(key);
    if (!c) {
      let access = credentialsFor(options.connection, ref.registry) ? options.connection : undefined;
      if (!access && options.acrFallback && ACR_HOST.test(ref.registry)) access = options.acrFallback(ref.registry);
      c = new RegistryClient({
        registry: ref.registry,
        credentials: access?.credentials,
        credentialsInput: access?.input ?? options.connection?.input,
        logger: options.logger,
        retries: 1,
        retryBaseMs: 200,
      });
      clients.set(key, c);
    }
    return c;
  };
  return {
    client,
    resolveDigest: (ref) => resolveImageDigest(client(ref), ref),
    annotations: (ref) => readImageAnnotations(client(ref), ref),
  };
}
