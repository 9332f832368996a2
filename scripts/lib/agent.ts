/**
 * Runs a built task bundle the way the Azure Pipelines agent does: inputs as
 * INPUT_<NAME> environment variables, endpoints as ENDPOINT_* variables, the
 * agent's own variables (Agent.TempDirectory, Build.BuildId...), and reads the
 * `##vso[...]` commands it prints: output variables, secrets to mask, progress
 * and the final result. Used by the demo and the end-to-end tests.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';

export interface Endpoint {
  scheme: string;
  parameters: Record<string, string>;
  data?: Record<string, string>;
  url?: string;
}

export interface RunTaskOptions {
  /** Task folder name under dist/tasks. */
  task: string;
  inputs: Record<string, string | number | boolean | undefined>;
  endpoints?: Record<string, Endpoint>;
  /** Pipeline variables, e.g. { 'Agent.TempDirectory': '/tmp/x' }. */
  variables?: Record<string, string>;
  /** Extra raw environment. */
  env?: Record<string, string>;
  root?: string;
  /** Echo the task's output (masked) while it runs. */
  echo?: (line: string) => void;
}

export interface TaskRun {
  exitCode: number;
  result: 'Succeeded' | 'SucceededWithIssues' | 'Failed' | 'Unknown';
  message: string;
  outputs: Record<string, string>;
  secrets: string[];
  /** Everything the task printed, secrets masked with ***, debug lines dropped. */
  log: string[];
  /** Raw stdout, for tests that check what would reach the agent. */
  stdout: string;
  stderr: string;
}

const variableKey = (name: string) => name.replace(/[.\s]/g, '_').toUpperCase();

/** Decode a ##vso command property value (the agent's escaping). */
function unescapeProperty(v: string): string {
  return v.replace(/%3B/gi, ';').replace(/%5D/gi, ']').replace(/%0D/gi, '\r').replace(/%0A/gi, '\n').replace(/%25/gi, '%');
}
function unescapeData(v: string): string {
  return v.replace(/%0D/gi, '\r').replace(/%0A/gi, '\n').replace(/%25/gi, '%');
}

export function runTask(options: RunTaskOptions): Promise<TaskRun> {
  const root = options.root ?? join(__dirname, '..', '..');
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (v !== undefined && !/^(INPUT_|ENDPOINT_|SECRET_)/.test(k)) env[k] = v;
  }
  for (const [k, v] of Object.entries(options.variables ?? {})) env[variableKey(k)] = v;
  for (const [k, v] of Object.entries(options.inputs)) {
    if (v !== undefined) env[`INPUT_${variableKey(k)}`] = String(v);
  }
  for (const [id, e] of Object.entries(options.endpoints ?? {})) {
    env[`ENDPOINT_AUTH_${id}`] = JSON.stringify({ scheme: e.scheme, parameters: e.parameters });
    env[`ENDPOINT_AUTH_SCHEME_${id}`] = e.scheme;
    for (const [k, v] of Object.entries(e.parameters)) env[`ENDPOINT_AUTH_PARAMETER_${id}_${k.toUpperCase()}`] = v;
    for (const [k, v] of Object.entries(e.data ?? {})) env[`ENDPOINT_DATA_${id}_${k.toUpperCase()}`] = v;
    if (e.url) env[`ENDPOINT_URL_${id}`] = e.url;
  }
  Object.assign(env, options.env ?? {});

  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(root, 'dist', 'tasks', options.task, 'index.js')], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let pending = '';
    const outputs: Record<string, string> = {};
    const secrets: string[] = [];
    const log: string[] = [];
    let result: TaskRun['result'] = 'Unknown';
    let message = '';
    const mask = (s: string) => secrets.reduce((acc, secret) => (secret ? acc.split(secret).join('***') : acc), s);
    const onLine = (line: string) => {
      const m = line.match(/^##vso\[([\w.]+)([^\]]*)\](.*)$/);
      if (!m) {
        const masked = mask(line);
        log.push(masked);
        options.echo?.(masked);
        return;
      }
      const [, command, rawProps, data] = m as unknown as [string, string, string, string];
      const props: Record<string, string> = {};
      for (const part of rawProps.trim().split(';')) {
        const eq = part.indexOf('=');
        if (eq > 0) props[part.slice(0, eq).trim()] = unescapeProperty(part.slice(eq + 1));
      }
      const value = unescapeData(data);
      if (command === 'task.setsecret') secrets.push(value);
      else if (command === 'task.setvariable' && props.variable) outputs[props.variable] = value;
      else if (command === 'task.complete') {
        result = (props.result as TaskRun['result']) ?? 'Unknown';
        message = mask(value);
      } else if (command === 'task.logissue') {
        const line2 = `${props.type === 'error' ? 'ERROR' : 'WARNING'}: ${mask(value)}`;
        log.push(line2);
        options.echo?.(line2);
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
      if (pending) onLine(pending);
      resolve({ exitCode: code ?? -1, result, message, outputs, secrets, log, stdout, stderr });
    });
  });
}
