/**
 * Runs a built task bundle the way the Azure Pipelines agent does: inputs as
 * INPUT_<NAME> environment variables, endpoints as ENDPOINT_* variables, the
 * agent's own variables (Agent.TempDirectory, Build.BuildId...), and reads the
 * `##vso[...]` commands it prints: output variables, secrets to mask, progress
 * and the final result. Used by the demo and the end-to-end tests.
 *
 * Every run goes through the secret scan (./secret-scan.ts): when the output,
 * masked as the agent masks it, still holds a secret the caller gave the task,
 * the returned promise rejects with SecretLeakError.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { assertNoSecretLeak, collectSecrets } from './secret-scan';

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
  /** Secret values the scan cannot infer (it finds endpoint credentials, secret inputs and secret env itself). */
  secrets?: string[];
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

/** Decode a ##vso command property value (task-lib's escaping: % is written %AZP25). */
function unescapeProperty(v: string): string {
  return v.replace(/%3B/g, ';').replace(/%5D/g, ']').replace(/%0D/g, '\r').replace(/%0A/g, '\n').replace(/%AZP25/g, '%');
}
function unescapeData(v: string): string {
  return v.replace(/%0D/g, '\r').replace(/%0A/g, '\n').replace(/%AZP25/g, '%');
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
  // Collected before the run: a kubeconfig input names a file the caller may remove afterwards.
  const candidates = collectSecrets(options);

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
      try {
        assertNoSecretLeak(options.task, options, { stdout, stderr }, candidates);
      } catch (err) {
        reject(err);
        return;
      }
      resolve({ exitCode: code ?? -1, result, message, outputs, secrets, log, stdout, stderr });
    });
  });
}
