/**
 * The sample pipelines (samples/*.yml) against our task.json files: every task
 * they use exists with that major version, every input they set exists (or is
 * an alias), every required input that is visible (visibleRule evaluated on
 * the values set or defaulted) is set, and every output variable they
 * reference ($(step.var) within a job, stageDependencies.<stage>.<job>.outputs
 * ['<step>.<var>'] across stages) is declared by the task of that step, which
 * runs before the reference. Template conditionals (${{ if }} / ${{ else }}
 * keys) are expanded into each of their branches.
 */
import { strict as assert } from 'node:assert';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as yaml from 'js-yaml';
import { loadSpecFile } from '../../../shared/check';

const root = join(__dirname, '..', '..', '..');

interface TaskInput {
  name: string;
  required?: boolean;
  defaultValue?: string | boolean;
  visibleRule?: string;
  aliases?: string[];
}
interface TaskJson {
  name: string;
  version: { Major: number };
  inputs: TaskInput[];
  outputVariables?: Array<{ name: string }>;
}
type Yaml = Record<string, unknown>;

const tasks = new Map<string, TaskJson>();
for (const n of readdirSync(join(root, 'tasks'))) {
  const p = join(root, 'tasks', n, 'task.json');
  if (existsSync(p)) {
    const t = JSON.parse(readFileSync(p, 'utf8')) as TaskJson;
    tasks.set(t.name, t);
  }
}

/** Evaluates a visibleRule like "a = x && b != y || c = z" (&& binds tighter, as in the agent's UI). */
export function evaluateRule(rule: string, value: (input: string) => string | undefined): boolean {
  return rule.split('||').some((any) =>
    any.split('&&').every((clause) => {
      const m = clause.trim().match(/^([A-Za-z][A-Za-z0-9]*)\s*(!=|=)\s*(.*)$/);
      if (!m) throw new Error(`visibleRule clause not understood: '${clause.trim()}'`);
      const [, name, op, expected] = m as unknown as [string, string, string, string];
      const actual = value(name) ?? '';
      const eq = actual.toLowerCase() === expected.trim().toLowerCase();
      return op === '=' ? eq : !eq;
    }),
  );
}

