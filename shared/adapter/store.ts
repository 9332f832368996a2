/**
 * The model store FetchModel reads, from the agent: an Azure Blob container
 * (Azure Resource Manager connection or connection string) or an S3 bucket
 * (the extension's S3 connection), reached through the agent's proxy, with
 * the task's network timeouts and deadline.
 */
import * as adapter from '../adapter';
import { azureCredentialFor } from '../azure/credential';
import { azureBlobStoreFromConnectionString, azureBlobStoreFromCredential } from '../storage/azure-blob';
import { s3StoreFor } from '../storage/s3';
import type { ModelStore } from '../storage/store';
import type { NetworkLimits } from '../net/timeouts';

/** The store and how to name it in messages (container 'x', bucket 'y'). */
export function readModelStore(net: { limits: NetworkLimits; signal: AbortSignal }): { store: ModelStore; location: string } {
  const provider = adapter.getChoice('provider', ['azureBlob', 's3'] as const, 'azureBlob');
  const proxy = { ...adapter.agentProxy(), ...net };
  if (provider === 'azureBlob') {
    const container = adapter.getRequiredString('container');
    const authType = adapter.getChoice('authType', ['serviceConnection', 'connectionString'] as const, 'serviceConnection');
    const location = `container '${container}'`;
    if (authType === 'connectionString') {
      const connectionString = adapter.getRequiredString('connectionString', { secret: true });
      return { store: azureBlobStoreFromConnectionString(connectionString, container, proxy), location };
    }
    const endpoint = adapter.readAzureRmEndpoint('azureSubscription');
    const credential = azureCredentialFor(endpoint, { timeoutMs: 2 * net.limits.idleTimeoutMs });
    const store = azureBlobStoreFromCredential(
      credential,
      {
        accountName: adapter.getString('storageAccount'),
        blobEndpoint: adapter.getString('blobEndpoint'),
        environment: endpoint.environment,
        credentialLabel: `service connection '${endpoint.id}' (${endpoint.scheme})`,
      },
      container,
      proxy,
    );
    return { store, location };
  }
  const bucket = adapter.getRequiredString('bucket');
  const connection = adapter.readS3Endpoint('s3Connection');
  const forcePathStyleInput = adapter.getString('forcePathStyle');
  const store = s3StoreFor({
    bucket,
    connection,
    region: adapter.getString('region'),
    endpoint: adapter.getString('s3Endpoint'),
    forcePathStyle: forcePathStyleInput === undefined ? undefined : adapter.getBool('forcePathStyle'),
    ...proxy,
    // OIDC tokens and the temporary credentials STS grants for them are masked as soon as they exist.
    onSecret: adapter.setSecret,
  });
  return { store, location: `bucket '${bucket}'` };
}
