/**
 * Public surface of shared/check/: model-server checks (request + expectation),
 * one format for TestModelImage and DeployToAKS; see spec.ts for the format.
 * Code outside this folder imports from here; modules inside import each other directly.
 */
export {
  checksFromInputs,
  DEFAULT_APPROX_TOLERANCE,
  DEFAULT_STATUS,
  isSpecFileReference,
  loadSpecFile,
  MAX_CHECK_BODY_BYTES,
  parseInlineExpect,
  parseInlineRequest,
  parseMatcher,
  parseRegex,
  parseSpec,
  parseStatus,
  statusMatches,
} from './spec';
export type { Check, CheckRequest, Expectation, InlineChecksOptions, JsonExpectation, StatusExpectation, ValueMatcher } from './spec';
export { evaluate, show } from './evaluate';
export type { CheckAnswer, CheckFailure, Evaluation } from './evaluate';
export { lineDiff, renderBody, renderFailure, RENDER_BODY_BYTES } from './render';
export type { RenderedOutcome, RenderOptions } from './render';
export { checksFailedError, DEFAULT_CHECK_TIMEOUT_MS, outcomesMarkdown, renderFailures, runChecks } from './run';
export type { CheckOutcome, RunChecksOptions, SendCheck } from './run';
export { lookup, parseJsonPath } from './jsonpath';
export type { Lookup, PathSegment } from './jsonpath';
