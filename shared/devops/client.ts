/**
 * The Azure DevOps REST calls the tasks make, behind a small typed interface
 * ({@link RunRecordsApi}), implemented with azure-devops-node-api's Build
 * client (which first asks the organization's location service where the
 * Build area lives, then the area's OPTIONS for its routes and versions).
 * Failures become typed errors: 401/403 an {@link AuthError}, anything else a
 * {@link UserError} `DevOpsError`; callers decide whether that is a warning.
 */
import { WebApi, getBearerHandler } from 'azure-devops-node-api';
import type { IBuildApi } from 'azure-devops-node-api/BuildApi';
import { BuildQueryOrder, BuildResult, BuildStatus } from 'azure-devops-node-api/interfaces/BuildInterfaces';
import type { IRequestOptions } from 'azure-devops-node-api/interfaces/common/VsoBaseInterfaces';
import { AuthError, UserError, errorMessage } from '../errors';
import type { BuildRef } from './context';

export interface RunRecordsApi {
  /** Adds tags to a build (existing tags are kept). */
  addTags(run: BuildRef, tags: readonly string[]): Promise<void>;
  /** Sets string properties on a build. */
  setProperties(run: BuildRef, values: Readonly<Record<string, string>>): Promise<void>;
  /** The named properties of a build that exist, as strings. */
  getProperties(run: BuildRef, names: readonly string[]): Promise<Record<string, string>>;
  /** Ids of the newest completed, succeeded (or partially succeeded) builds of a pipeline, newest first. */
  succeededBuilds(project: string, definitionId: number, top: number, tag?: string): Promise<number[]>;
}

export interface RunRecordsApiOptions {
  /** System.CollectionUri. */
  collectionUri: string;
  /** The job's access token (System.AccessToken). */
  token: string;
  /** Connect/idle timeout of each request, ms. */
  timeoutMs?: number;
  proxy?: { proxyUrl: string; proxyBypassHosts?: string[] };
}

/** What went wrong with a REST call, as one typed error naming what was attempted. */
export function devOpsError(what: string, err: unknown): UserError {
  const status = (err as { statusCode?: unknown } | undefined)?.statusCode;
  const statusCode = typeof status === 'number' ? status : undefined;
  if (statusCode === 401 || statusCode === 403) {
    return new AuthError(`the job's access token may not ${what} (HTTP ${statusCode})`, { statusCode, cause: err });
  }
  const detail = statusCode ? `HTTP ${statusCode}: ${errorMessage(err)}` : errorMessage(err);
  return new UserError(`could not ${what} (${detail.replace(/\s+/g, ' ').slice(0, 300)})`, { code: 'DevOpsError', statusCode, cause: err });
}

/** The string value of one entry of a PropertiesCollection (`{"$type": ..., "$value": ...}` on the wire). */
function propertyString(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  if (v && typeof v === 'object' && '$value' in v) {
    const inner = (v as { $value: unknown }).$value;
    return typeof inner === 'string' ? inner : inner === undefined || inner === null ? undefined : JSON.stringify(inner);
  }
  return undefined;
}

/** The azure-devops-node-api implementation. */
export function createRunRecordsApi(options: RunRecordsApiOptions): RunRecordsApi {
  const requestOptions: IRequestOptions = { socketTimeout: options.timeoutMs ?? 100_000, allowRetries: true, maxRetries: 2 };
  if (options.proxy) requestOptions.proxy = options.proxy;
  // The token goes to the organization's host only: not to a host a location answer names (the library's default would).
  const web = new WebApi(options.collectionUri, getBearerHandler(options.token, false), requestOptions);
  let build: Promise<IBuildApi> | undefined;
  const api = async (what: string): Promise<IBuildApi> => {
    build ??= web.getBuildApi();
    try {
      return await build;
    } catch (err) {
      build = undefined;
      throw devOpsError(what, err);
    }
  };
  const call = async <T>(what: string, f: (b: IBuildApi) => Promise<T>): Promise<T> => {
    const b = await api(what);
    try {
      return await f(b);
    } catch (err) {
      throw devOpsError(what, err);
    }
  };
  return {
    async addTags(run, tags) {
      if (tags.length === 0) return;
      await call(`tag build ${run.buildId}`, (b) => b.addBuildTags([...tags], run.project, run.buildId));
    },
    async setProperties(run, values) {
      const document = Object.entries(values).map(([name, value]) => ({ op: 'add', path: `/${name}`, value }));
      if (document.length === 0) return;
      await call(`update the properties of build ${run.buildId}`, (b) => b.updateBuildProperties({}, document, run.project, run.buildId));
    },
    async getProperties(run, names) {
      const collection = await call(`read the properties of build ${run.buildId}`, (b) => b.getBuildProperties(run.project, run.buildId, [...names]));
      const raw = (collection as unknown as { value?: unknown } | null)?.value;
      const out: Record<string, string> = {};
      if (raw && typeof raw === 'object') {
        for (const name of names) {
          const entry = Object.entries(raw as Record<string, unknown>).find(([k]) => k.toLowerCase() === name.toLowerCase());
          const s = entry ? propertyString(entry[1]) : undefined;
          if (s !== undefined) out[name] = s;
        }
      }
      return out;
    },
    async succeededBuilds(project, definitionId, top, tag) {
      const builds = await call(`list the runs of pipeline ${definitionId}`, (b) =>
        b.getBuilds(
          project,
          [definitionId],
          undefined,
          undefined,
          undefined,
          undefined,
          undefined,
          undefined,
          BuildStatus.Completed,
          BuildResult.Succeeded | BuildResult.PartiallySucceeded,
          tag ? [tag] : undefined,
          undefined,
          top,
          undefined,
          undefined,
          undefined,
          BuildQueryOrder.FinishTimeDescending,
        ),
      );
      return (builds ?? []).map((x) => x.id).filter((id): id is number => typeof id === 'number');
    },
  };
}
