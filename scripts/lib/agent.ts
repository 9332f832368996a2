/**
 * The one emulation of the Azure Pipelines agent, used by the task tests
 * (through tests/task/mock-task.ts runMock), the end-to-end test and the demo:
 * runs a built task bundle in its own Node process the way the agent does,
 * with inputs as INPUT_<NAME> environment variables, service connections as
 * ENDPOINT_* variables and the agent's own variables (Agent.TempDirectory,
 * Build.BuildId...), and reads the `##vso[...]` commands it prints: output
 * variables, secrets to mask, issues, attachments (run summaries) and the
 * final result.
 *
 * - The bundle is rebuilt first when its sources are newer (./fresh-bundle.ts).
 * - task-lib keeps its vault key (`.taskkey`) in Agent.TempDirectory, else in
 *   Agent.WorkFolder, else in the current directory: when the caller gives
 *   neither, each run gets its own Agent.WorkFolder (a fresh temporary folder,
 *   removed afterwards), so concurrent runs never share a key file and none is
 *   written into the repository. Two runs at the same time with the same
 *   Agent.TempDirectory are refused (they would corrupt each other's secrets).
 * - Inputs given by an alias (task.json `aliases`) reach the task under the
 *   input's own name, as for a YAML step: the pipeline maps aliases before the
 *   agent sets INPUT_<NAME>; task-lib's getInput knows no aliases. Giving an
 *   input and its alias together is refused, as the pipeline refuses it.
 * - `filePath` inputs are rooted at the sources folder as the agent roots them
 *   (translateFilePathInputs): an empty one arrives as that folder.
 * - Every run goes through the secret scan (./secret-scan.ts): when the output,
 *   masked as the agent masks it, still holds a secret the caller gave the
 *   task, the returned promise rejects with SecretLeakError. This is the only
 *   place the scan is called for a task run.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, isAbsolute, join, resolve } from 'node:path';
import { ensureFreshBundle } from './fresh-bundle';
import { assertNoSecretLeak, collectSecrets } from './secret-scan';

export interface Endpoint {
  scheme: string;
  parameters?: Record<string, string>;
  data?: Record<string, string>;
  url?: string;
}

export interface RunTaskOptions {
  /** Task folder name under dist/tasks. */
  task: string;
  inputs: Record<string, string | number | boolean | undefined>;
  /** Service connections by id (the value of the input that names them). */
  endpoints?: Record<string, Endpoint>;
  /** Pipeline variables, e.g. { 'Agent.TempDirectory': '/tmp/x' }. */
  variables?: Record<string, string>;
  /** Extra raw environment, applied last; undefined removes a variable the test process has. */
  env?: Record<string, string | undefined>;
  /** The repository root (dist/ and scripts/build.mjs are found under it). */
  root?: string;
  /** Echo the task's output (masked, debug lines dropped) while it runs. */
  echo?: (line: string) => void;
  /** Secret values the scan cannot infer (it finds endpoint credentials, secret inputs and secret env itself). */
  secrets?: string[];
  /**
   * Cancels the job as the agent does when this returns true for a line the
   * task prints (masked): SIGINT, then SIGTERM after 7.5 s, then SIGKILL
   * after 2.5 s more, each only while the task process is still running.
   */
  cancelWhen?: (line: string) => boolean;
}

export type TaskResult = 'Succeeded' | 'SucceededWithIssues' | 'Failed' | 'Unknown';

/**
 * A task.addattachment / task.uploadsummary / task.uploadfile command, as the
 * agent takes it: uploadsummary and uploadfile are addattachment with the type
 * Distributedtask.Core.Summary / DistributedTask.Core.FileAttachment and the
 * file's name (extension included) as the name. The file is read when the
 * command arrives (the agent needs it to exist then; `content` is undefined
 * when it did not).
 */
export interface Attachment {
  type: string;
  name: string;
  file: string;
  content?: string;
}

/** The attachment type of run summaries (the run's Extensions tab). */
export const SUMMARY_ATTACHMENT = 'Distributedtask.Core.Summary';

