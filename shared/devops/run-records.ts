/**
 * What the tasks do with the run records (plain TypeScript: the caller passes
 * the run context, the job's token and a logger):
 * - PushToACR: {@link recordPushedImage} writes the record file into the
 *   artifact staging directory and the image as a build property of the run.
 * - FetchModel: {@link recordFetchedModel} compares the model with the one
 *   the last successful run of the same pipeline recorded, then records this
 *   one (build property) and tags the run `model:<name>@<version>`.
 * - DeployToAKS in a classic release: {@link findReleaseImage} reads the
 *   image from the triggering build artifact's run, else from the record file
 *   in the downloaded artifact.
 * The REST API is a convenience: a missing token or permission is ONE warning
 * naming the setting to change, never a failure of the task.
 */
import { InputError, isUserError, UserError } from '../errors';
import type { Logger } from '../log';
import { createRunRecordsApi, type RunRecordsApi } from './client';
import type { BuildRef, RunContext } from './context';
import {
  RECORD_FILE,
  findImageRecordFiles,
  formatImageRecord,
  modelDiffers,
  modelIdentityOf,
  modelTag,
  parseImageRecord,
  readImageRecordFile,
  RunProperty,
  writeImageRecordFile,
  type ImageRecord,
  type ModelIdentity,
} from './record';

export interface DevOpsAccess {
  context: RunContext;
  /** The job's access token, when the task may use it. */
  token?: string;
  logger: Logger;
  /** Connect/idle timeout of each REST request, ms. */
  timeoutMs?: number;
  proxy?: { proxyUrl: string; proxyBypassHosts?: string[] };
  /** Replaces the azure-devops-node-api client (unit tests of the logic). */
  api?: RunRecordsApi;
}

/** The warning when the token is missing: names the classic setting. */
export function noTokenWarning(purpose: string, fallback: string): string {
  return (
    `The job's access token (System.AccessToken) is not available to this task, so ${purpose} through the Azure DevOps REST API: ` +
    `in the classic editor tick 'Allow scripts to access the OAuth token' in the agent job's Additional options${fallback ? `; ${fallback}` : ''}.`
  );
}

/** The warning when a REST call failed: for 401/403 the permission to grant, else the cause. */
export function restWarning(err: unknown, purpose: string, permission: string, fallback: string): string {
  const rest = isUserError(err) ? err.message : String(err);
  const tail = fallback ? `; ${fallback}` : '';
  if (isUserError(err) && err.code === 'AuthFailed') {
    return (
      `${capitalise(rest)}, so ${purpose}: grant the pipeline's build service identity ('<project> Build Service (<organization>)') ` +
      `'${permission}' on the pipeline (Pipelines > ... > Manage security), and for a pipeline of another project turn off ` +
      `'Limit job authorization scope to current project' (Project settings > Pipelines > Settings)${tail}.`
    );
  }
  return `${capitalise(rest)}, so ${purpose}${tail}.`;
}

function capitalise(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1);
}

function apiOf(access: DevOpsAccess): RunRecordsApi | undefined {
  if (access.api) return access.api;
  if (!access.token || !access.context.collectionUri) return undefined;
  return createRunRecordsApi({ collectionUri: access.context.collectionUri, token: access.token, timeoutMs: access.timeoutMs, proxy: access.proxy });
}

// ---------------------------------------------------------------- PushToACR

export interface RecordImageResult {
  /** The record file written, when a staging directory was given. */
  file?: string;
  /** Whether the image was recorded on the run through the REST API. */
  onRun: boolean;
}

/** Records the pushed image: the record file in `stagingDir`, and a build property of this run. */
export async function recordPushedImage(access: DevOpsAccess, record: ImageRecord, stagingDir: string | undefined): Promise<RecordImageResult> {
  const { context, logger } = access;
  const result: RecordImageResult = { onRun: false };
  if (stagingDir) {
    result.file = await writeImageRecordFile(stagingDir, record);
    logger.info(`Image record for a release: ${result.file} (published with the artifact staging directory).`);
  }
  if (context.host !== 'build' || !context.build || !context.collectionUri) {
    logger.debug('Not in a pipeline run (build): the image is not recorded on a run.');
    return result;
  }
  const fallback = result.file ? 'the record file in the artifact staging directory still carries the image to a release' : '';
  const api = apiOf(access);
  if (!api) {
    logger.warn(noTokenWarning('the pushed image is not recorded on the run', fallback));
    return result;
  }
  try {
    await api.setProperties(context.build, { [RunProperty.Image]: formatImageRecord(record) });
    result.onRun = true;
    logger.info(`Recorded ${record.imageRef} on run ${context.build.buildId} (build property ${RunProperty.Image}).`);
  } catch (err) {
    logger.warn(restWarning(err, 'the pushed image is not recorded on the run', 'Update build information', fallback));
  }
  return result;
}

// ---------------------------------------------------------------- FetchModel

export interface ModelChange {
  changed: boolean;
  /** The run whose record it was compared with. */
  previousBuildId?: number;
  previous?: ModelIdentity;
  /** Why `changed` is what it is, for the log. */
  reason: string;
}

/** How many of a pipeline's newest successful runs are searched for a model record. */
const RUNS_SEARCHED = 10;

/** The model the last successful run of this pipeline (not this run) recorded, if any. */
async function previousModel(
  api: RunRecordsApi,
  project: string,
  definitionId: number,
  current: number,
): Promise<{ buildId: number; model: ModelIdentity } | undefined> {
  const ids = (await api.succeededBuilds(project, definitionId, RUNS_SEARCHED + 1)).filter((id) => id !== current).slice(0, RUNS_SEARCHED);
  for (const buildId of ids) {
    const props = await api.getProperties({ project, buildId }, [RunProperty.Model]);
    const text = props[RunProperty.Model];
    if (text === undefined) continue;
    try {
      return { buildId, model: modelIdentityOf(JSON.parse(text)) };
    } catch {
      continue;
    }
  }
  return undefined;
}

