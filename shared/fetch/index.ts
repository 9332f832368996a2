/**
 * Public surface of shared/fetch/: fetchModel's library: which model version to fetch from a store, and fetching it.
 * Code outside this folder imports from here; modules inside import each other directly.
 */
export { fetchMessage, fetchModel, summarize } from './fetch-model';
export type { FetchModelOptions, FetchModelResult } from './fetch-model';
export { VERSION_SELECTIONS } from './resolve';
export type { ResolveOptions } from './resolve';