export interface TaskRun {
  exitCode: number;
  /** The task.complete result; Unknown when the task printed none. */
  result: TaskResult;
  /** Not Failed, and the process exited 0. */
  succeeded: boolean;
  /** The task.complete message, decoded and masked as the agent shows it. */
  message: string;
  /** Output variables (task.setvariable), decoded. */
  outputs: Record<string, string>;
  /** Values the task registered with task.setsecret, in order. */
  secrets: string[];
  /** Attachments in order; run summaries have type {@link SUMMARY_ATTACHMENT}. */
  attachments: Attachment[];
  /** What the agent's log would show: secrets masked with ***, ##vso commands other than issues dropped. */
  log: string[];
  /** stdout with the task.setsecret lines dropped (the agent consumes them), otherwise raw. */
  visible: string;
  /** Raw stdout and stderr, for tests that check what would reach the agent. */
  stdout: string;
  stderr: string;
}

const variableKey = (name: string) => name.replace(/[.\s]/g, '_').toUpperCase();

/** Decode a ##vso command property value (task-lib's escaping: % is written %AZP25). */
function unescapeProperty(v: string): string {
  return v
    .replace(/%3B/g, ';')
    .replace(/%5D/g, ']')
    .replace(/%0D/g, '\r')
    .replace(/%0A/g, '\n')
    .replace(/%AZP25/g, '%');
}
function unescapeData(v: string): string {
  return v
    .replace(/%0D/g, '\r')
    .replace(/%0A/g, '\n')
    .replace(/%AZP25/g, '%');
}

/** Agent.TempDirectory folders of the runs in progress in this process. */
const tempDirsInUse = new Set<string>();

/**
 * The inputs keyed by their task.json names: an alias becomes the name it
 * stands for (what the pipeline does with a YAML step's inputs).
 */
export function canonicalInputs(
  taskJsonPath: string,
  inputs: Record<string, string | number | boolean | undefined>,
): Record<string, string | number | boolean | undefined> {
  if (!existsSync(taskJsonPath)) return inputs;
  const task = JSON.parse(readFileSync(taskJsonPath, 'utf8')) as { inputs?: Array<{ name: string; aliases?: string[] }> };
  const nameOf = new Map<string, string>();
  for (const i of task.inputs ?? []) for (const a of i.aliases ?? []) nameOf.set(a.toLowerCase(), i.name);
  const out: Record<string, string | number | boolean | undefined> = {};
  for (const [k, v] of Object.entries(inputs)) {
    const name = nameOf.get(k.toLowerCase()) ?? k;
    if (name !== k && Object.keys(inputs).some((other) => other.toLowerCase() === name.toLowerCase()))
      throw new Error(`Input '${k}' is an alias of '${name}', which is given too: give one of them.`);
    out[name] = v;
  }
  return out;
}

interface TaskInputDefinition {
  name: string;
  type: string;
  defaultValue?: string | boolean;
}

/**
 * What the agent does to `filePath` inputs (TaskRunner.TranslateFilePathInput
 * with the build job extension's GetRootedPath): a rooted value is
 * normalised, anything else (the empty value too) is joined to the sources
 * folder (Build.SourcesDirectory, else System.DefaultWorkingDirectory). An
 * input not given whose default is empty arrives as the sources folder. With
 * no sources folder known, values pass unchanged (the agent's last resort).
 * Non-empty defaults are left to the task (this emulation expands no macros).
 */
export function translateFilePathInputs(
  definitions: TaskInputDefinition[],
  inputs: Record<string, string | number | boolean | undefined>,
  variables: Record<string, string>,
): Record<string, string | number | boolean | undefined> {
  const variable = (n: string) => Object.entries(variables).find(([k]) => k.toLowerCase() === n.toLowerCase())?.[1] || undefined;
  const sources = variable('Build.SourcesDirectory') ?? variable('System.DefaultWorkingDirectory');
  const out = { ...inputs };
  if (!sources) return out;
  for (const d of definitions) {
    if (d.type !== 'filePath') continue;
    const given = out[d.name];
    if (given === undefined && d.defaultValue !== undefined && d.defaultValue !== '') continue;
    const value = String(given ?? '').trim();
    out[d.name] = isAbsolute(value) ? resolve(value) : resolve(join(sources, value));
  }
  return out;
}

