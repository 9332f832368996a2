/**
 * Renders docs/tasks/<Name>.reference.md from each tasks/<Name>/task.json:
 * inputs (name, label, type, default, required, visible when, help) grouped
 * as in the task editor, aliases, every form the editor can show (the inputs
 * each combination of choice inputs makes visible), outputs, and a minimal YAML example built
 * from the required inputs. The unit test tests/unit/docs/task-reference.test.ts
 * fails when a committed reference is out of date.
 *
 *   npx tsx scripts/gen-task-docs.ts           # write the files
 *   npx tsx scripts/gen-task-docs.ts --check   # exit 1 when a file is out of date
 */
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, posix, resolve } from 'node:path';
import { isRepositoryPath, rewriteLinks } from './lib/doc-links.mjs';

export interface TaskInput {
  name: string;
  type: string;
  label: string;
  defaultValue?: string | boolean;
  required?: boolean;
  groupName?: string;
  helpMarkDown?: string;
  visibleRule?: string;
  options?: Record<string, string>;
  aliases?: string[];
}
export interface TaskJson {
  name: string;
  friendlyName: string;
  description: string;
  helpMarkDown?: string;
  version: { Major: number; Minor: number; Patch: number };
  groups?: Array<{ name: string; displayName: string }>;
  inputs: TaskInput[];
  outputVariables?: Array<{ name: string; description?: string }>;
  execution: Record<string, unknown>;
}

/** task.json links are repository paths; the reference lives in docs/tasks/. */
const fromDocsTasks = (s: string) =>
  rewriteLinks(s, (t) =>
    isRepositoryPath(t) ? posix.relative('docs/tasks', t.split('#')[0] ?? '') + (t.includes('#') ? t.slice(t.indexOf('#')) : '') : undefined,
  );
const cell = (s: string) => s.replace(/\r?\n/g, '<br>').replace(/\|/g, '\\|').trim();
const code = (s: string) => (s === '' ? '' : `\`${s.replace(/`/g, "'")}\``);

function typeOf(i: TaskInput): string {
  if (i.type.startsWith('connectedService:')) return `service connection (${i.type.slice('connectedService:'.length)})`;
  if (i.type === 'pickList' && i.options) return `pickList: ${Object.keys(i.options).map(code).join(', ')}`;
  return i.type;
}

/** Placeholder value for an input in the YAML example. */
function exampleValue(task: TaskJson, i: TaskInput): string {
  if (i.defaultValue !== undefined && i.defaultValue !== '') return String(i.defaultValue);
  if (i.type.startsWith('connectedService:')) return `my-${i.type.slice('connectedService:'.length).toLowerCase()}-connection`;
  const byName: Record<string, string> = {
    storageAccount: 'contosomodels',
    container: 'models',
    modelPath: task.name === 'FetchModel' ? 'diabetes/' : '$(model.modelPath)',
    baseImage: 'docker.io/library/node:20-slim',
    imageLayout: '$(image.imageLayout)',
    azureContainerRegistry: 'contoso.azurecr.io',
    repository: 'samples/model-api',
    resourceGroup: 'rg-model-api',
    kubernetesCluster: 'aks-model-api',
    image: '$(push.imageRef)',
    connectionString: '$(storageConnectionString)',
    bucket: 'models',
  };
  return byName[i.name] ?? `<${i.label}>`;
}

function visible(rule: string | undefined, values: Map<string, string>): boolean {
  if (!rule) return true;
  return rule.split('||').some((any) =>
    any.split('&&').every((clause) => {
      const m = clause.trim().match(/^(\w+)\s*(!=|=)\s*(.*)$/);
      if (!m) return true;
      const eq = (values.get(m[1] as string) ?? '').toLowerCase() === (m[3] as string).trim().toLowerCase();
      return m[2] === '=' ? eq : !eq;
    }),
  );
}

