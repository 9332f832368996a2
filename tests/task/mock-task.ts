/**
 * runMock: the task tests' name for the one agent emulation,
 * scripts/lib/agent.ts runTask (the built bundle in its own process, INPUT_* /
 * ENDPOINT_* environment, `##vso` commands parsed, the secret scan on every
 * run, the bundle rebuilt first when its sources are newer). A leak rejects
 * with SecretLeakError.
 */
import { join } from 'node:path';
import { runTask, SUMMARY_ATTACHMENT, type Endpoint, type TaskRun } from '../../scripts/lib/agent';
import { ensureFreshBundle } from '../../scripts/lib/fresh-bundle';

export const root = join(__dirname, '..', '..');

export type EndpointSpec = Endpoint;

export interface TaskSpec {
  task: string;
  inputs: Record<string, string | number | boolean | undefined>;
  endpoints?: Record<string, EndpointSpec>;
  variables?: Record<string, string>;
  /** Extra environment for the task process (e.g. AWS_* for the credential chain); undefined removes a variable. */
  env?: Record<string, string | undefined>;
  /** Secret values the scan cannot infer from the spec (it finds endpoint credentials, secret inputs and secret env itself). */
  secrets?: string[];
  /** Cancel the job as the agent does (SIGINT, SIGTERM, SIGKILL) once a printed line matches. */
  cancelWhen?: (line: string) => boolean;
}

/** The run as tests see it: succeeded, message, outputs, secrets, visible, stdout, stderr (and the rest of TaskRun). */
export type MockRun = TaskRun;

/** Rebuilds dist/tasks/<task> when it is missing or older than its sources (once per process). */
export function ensureBuilt(task: string): void {
  ensureFreshBundle(task, root);
}

export function runMock(spec: TaskSpec): Promise<MockRun> {
  return runTask({ ...spec, root });
}

/** The Markdown of the run summary the task uploaded under `title` (fails the test when there is none, or several). */
export function summaryOf(run: TaskRun, title: string): string {
  const found = run.attachments.filter((a) => a.type === SUMMARY_ATTACHMENT && a.name === title);
  if (found.length !== 1 || found[0]?.content === undefined)
    throw new Error(`expected one run summary '${title}' with content, got: ${JSON.stringify(run.attachments.map((a) => [a.type, a.name]))}`);
  return found[0].content;
}
