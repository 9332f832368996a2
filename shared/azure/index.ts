/**
 * Public surface of shared/azure/: azure identity: Entra credentials per service-connection scheme, and the ACR token exchange.
 * Code outside this folder imports from here; modules inside import each other directly.
 */
export { acrCredentials } from './acr';
export type { AcrExchangeOptions } from './acr';
export { azureCredentialFor, blobEndpointFor, resourceManagerOf } from './credential';
