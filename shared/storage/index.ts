/**
 * Public surface of shared/storage/: model stores (Azure Blob, S3) behind one ModelStore interface.
 * Code outside this folder imports from here; modules inside import each other directly.
 */
export { azureBlobStoreFromConnectionString, azureBlobStoreFromCredential } from './azure-blob';
export type { AzureBlobStoreOptions } from './azure-blob';
export { s3StoreFor } from './s3';
export type { S3StoreForOptions, S3StoreOptions } from './s3';
export type { ListOptions, ModelStore, RangeOptions, StoredObject, StoreNetworkOptions } from './store';