/** The environment the agent gives a task: the caller's, minus other tasks' inputs and connections, plus the run's. */
function agentEnvironment(options: RunTaskOptions, workFolder: string | undefined): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (v !== undefined && !/^(INPUT_|ENDPOINT_|SECRET_)/.test(k)) env[k] = v;
  }
  if (workFolder) env[variableKey('Agent.WorkFolder')] = workFolder;
  for (const [k, v] of Object.entries(options.variables ?? {})) env[variableKey(k)] = v;
  for (const [k, v] of Object.entries(options.inputs)) {
    if (v !== undefined) env[`INPUT_${variableKey(k)}`] = String(v);
  }
  for (const [id, e] of Object.entries(options.endpoints ?? {})) {
    const parameters = e.parameters ?? {};
    env[`ENDPOINT_AUTH_${id}`] = JSON.stringify({ scheme: e.scheme, parameters });
    env[`ENDPOINT_AUTH_SCHEME_${id}`] = e.scheme;
    for (const [k, v] of Object.entries(parameters)) env[`ENDPOINT_AUTH_PARAMETER_${id}_${k.toUpperCase()}`] = v;
    for (const [k, v] of Object.entries(e.data ?? {})) env[`ENDPOINT_DATA_${id}_${k.toUpperCase()}`] = v;
    if (e.url) env[`ENDPOINT_URL_${id}`] = e.url;
  }
  for (const [k, v] of Object.entries(options.env ?? {})) {
    if (v === undefined) delete env[k];
    else env[k] = v;
  }
  return env;
}

export async function runTask(options: RunTaskOptions): Promise<TaskRun> {
  const root = options.root ?? join(__dirname, '..', '..');
  ensureFreshBundle(options.task, root);
  const vars = Object.keys(options.variables ?? {}).map((k) => k.toLowerCase());
  const tempVar = Object.entries(options.variables ?? {}).find(([k]) => k.toLowerCase() === 'agent.tempdirectory')?.[1];
  const tempDir = tempVar ? resolve(tempVar) : undefined;
  if (tempDir && tempDirsInUse.has(tempDir)) {
    throw new Error(
      `Another task run in this process uses Agent.TempDirectory ${tempDir}: task-lib keeps its secret key there, so give each concurrent run its own.`,
    );
  }
  const taskJson = join(root, 'dist', 'tasks', options.task, 'task.json');
  const definitions = existsSync(taskJson) ? ((JSON.parse(readFileSync(taskJson, 'utf8')) as { inputs?: TaskInputDefinition[] }).inputs ?? []) : [];
  const inputs = translateFilePathInputs(definitions, canonicalInputs(taskJson, options.inputs), options.variables ?? {});
  const workFolder = !tempDir && !vars.includes('agent.workfolder') ? mkdtempSync(join(tmpdir(), `agent-${options.task}-`)) : undefined;
  const env = agentEnvironment({ ...options, inputs }, workFolder);
  // Collected before the run: a kubeconfig input names a file the caller may remove afterwards.
  const candidates = collectSecrets({ ...options, inputs });
  if (tempDir) tempDirsInUse.add(tempDir);
  try {
    const run = await spawnTask(join(root, 'dist', 'tasks', options.task, 'index.js'), env, options.echo, options.cancelWhen);
    assertNoSecretLeak(options.task, options, run, candidates);
    return run;
  } finally {
    if (tempDir) tempDirsInUse.delete(tempDir);
    if (workFolder) rmSync(workFolder, { recursive: true, force: true });
  }
}