/** Expands `${{ if }}`/`${{ elseif }}`/`${{ else }}` keys of a mapping into every combination of branches. */
export function expandConditionals(map: Yaml): Yaml[] {
  let variants: Yaml[] = [{}];
  const entries = Object.entries(map);
  for (let i = 0; i < entries.length; i++) {
    const [key, value] = entries[i] as [string, unknown];
    if (/^\$\{\{\s*if\b/.test(key)) {
      const branches: Yaml[] = [value as Yaml];
      let hasElse = false;
      while (i + 1 < entries.length && /^\$\{\{\s*(elseif|else)\b/.test((entries[i + 1] as [string, unknown])[0])) {
        i++;
        const [k2, v2] = entries[i] as [string, unknown];
        if (/^\$\{\{\s*else\s*\}\}$/.test(k2)) hasElse = true;
        branches.push(v2 as Yaml);
      }
      if (!hasElse) branches.push({});
      const next: Yaml[] = [];
      for (const v of variants) for (const b of branches) for (const bv of expandConditionals(b)) next.push({ ...v, ...bv });
      variants = next;
    } else {
      for (const v of variants) v[key] = value;
    }
  }
  return variants;
}

interface Step {
  raw: Yaml;
  stage: string;
  job: string;
  index: number;
  name?: string;
  task?: string;
}

function jobSteps(job: Yaml): Yaml[] {
  if (Array.isArray(job.steps)) return job.steps as Yaml[];
  // Deployment jobs: steps live under the strategy's lifecycle hooks.
  const strategy = (job.strategy ?? {}) as Record<string, Record<string, { steps?: Yaml[] }>>;
  const out: Yaml[] = [];
  for (const s of Object.values(strategy)) for (const hook of Object.values(s ?? {})) out.push(...(hook?.steps ?? []));
  return out;
}

function collect(doc: Yaml): { steps: Step[]; stages: Yaml[] } {
  const stages = (doc.stages as Yaml[] | undefined) ?? [{ stage: '__default', jobs: doc.jobs ?? [{ job: '__default', steps: doc.steps }] }];
  const steps: Step[] = [];
  for (const stage of stages) {
    for (const job of (stage.jobs as Yaml[]) ?? []) {
      const jobName = String(job.job ?? job.deployment);
      jobSteps(job).forEach((raw, index) => {
        steps.push({ raw, stage: String(stage.stage), job: jobName, index, name: raw.name as string | undefined, task: raw.task as string | undefined });
      });
    }
  }
  return { steps, stages };
}

/** Every string in a YAML tree. */
function strings(node: unknown, out: string[] = []): string[] {
  if (typeof node === 'string') out.push(node);
  else if (Array.isArray(node)) for (const n of node) strings(n, out);
  else if (node && typeof node === 'object')
    for (const [k, v] of Object.entries(node)) {
      out.push(k);
      strings(v, out);
    }
  return out;
}

/** Every task step uses one of our tasks at its existing major version. */
function checkTaskVersions(file: string, ours: Step[]): void {
  for (const s of ours) {
    const [name, major] = (s.task as string).split('@');
    const t = tasks.get(name as string);
    assert.ok(t, `${file}: task ${name} does not exist in tasks/*/task.json`);
    assert.equal(String(t.version.Major), major, `${file}: ${s.task} but task.json has major version ${t.version.Major}`);
  }
}

/** Every input set exists (or is an alias); every visible required input is set, in every branch of the conditionals. */
function checkInputs(file: string, ours: Step[]): void {
  for (const s of ours) {
    const t = tasks.get((s.task as string).split('@')[0] as string) as TaskJson;
    const byName = new Map<string, TaskInput>();
    for (const i of t.inputs) for (const n of [i.name, ...(i.aliases ?? [])]) byName.set(n, i);
    for (const inputs of expandConditionals((s.raw.inputs ?? {}) as Yaml)) {
      const set = new Map<string, string>();
      for (const [k, v] of Object.entries(inputs)) {
        const input = byName.get(k);
        assert.ok(input, `${file}: ${s.task} step '${s.name}' sets unknown input '${k}'`);
        set.set(input.name, String(v));
      }
      const value = (n: string) => set.get(n) ?? (t.inputs.find((i) => i.name === n)?.defaultValue as string | undefined);
      for (const i of t.inputs) {
        if (!i.required) continue;
        if (i.visibleRule && !evaluateRule(i.visibleRule, value)) continue;
        const v = value(i.name);
        assert.ok(
          v !== undefined && v !== '',
          `${file}: ${s.task} step '${s.name}' leaves required input '${i.name}' unset${i.visibleRule ? ` (visible: ${i.visibleRule})` : ''}`,
        );
      }
    }
  }
}

function checkStepNames(file: string, ours: Step[]): void {
  for (const s of ours) assert.ok(s.name && /^[A-Za-z_][A-Za-z0-9_]*$/.test(s.name), `${file}: ${s.task} step without a valid name`);
}

/** $(step.var) references within a job: declared by that step's task, which runs before. Returns how many were checked. */
function checkStepOutputs(file: string, steps: Step[]): number {
  let refs = 0;
  for (const s of steps) {
    const sameJob = steps.filter((o) => o.stage === s.stage && o.job === s.job && o.name);
    for (const text of strings(s.raw)) {
      for (const m of text.matchAll(/\$\(([A-Za-z_][A-Za-z0-9_]*)\.([A-Za-z_][A-Za-z0-9_]*)\)/g)) {
        const [, stepName, variable] = m as unknown as [string, string, string];
        const producer = sameJob.find((o) => o.name === stepName);
        if (!producer) continue; // Build.BuildId and other predefined variables
        const t = tasks.get(String(producer.task).split('@')[0] as string);
        assert.ok(t, `${file}: $(${stepName}.${variable}) refers to a step that is not one of our tasks`);
        assert.ok(
          t.outputVariables?.some((o) => o.name === variable),
          `${file}: $(${stepName}.${variable}): ${t.name} has no output '${variable}'`,
        );
        assert.ok(producer.index < s.index, `${file}: $(${stepName}.${variable}) is used before step '${stepName}' runs`);
        refs++;
      }
    }
  }
  return refs;
}

/** stageDependencies references: the stage depends on the producer's stage, whose step's task declares the output. Returns how many were checked. */
function checkStageOutputs(file: string, stages: Yaml[], steps: Step[]): number {
  let refs = 0;
  for (const stage of stages) {
    for (const text of strings(stage)) {
      for (const m of text.matchAll(/stageDependencies\.([A-Za-z0-9_]+)\.([A-Za-z0-9_]+)\.outputs\['([A-Za-z0-9_]+)\.([A-Za-z0-9_]+)'\]/g)) {
        const [, stageName, jobName, stepName, variable] = m as unknown as [string, string, string, string, string];
        const deps = ([] as string[]).concat((stage.dependsOn as string | string[] | undefined) ?? []);
        assert.ok(deps.includes(stageName), `${file}: stage ${String(stage.stage)} uses outputs of ${stageName} without dependsOn: ${stageName}`);
        const producer = steps.find((o) => o.stage === stageName && o.job === jobName && o.name === stepName);
        assert.ok(producer, `${file}: no step '${stepName}' in job ${stageName}.${jobName}`);
        const t = tasks.get(String(producer.task).split('@')[0] as string) as TaskJson;
        assert.ok(
          t.outputVariables?.some((o) => o.name === variable),
          `${file}: ${stageName}.${jobName}.${stepName}: ${t.name} has no output '${variable}'`,
        );
        refs++;
      }
    }
  }
  return refs;
}

const samples = readdirSync(join(root, 'samples')).filter((f) => /\.ya?ml$/.test(f));

describe('sample pipelines', () => {
  it('finds both sample pipelines', () => {
    assert.deepEqual(samples.sort(), ['azure-pipelines.model-release.yml', 'azure-pipelines.yml']);
  });

  it('evaluates visibleRules and expands conditionals like the agent', () => {
    const v = (m: Record<string, string>) => (k: string) => m[k];
    assert.equal(evaluateRule('provider = azureBlob && authType = serviceConnection', v({ provider: 'azureBlob', authType: 'serviceConnection' })), true);
    assert.equal(evaluateRule('provider = azureBlob && authType = serviceConnection', v({ provider: 'azureBlob', authType: 'connectionString' })), false);
    assert.equal(evaluateRule('a = 1 || b != 2', v({ a: '0', b: '3' })), true);
    assert.deepEqual(expandConditionals({ a: 1, '${{ if eq(x, y) }}': { b: 2 }, '${{ else }}': { b: 3, c: 4 } }), [
      { a: 1, b: 2 },
      { a: 1, b: 3, c: 4 },
    ]);
    assert.deepEqual(expandConditionals({ '${{ if x }}': { b: 2 } }), [{ b: 2 }, {}]);
  });

  for (const file of samples) {
    describe(file, () => {
      const doc = yaml.load(readFileSync(join(root, 'samples', file), 'utf8')) as Yaml;
      const { steps, stages } = collect(doc);
      const ours = steps.filter((s) => s.task);

      it('uses the four tasks (the main sample also TestModelImage), each at an existing major version', () => {
        const four = ['BundleModelImage', 'DeployToAKS', 'FetchModel', 'PushToACR'];
        const expected = file === 'azure-pipelines.yml' ? [...four, 'TestModelImage'] : four;
        assert.deepEqual([...new Set(ours.map((s) => s.task?.split('@')[0]))].sort(), expected);
        checkTaskVersions(file, ours);
      });

      if (file === 'azure-pipelines.yml') {
        it('tests the bundled image between BundleModelImage and PushToACR, with a spec file that exists', () => {
          const order = ours.map((s) => s.task?.split('@')[0]);
          const test = order.indexOf('TestModelImage');
          assert.ok(order.indexOf('BundleModelImage') < test && test < order.indexOf('PushToACR'), order.join(' -> '));
          const inputs = ours[test]?.raw.inputs as Record<string, string>;
          assert.equal(inputs.imageLayout, '$(image.imageLayout)');
          assert.ok(existsSync(join(root, inputs.checkSpec as string)), `checkSpec ${inputs.checkSpec} exists`);
          assert.deepEqual(
            loadSpecFile(join(root, inputs.checkSpec as string), 'checkSpec').map((c) => c.name),
            ['prediction', 'malformed input is refused'],
          );
        });
      }

      it('sets only inputs that exist, and every visible required input', () => {
        checkInputs(file, ours);
      });

      it('names every task step, so its outputs can be referenced', () => {
        checkStepNames(file, ours);
      });

      it('references only declared output variables, of steps that ran before, within a job', () => {
        const refs = checkStepOutputs(file, steps);
        assert.ok(refs >= 10, `only ${refs} step output references found`);
      });

      it('references only declared outputs across stages, of stages it depends on', () => {
        const refs = checkStageOutputs(file, stages, steps);
        assert.ok(refs >= 3, `only ${refs} cross-stage output references found`);
      });

      it('deploys the pushed digest from a deployment job with an environment, after publishing the image layout', () => {
        const deployStep = ours.find((s) => s.task?.startsWith('DeployToAKS@')) as Step;
        const deployStage = stages.find((st) => st.stage === deployStep.stage) as Yaml;
        const job = ((deployStage.jobs as Yaml[]) ?? []).find((j) => j.deployment === deployStep.job) as Yaml;
        assert.ok(job?.environment, 'DeployToAKS runs in a deployment job with an environment');
        const image = String((deployStep.raw.inputs as Yaml).image);
        const variables = (deployStage.variables ?? {}) as Record<string, string>;
        const name = image.match(/^\$\((\w+)\)$/)?.[1] as string;
        assert.match(variables[name] ?? '', /stageDependencies\.\w+\.\w+\.outputs\['push\.imageRef'\]/);
        const build = steps.filter((s) => s.stage !== deployStep.stage);
        const publishIndex = build.findIndex((s) => typeof s.raw.publish === 'string' && /\$\(image\.imageLayout\)/.test(s.raw.publish as string));
        const pushIndex = build.findIndex((s) => s.task?.startsWith('PushToACR@'));
        assert.ok(publishIndex >= 0 && publishIndex < pushIndex, 'the OCI layout is published as an artifact before the push');
      });
    });
  }

  describe('catches a broken sample', () => {
    // The checks above, on a small valid pipeline and on copies of it broken one way each.
    const GOOD = `
stages:
  - stage: Build
    jobs:
      - job: B
        steps:
          - task: FetchModel@0
            name: model
            inputs:
              provider: azureBlob
              authType: serviceConnection
              azureSubscription: conn
              storageAccount: acct
              container: models
              modelPath: m/
          - script: echo $(model.modelUri) $(Build.BuildId)
  - stage: Deploy
    dependsOn: Build
    variables:
      uri: $[ stageDependencies.Build.B.outputs['model.modelUri'] ]
    jobs:
      - job: D
        steps:
          - script: echo $(uri)
`;
    function checkAll(text: string): { stepRefs: number; stageRefs: number } {
      const { steps, stages } = collect(yaml.load(text) as Yaml);
      const ours = steps.filter((s) => s.task);
      checkTaskVersions('broken.yml', ours);
      checkInputs('broken.yml', ours);
      checkStepNames('broken.yml', ours);
      return { stepRefs: checkStepOutputs('broken.yml', steps), stageRefs: checkStageOutputs('broken.yml', stages, steps) };
    }
    function broken(from: string, to: string): string {
      assert.ok(GOOD.includes(from), from);
      return GOOD.replace(from, to);
    }

    it('passes the valid pipeline, counting its references', () => {
      assert.deepEqual(checkAll(GOOD), { stepRefs: 1, stageRefs: 1 });
    });

    const cases: Array<[string, string, string, RegExp]> = [
      ['a task that does not exist', 'task: FetchModel@0', 'task: FetchModels@0', /task FetchModels does not exist/],
      ['a major version that does not exist', 'task: FetchModel@0', 'task: FetchModel@1', /FetchModel@1 but task.json has major version 0/],
      ['an unknown (misspelt) input', 'storageAccount: acct', 'storageAcount: acct', /sets unknown input 'storageAcount'/],
      [
        'a visible required input left unset',
        '              container: models\n',
        '',
        /leaves required input 'container' unset \(visible: provider = azureBlob\)/,
      ],
      [
        'a required input unset in one branch of a conditional',
        '              authType: serviceConnection\n',
        "              ${{ if eq(variables.useKey, 'true') }}:\n                authType: connectionString\n",
        /leaves required input 'connectionString' unset/,
      ],
      ['a task step without a name', '            name: model\n', '', /FetchModel@0 step without a valid name/],
      [
        'an output the task does not declare',
        'echo $(model.modelUri)',
        'echo $(model.modelDigest)',
        /\$\(model\.modelDigest\): FetchModel has no output 'modelDigest'/,
      ],
      ['a cross-stage output without dependsOn', '    dependsOn: Build\n', '', /stage Deploy uses outputs of Build without dependsOn: Build/],
      ['a cross-stage output of a step that does not exist', "outputs['model.modelUri']", "outputs['fetch.modelUri']", /no step 'fetch' in job Build\.B/],
      [
        'a cross-stage output the task does not declare',
        "outputs['model.modelUri']",
        "outputs['model.modelDigest']",
        /Build\.B\.model: FetchModel has no output 'modelDigest'/,
      ],
    ];
    for (const [what, from, to, message] of cases) {
      it(`fails on ${what}`, () => {
        assert.throws(
          () => checkAll(broken(from, to)),
          (e: unknown) => e instanceof assert.AssertionError && message.test(e.message) && e.message.startsWith('broken.yml: '),
        );
      });
    }

    it('fails on an output used before its step runs', () => {
      // The script moved before the step it reads.
      const text = GOOD.replace('          - script: echo $(model.modelUri) $(Build.BuildId)\n', '').replace(
        '          - task: FetchModel@0\n',
        '          - script: echo $(model.modelUri) $(Build.BuildId)\n          - task: FetchModel@0\n',
      );
      assert.notEqual(text, GOOD);
      assert.throws(() => checkAll(text), /broken\.yml: \$\(model\.modelUri\) is used before step 'model' runs/);
    });
  });
});
