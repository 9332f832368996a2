/**
 * Public surface of shared/oci/registry/: the distribution (registry) API client: HTTP, auth, pull, push, image info.
 * Code outside this folder imports from here; modules inside import each other directly.
 */
export type { AuthOptions, RefreshTokenContext, RegistryCredentials } from './auth';
export { RegistryClient } from './client';
export type { RegistryClientOptions, RequestOptions } from './client';
export { configureProxy, configureTimeouts, readText, send } from './http';
export { readImageAnnotations, resolveImageDigest } from './image-info';
export { pullImage } from './pull';
export type { PullOptions, PullResult } from './pull';
export { DEFAULT_CHUNK_SIZE, DEFAULT_CONCURRENCY } from './push';
export type { PushOptions, PushResult } from './push';
export { openLayoutInput, pushLayout, pushMessage } from './push-layout';
export type { PushLayoutOptions, PushLayoutResult } from './push-layout';