/** The agent's grace periods after SIGINT and after SIGTERM when a job is cancelled. */
export const CANCEL_SIGINT_GRACE_MS = 7500;
export const CANCEL_SIGTERM_GRACE_MS = 2500;

function spawnTask(
  bundle: string,
  env: Record<string, string>,
  echo: ((line: string) => void) | undefined,
  cancelWhen: ((line: string) => boolean) | undefined,
): Promise<TaskRun> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [bundle], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let cancelled = false;
    const timers: NodeJS.Timeout[] = [];
    const cancel = () => {
      cancelled = true;
      const running = () => child.exitCode === null && child.signalCode === null;
      child.kill('SIGINT');
      timers.push(
        setTimeout(() => {
          if (running()) child.kill('SIGTERM');
          timers.push(setTimeout(() => running() && child.kill('SIGKILL'), CANCEL_SIGTERM_GRACE_MS));
        }, CANCEL_SIGINT_GRACE_MS),
      );
    };
    let stdout = '';
    let stderr = '';
    let pending = '';
    const outputs: Record<string, string> = {};
    const secrets: string[] = [];
    const attachments: Attachment[] = [];
    const log: string[] = [];
    let result: TaskResult = 'Unknown';
    let message = '';
    const mask = (s: string) => secrets.reduce((acc, secret) => (secret ? acc.split(secret).join('***') : acc), s);
    const onLine = (line: string) => {
      const m = line.match(/^##vso\[([\w.]+)([^\]]*)\](.*)$/);
      if (!m) {
        const masked = mask(line);
        log.push(masked);
        echo?.(masked);
        if (!cancelled && cancelWhen?.(masked)) cancel();
        return;
      }
      const [, command, rawProps, data] = m as unknown as [string, string, string, string];
      const props: Record<string, string> = {};
      for (const part of rawProps.trim().split(';')) {
        const eq = part.indexOf('=');
        if (eq > 0) props[part.slice(0, eq).trim()] = unescapeProperty(part.slice(eq + 1));
      }
      const value = unescapeData(data);
      if (command === 'task.setsecret') {
        if (value) secrets.push(value);
      } else if (command === 'task.setvariable' && props.variable) outputs[props.variable] = value;
      else if (command === 'task.complete') {
        result = (props.result as TaskResult) ?? 'Unknown';
        message = mask(value);
      } else if (command === 'task.addattachment' || command === 'task.uploadsummary' || command === 'task.uploadfile') {
        const type =
          command === 'task.uploadsummary' ? SUMMARY_ATTACHMENT : command === 'task.uploadfile' ? 'DistributedTask.Core.FileAttachment' : (props.type ?? '');
        const name = command === 'task.addattachment' ? (props.name ?? '') : basename(value);
        let content: string | undefined;
        try {
          content = readFileSync(value, 'utf8');
        } catch {
          content = undefined;
        }
        attachments.push({ type, name, file: value, content });
      } else if (command === 'task.logissue') {
        const issue = `${props.type === 'error' ? 'ERROR' : 'WARNING'}: ${mask(value)}`;
        log.push(issue);
        echo?.(issue);
      }
    };
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => {
      stdout += chunk;
      pending += chunk;
      let nl: number;
      while ((nl = pending.indexOf('\n')) >= 0) {
        onLine(pending.slice(0, nl).replace(/\r$/, ''));
        pending = pending.slice(nl + 1);
      }
    });
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk: string) => {
      stderr += chunk;
    });
    child.on('error', reject);
    child.on('close', (code) => {
      for (const t of timers) clearTimeout(t);
      if (pending) onLine(pending);
      const exitCode = code ?? -1;
      const visible = stdout
        .split(/\r?\n/)
        .filter((l) => !l.startsWith('##vso[task.setsecret]'))
        .join('\n');
      resolvePromise({
        exitCode,
        result,
        succeeded: result !== 'Failed' && exitCode === 0,
        message,
        outputs,
        secrets,
        attachments,
        log,
        visible,
        stdout,
        stderr,
      });
    });
  });
}
