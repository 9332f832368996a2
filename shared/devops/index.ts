/**
 * Public surface of shared/devops/: the Azure DevOps run records (what a run
 * pushed and fetched, found again by a later run or a classic release) and the
 * REST client behind them. Plain TypeScript: shared/adapter/devops.ts feeds it
 * the agent's variables and the job's token.
 */
export { createRunRecordsApi, devOpsError, type RunRecordsApi, type RunRecordsApiOptions } from './client';
export { runContext, type BuildRef, type ReleaseArtifact, type RunContext, type VariableReader } from './context';
export {
  findImageRecordFiles,
  formatImageRecord,
  modelDiffers,
  modelName,
  modelTag,
  parseImageRecord,
  readImageRecordFile,
  RECORD_FILE,
  RunProperty,
  writeImageRecordFile,
  type ImageRecord,
  type ModelIdentity,
} from './record';
export {
  findReleaseImage,
  noImageError,
  noTokenWarning,
  recordFetchedModel,
  recordPushedImage,
  restWarning,
  type DevOpsAccess,
  type FoundImage,
  type ModelChange,
  type RecordImageResult,
} from './run-records';
