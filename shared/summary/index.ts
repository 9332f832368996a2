/**
 * Public surface of shared/summary/: the Markdown run summaries (one per task;
 * pure builders from the results the library returns; the entries upload them
 * with adapter.uploadSummary).
 */
export { bundleSummary, BUNDLE_SUMMARY_TITLE } from './bundle';
export type { BundleSummaryContext } from './bundle';
export { chainLine } from './chain';
export type { ModelIdentity } from './chain';
export { deploySummary, DEPLOY_SUMMARY_TITLE } from './deploy';
export type { DeploySummaryContext } from './deploy';
export { fetchSummary, FETCH_SUMMARY_TITLE } from './fetch';
export { pushSummary, PUSH_SUMMARY_TITLE } from './push';