/** The inputs visibleRules depend on that take a fixed set of values (pick lists, radios, booleans), with those values. */
function choiceInputs(task: TaskJson): Array<{ name: string; values: string[]; defaultValue: string }> {
  const referenced = new Set(task.inputs.flatMap((i) => (i.visibleRule ?? '').match(/\b[A-Za-z][A-Za-z0-9]*(?=\s*(!=|=))/g) ?? []));
  return task.inputs
    .filter((i) => referenced.has(i.name) && (i.type === 'boolean' || ((i.type === 'pickList' || i.type === 'radio') && i.options)))
    .map((i) => {
      const values = i.type === 'boolean' ? ['false', 'true'] : Object.keys(i.options ?? {});
      return { name: i.name, values, defaultValue: i.defaultValue === undefined ? (values[0] as string) : String(i.defaultValue) };
    });
}

export interface Form {
  /** The choices that make this form (hidden choices left at their defaults are not listed). */
  choices: Array<[string, string]>;
  /** The inputs the editor shows, in task.json order. */
  inputs: string[];
}

/**
 * Every form the editor can show: one per combination of the choice inputs'
 * values, a hidden choice counting as its default; combinations that show
 * the same inputs with the same visible choices are one form.
 */
export function formsOf(task: TaskJson): Form[] {
  const choices = choiceInputs(task);
  const forms = new Map<string, Form>();
  const walk = (k: number, values: Map<string, string>) => {
    if (k === choices.length) {
      const shown = task.inputs.filter((i) => visible(i.visibleRule, values)).map((i) => i.name);
      const visibleChoices = choices.filter((c) => shown.includes(c.name)).map((c): [string, string] => [c.name, values.get(c.name) as string]);
      const hiddenOffDefault = choices.some((c) => !shown.includes(c.name) && values.get(c.name) !== c.defaultValue);
      if (hiddenOffDefault) return;
      const key = JSON.stringify([visibleChoices, shown]);
      if (!forms.has(key)) forms.set(key, { choices: visibleChoices, inputs: shown });
      return;
    }
    const c = choices[k] as { name: string; values: string[] };
    for (const v of c.values) walk(k + 1, new Map(values).set(c.name, v));
  };
  walk(0, new Map());
  return [...forms.values()];
}

function formsSection(task: TaskJson): string[] {
  const forms = formsOf(task);
  const out = ['## Forms the editor shows', ''];
  out.push(
    `Each combination of ${
      choiceInputs(task)
        .map((c) => code(c.name))
        .join(', ') || 'choices'
    } (per the inputs' visibleRules) and the inputs it shows, in order (${forms.length} forms):`,
    '',
  );
  for (const f of forms) {
    const title = f.choices.length ? f.choices.map(([n, v]) => `${n} = ${v}`).join(', ') : 'always';
    out.push(`- **${title}**: ${f.inputs.map(code).join(', ')}`);
  }
  out.push('');
  return out;
}

const STEP_NAMES: Record<string, string> = { FetchModel: 'model', BundleModelImage: 'image', TestModelImage: 'test', PushToACR: 'push', DeployToAKS: 'deploy' };

function yamlExample(task: TaskJson): string {
  const values = new Map<string, string>();
  for (const i of task.inputs) if (i.defaultValue !== undefined) values.set(i.name, String(i.defaultValue));
  const lines = [
    `- task: ${task.name}@${task.version.Major}`,
    `  name: ${STEP_NAMES[task.name] ?? task.name.charAt(0).toLowerCase() + task.name.slice(1)}`,
    '  inputs:',
  ];
  for (const i of task.inputs) {
    if (!i.required || !visible(i.visibleRule, values)) continue;
    const v = exampleValue(task, i);
    lines.push(`    ${i.name}: ${/^[\w$()./:-]+$/.test(v) && !/^\d/.test(v) ? v : JSON.stringify(v)}`);
  }
  const step = STEP_NAMES[task.name] ?? task.name;
  const outs = task.outputVariables ?? [];
  if (outs.length)
    lines.push(
      `- script: echo "${outs
        .slice(0, 3)
        .map((o) => `$(${step}.${o.name})`)
        .join(' ')}"`,
    );
  return lines.join('\n');
}