/**
 * Whether the model differs from the one the last successful run of this
 * pipeline recorded; then records this model on the run and tags the run
 * `model:<name>@<version>`. Without the REST API the model counts as changed.
 */
export async function recordFetchedModel(access: DevOpsAccess, name: string, model: ModelIdentity): Promise<ModelChange> {
  const { context, logger } = access;
  const run = context.build;
  if (context.host !== 'build' || !run || !context.definitionId || !context.collectionUri) {
    return { changed: true, reason: 'not in a pipeline run: no previous run to compare with' };
  }
  const fallback = 'modelChanged is true';
  const api = apiOf(access);
  if (!api) {
    logger.warn(noTokenWarning('the model cannot be compared with the last successful run nor recorded on this one', fallback));
    return { changed: true, reason: 'the job access token is not available' };
  }
  let change: ModelChange;
  try {
    const prev = await previousModel(api, run.project, context.definitionId, run.buildId);
    change = !prev
      ? { changed: true, reason: 'no earlier successful run of this pipeline recorded a model' }
      : modelDiffers(prev.model, model)
        ? { changed: true, previousBuildId: prev.buildId, previous: prev.model, reason: `run ${prev.buildId} shipped ${describe(prev.model)}` }
        : { changed: false, previousBuildId: prev.buildId, previous: prev.model, reason: `run ${prev.buildId} shipped the same model` };
  } catch (err) {
    // One warning: the same token would fail the writes too (or they would be of no use without the reads).
    logger.warn(restWarning(err, 'the model cannot be compared with the last successful run nor recorded on this one', 'View builds', fallback));
    return { changed: true, reason: 'the last successful run could not be read' };
  }
  try {
    await api.setProperties(run, { [RunProperty.Model]: JSON.stringify(model) });
    if (model.version) await api.addTags(run, [modelTag(name, model.version)]);
  } catch (err) {
    logger.warn(restWarning(err, 'the model is not recorded on this run (a later run cannot compare with it)', 'Update build information', ''));
  }
  return change;
}

function describe(m: ModelIdentity): string {
  return [m.version && `version ${m.version}`, m.sha256 && `sha256 ${m.sha256.slice(0, 12)}`, m.uri].filter(Boolean).join(', ') || 'a model';
}

// ---------------------------------------------------------------- DeployToAKS

export interface FoundImage {
  record: ImageRecord;
  /** Where it was found, for the log. */
  source: string;
}

/** Reads the image record of the release's triggering build artifact: the run's property, else the artifact's record file. */
export async function findReleaseImage(access: DevOpsAccess): Promise<FoundImage | undefined> {
  const { context, logger } = access;
  const artifact = context.release;
  if (context.host !== 'release' || !artifact) return undefined;
  // Outside Azure DevOps (no System.CollectionUri) only the record file can be read.
  const fallback = 'the image is looked for in the record file of the downloaded artifact';
  if (artifact.build && context.collectionUri) {
    const api = apiOf(access);
    if (!api) {
      logger.warn(noTokenWarning(`the image cannot be read from build ${artifact.build.buildId} of artifact '${artifact.alias}'`, fallback));
    } else {
      try {
        const found = await imageOfBuild(api, artifact.build);
        if (found) return { record: found, source: `build ${artifact.build.buildId} of artifact '${artifact.alias}'` };
        logger.info(`Build ${artifact.build.buildId} of artifact '${artifact.alias}' recorded no image; looking for the record file.`);
      } catch (err) {
        if (isUserError(err) && err.code === 'InvalidRecord') throw err;
        logger.warn(restWarning(err, `the image cannot be read from build ${artifact.build.buildId} of artifact '${artifact.alias}'`, 'View builds', fallback));
      }
    }
  }
  if (!artifact.directory) return undefined;
  const files = await findImageRecordFiles(artifact.directory);
  if (files.length === 0) return undefined;
  const records = await Promise.all(files.map(async (f) => ({ file: f, record: await readImageRecordFile(f) })));
  const refs = new Set(records.map((r) => r.record.imageRef));
  if (refs.size > 1) {
    throw new UserError(
      `Artifact '${artifact.alias}' holds ${files.length} image records naming different images (${[...refs].join(', ')}): set 'image' to the one to deploy.`,
      { code: 'Ambiguous', input: 'image' },
    );
  }
  return { record: records[0].record, source: `file '${records[0].file}'` };
}

async function imageOfBuild(api: RunRecordsApi, build: BuildRef): Promise<ImageRecord | undefined> {
  const props = await api.getProperties(build, [RunProperty.Image]);
  const text = props[RunProperty.Image];
  return text === undefined ? undefined : parseImageRecord(text, `build ${build.buildId} (property ${RunProperty.Image})`);
}

/** The failure when `image` is empty and nothing recorded one: says where it was looked for. */
export function noImageError(context: RunContext): InputError {
  const a = context.release;
  if (context.host !== 'release' || !a) {
    return new InputError(
      'image',
      "Input 'image' is required outside a classic release: set it to PushToACR's imageRef output (registry/repository@sha256:...).",
    );
  }
  const where = [
    a.build ? `build ${a.build.buildId}'s property ${RunProperty.Image}` : undefined,
    a.directory ? `${RECORD_FILE} under ${a.directory}` : undefined,
  ]
    .filter(Boolean)
    .join(' nor ');
  return new InputError(
    'image',
    `Input 'image' is empty and artifact '${a.alias}' records no image (neither ${where || 'a record'}): run PushToACR in the build and publish the artifact staging directory, or set 'image'.`,
  );
}
