/**
 * Runs a built task bundle under task-lib's MockTestRunner with a JSON spec
 * (see runners/bundle.cjs). Every run is checked by the secret scan
 * (scripts/lib/secret-scan.ts): the output, masked as the agent masks it, must
 * not hold any secret the spec gave the task (endpoint credentials, secret
 * inputs, secret environment, `secrets`); a leak throws SecretLeakError.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { MockTestRunner } from 'azure-pipelines-task-lib/mock-test';
import { assertNoSecretLeak, collectSecrets, registeredSecrets } from '../../scripts/lib/secret-scan';

export const root = join(__dirname, '..', '..');

export interface EndpointSpec {
  scheme: string;
  parameters?: Record<string, string>;
  data?: Record<string, string>;
  url?: string;
}

export interface TaskSpec {
  task: string;
  inputs: Record<string, string | number | boolean | undefined>;
  endpoints?: Record<string, EndpointSpec>;
  variables?: Record<string, string>;
  /** Extra environment for the task process (e.g. AWS_* for the credential chain). */
  env?: Record<string, string>;
  /** Secret values the scan cannot infer from the spec (it finds endpoint credentials, secret inputs and secret env itself). */
  secrets?: string[];
}

export function ensureBuilt(task: string): void {
  if (!existsSync(join(root, 'dist', 'tasks', task, 'index.js'))) {
    execFileSync(process.execPath, [join(root, 'scripts', 'build.mjs'), task], { stdio: 'inherit' });
  }
}

export interface MockRun {
  runner: MockTestRunner;
  stdout: string;
  stderr: string;
  succeeded: boolean;
  /** The task.complete message. */
  message: string;
  outputs: Record<string, string>;
  /** Values the task registered with setSecret. */
  secrets: string[];
  /** stdout as the agent would show it: setsecret commands dropped (the agent consumes them). */
  visible: string;
}

export async function runMock(spec: TaskSpec): Promise<MockRun> {
  ensureBuilt(spec.task);
  // Collected before the run: a kubeconfig input names a file the test may remove afterwards.
  const candidates = collectSecrets(spec);
  const saved: Record<string, string | undefined> = {};
  const env = { TEST_TASK_SPEC: JSON.stringify(spec), ...(spec.env ?? {}) };
  for (const [k, v] of Object.entries(env)) {
    saved[k] = process.env[k];
    process.env[k] = v;
  }
  try {
    const runner = new MockTestRunner(join(root, 'tests', 'task', 'runners', 'bundle.cjs'), join(root, 'tasks', spec.task, 'task.json'));
    runner.nodePath = process.execPath;
    await runner.runAsync();
    const stdout = runner.stdout;
    const outputs: Record<string, string> = {};
    // Decoded from task-lib's escaping (% is written %AZP25), as the agent reads them.
    const secrets = registeredSecrets(stdout);
    let message = '';
    for (const line of stdout.split(/\r?\n/)) {
      const m = line.match(/^##vso\[task\.setvariable variable=([^;\]]+);[^\]]*\](.*)$/);
      if (m) outputs[m[1] as string] = m[2] as string;
      const c = line.match(/^##vso\[task\.complete[^\]]*\](.*)$/);
      if (c) message = c[1] as string;
    }
    const visible = stdout
      .split(/\r?\n/)
      .filter((l) => !l.startsWith('##vso[task.setsecret]'))
      .join('\n');
    assertNoSecretLeak(spec.task, spec, { stdout, stderr: runner.stderr }, candidates);
    return { runner, stdout, stderr: runner.stderr, succeeded: runner.succeeded, message, outputs, secrets, visible };
  } finally {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
}