export function renderTaskReference(task: TaskJson): string {
  const out: string[] = [];
  out.push(`<!-- Generated by scripts/gen-task-docs.ts from tasks/${task.name}/task.json: do not edit by hand; run \`npx tsx scripts/gen-task-docs.ts\`. -->`);
  out.push(`# ${task.name}@${task.version.Major} reference`, '');
  out.push(`**${task.friendlyName}** (version ${task.version.Major}.${task.version.Minor}.${task.version.Patch}): ${task.description}`, '');
  if (task.helpMarkDown) out.push(fromDocsTasks(task.helpMarkDown), '');
  out.push(`Handlers: ${Object.keys(task.execution).map(code).join(', ')}. Narrative guide: [${task.name}.md](${task.name}.md).`, '');
  out.push('## Inputs', '');
  const groups = [...(task.groups ?? []), { name: '', displayName: 'Other' }];
  for (const g of groups) {
    const inputs = task.inputs.filter((i) => (i.groupName ?? '') === g.name || (g.name === '' && !groups.some((x) => x.name && x.name === i.groupName)));
    if (!inputs.length) continue;
    out.push(`### ${g.displayName}`, '');
    out.push('| Input | Label | Type | Default | Required | Visible when | Help |', '|---|---|---|---|---|---|---|');
    for (const i of inputs) {
      const name = code(i.name) + (i.aliases?.length ? ` (${i.aliases.map((a) => `alias ${code(a)}`).join(', ')})` : '');
      const def = i.defaultValue === undefined || i.defaultValue === '' ? '' : code(String(i.defaultValue));
      out.push(
        `| ${name} | ${cell(i.label)} | ${cell(typeOf(i))} | ${def} | ${i.required ? 'yes' : 'no'} | ${i.visibleRule ? code(i.visibleRule) : ''} | ${cell(fromDocsTasks(i.helpMarkDown ?? ''))} |`,
      );
    }
    out.push('');
  }
  out.push(...formsSection(task));
  out.push('## Outputs', '');
  const outs = task.outputVariables ?? [];
  if (!outs.length) out.push('None.', '');
  else {
    out.push(
      `Referenced as \`$(<step name>.<output>)\` in later steps of the job, and as \`stageDependencies.<stage>.<job>.outputs['<step name>.<output>']\` from later stages.`,
      '',
    );
    out.push('| Output | Description |', '|---|---|');
    for (const o of outs) out.push(`| ${code(o.name)} | ${cell(o.description ?? '')} |`);
    out.push('');
  }
  out.push(
    '## YAML example',
    '',
    'The required inputs with their defaults (see `samples/azure-pipelines.yml` for the whole pipeline):',
    '',
    '```yaml',
    yamlExample(task),
    '```',
    '',
  );
  return out.join('\n');
}

export function taskNames(root: string): string[] {
  return readdirSync(join(root, 'tasks'))
    .filter((n) => existsSync(join(root, 'tasks', n, 'task.json')))
    .sort();
}

export function referencePath(root: string, name: string): string {
  return join(root, 'docs', 'tasks', `${name}.reference.md`);
}

export function loadTask(root: string, name: string): TaskJson {
  return JSON.parse(readFileSync(join(root, 'tasks', name, 'task.json'), 'utf8')) as TaskJson;
}

function main(): void {
  const root = resolve(__dirname, '..');
  const check = process.argv.includes('--check');
  let stale = 0;
  for (const name of taskNames(root)) {
    const text = renderTaskReference(loadTask(root, name));
    const path = referencePath(root, name);
    const current = existsSync(path) ? readFileSync(path, 'utf8') : undefined;
    if (current === text) continue;
    if (check) {
      stale++;
      console.log(`${path} is out of date: run npx tsx scripts/gen-task-docs.ts`);
    } else {
      writeFileSync(path, text);
      console.log(`wrote ${path}`);
    }
  }
  process.exitCode = stale ? 1 : 0;
}

if (require.main === module) main();
