/**
 * TestModelImage task entry: inputs to options, the shared testimage library
 * runs the image and its checks, results become outputs and the run summary.
 */
import { isAbsolute, resolve } from 'node:path';
import * as adapter from '../../shared/adapter';
import { checksFromInputs, loadSpecFile, type Check } from '../../shared/check';
import { errorMessage, InputError, isUserError } from '../../shared/errors';
import { INPUT_RULES, parseKeyValues, parseSha256Hex } from '../../shared/inputs';
import { OciLayout } from '../../shared/oci';
import { detectEngine, jsonPathInput, resolveImage, RUN_DEFAULTS, testImage, type EngineChoice, type NetworkMode } from '../../shared/testimage';

const SECRET_KEY = /pass|secret|token|key|credential|pwd/i;

function workDir(): string {
  return adapter.getVariable('System.DefaultWorkingDirectory') || process.cwd();
}

/** An optional filePath input: the agent fills an empty one with the sources folder. */
function optionalFile(name: string): string | undefined {
  const raw = adapter.getString(name);
  if (!raw) return undefined;
  const abs = isAbsolute(raw) ? raw : resolve(workDir(), raw);
  const roots = [adapter.getVariable('Build.SourcesDirectory'), adapter.getVariable('System.DefaultWorkingDirectory')].filter((r): r is string => !!r);
  if (roots.some((r) => resolve(r) === abs)) return undefined;
  return abs;
}

function readChecks(): Check[] {
  const checks: Check[] = [];
  const spec = optionalFile('checkSpec');
  if (spec) checks.push(...loadSpecFile(spec, 'checkSpec'));
  const request = adapter.getString('predictionRequest');
  const expect = adapter.getString('predictionExpect');
  if (request) {
    checks.push(...checksFromInputs({ requestInput: 'predictionRequest', request, expectInput: 'predictionExpect', expect, baseDir: workDir() }));
  } else if (expect) {
    throw new InputError(
      'predictionExpect',
      "Input 'predictionExpect' is set but 'predictionRequest' is empty: write the request to check (e.g. POST /score @sample-input.json) or clear 'predictionExpect'.",
    );
  }
  const names = new Set<string>();
  for (const c of checks) {
    if (names.has(c.name)) c.name = `${c.name} (${c.source})`;
    names.add(c.name);
  }
  return checks;
}

async function openLayout(dir: string): Promise<OciLayout> {
  try {
    return await OciLayout.open(dir);
  } catch (err) {
    throw new InputError('imageLayout', `Input 'imageLayout': ${isUserError(err) ? err.message : errorMessage(err)}`, err);
  }
}

async function main(): Promise<void> {
  const signal = adapter.cancellationSignal('The job was cancelled: the test container and the loaded image were removed.');
  const layoutDir = adapter.getRequiredString('imageLayout');
  const modelSha256 = parseSha256Hex(
    adapter.getString('modelSha256')?.replace(/^sha256:/i, ''),
    'modelSha256',
    "pass FetchModel's modelSha256 output or leave it empty",
  );
  const engineChoice = adapter.getChoice<EngineChoice>('engine', ['auto', 'docker', 'podman'], 'auto');
  const network = adapter.getChoice<NetworkMode>('network', ['publish', 'host'], RUN_DEFAULTS.network);
  const containerPort = adapter.getString('containerPort') ? adapter.getInt('containerPort', { defaultValue: 0 }) : undefined;
  const env = parseKeyValues(adapter.getLines('env', { quiet: true }), 'env', 'env');
  for (const [k, v] of env) if (SECRET_KEY.test(k)) adapter.registerSecret(v);
  const readinessPath = adapter.getString('readinessPath', { defaultValue: RUN_DEFAULTS.readinessPath }) ?? '';
  if (readinessPath && !readinessPath.startsWith('/'))
    throw new InputError('readinessPath', `Input 'readinessPath' must start with '/' (got '${readinessPath}'), or be empty to wait for the TCP port.`);
  const versionPath = adapter.getString('versionPath', { defaultValue: RUN_DEFAULTS.versionPath }) ?? '';
  if (versionPath && !versionPath.startsWith('/'))
    throw new InputError('versionPath', `Input 'versionPath' must start with '/' (got '${versionPath}'), or be empty to skip the identity check.`);
  const options = {
    readinessTimeoutSeconds: adapter.getInt('readinessTimeoutSeconds', { defaultValue: RUN_DEFAULTS.readinessTimeoutSeconds }),
    requestTimeoutSeconds: adapter.getInt('requestTimeoutSeconds', { defaultValue: RUN_DEFAULTS.requestTimeoutSeconds }),
    logLines: adapter.getInt('logLines', { defaultValue: RUN_DEFAULTS.logLines }),
    versionSha256Path: adapter.getString('versionSha256Path', { defaultValue: RUN_DEFAULTS.versionSha256Path }) ?? RUN_DEFAULTS.versionSha256Path,
  };
  jsonPathInput(options.versionSha256Path, 'versionSha256Path');
  const checks = readChecks();
  const layout = await openLayout(layoutDir);
  const image = await resolveImage(layout, adapter.getString('sourceTag'), containerPort);
  const engine = await detectEngine(engineChoice, { signal, input: 'engine' });
  const result = await testImage({
    layout,
    image,
    engine,
    network,
    env,
    readinessPath,
    versionPath,
    modelSha256,
    checks,
    signal,
    logger: adapter.taskLogger,
    mask: adapter.maskSecrets,
    ...options,
  });
  const passed = !result.failure;
  adapter.setOutput('passed', String(passed));
  adapter.setOutput(
    'checkResults',
    adapter.maskSecrets(JSON.stringify(result.outcomes.map((o) => ({ name: o.check.name, passed: o.passed, failures: o.failures })))),
  );
  adapter.setOutput(
    'failedChecks',
    result.outcomes
      .filter((o) => !o.passed)
      .map((o) => o.check.name)
      .join(','),
  );
  if (result.readySeconds !== undefined) adapter.setOutput('readySeconds', result.readySeconds);
  if (result.reported?.sha256) adapter.setOutput('reportedModelSha256', result.reported.sha256);
  if (result.reported?.version) adapter.setOutput('reportedModelVersion', adapter.maskSecrets(result.reported.version));
  if (result.reported?.document !== undefined) adapter.setOutput('reportedModel', adapter.maskSecrets(JSON.stringify(result.reported.document)).slice(0, 2000));
  adapter.uploadSummary('Model image test', result.summary);
  if (result.failure) throw result.failure;
  adapter.succeed(
    `The image passed ${result.outcomes.length} check(s) on ${result.engine}: ready in ${result.readySeconds} s${result.reported?.sha256 ? `, serving model sha256 ${result.reported.sha256}` : ''}.`,
  );
}

void adapter.runTask(main, { inputRules: INPUT_RULES.TestModelImage });
