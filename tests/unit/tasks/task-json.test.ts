/**
 * Every task.json against the official schema (tasks.schema.json from the
 * azure-pipelines-task-lib repository, kept in ../shared/schemas) and against
 * the rules tfx and the agent apply but the schema does not express.
 */
import { strict as assert } from 'node:assert';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import Ajv from 'ajv-draft-04';
import { inCI } from '../../helpers/ci.cjs';

const root = join(__dirname, '..', '..', '..');
const schemaPath = join(root, '..', 'shared', 'schemas', 'tasks.schema.json');

interface TaskInput {
  name: string;
  type: string;
  label: string;
  helpMarkDown?: string;
  groupName?: string;
  visibleRule?: string;
  required?: boolean;
  defaultValue?: string | boolean;
  options?: Record<string, string>;
  aliases?: string[];
}
interface TaskJson {
  id: string;
  name: string;
  friendlyName: string;
  instanceNameFormat?: string;
  groups?: Array<{ name: string }>;
  inputs: TaskInput[];
  outputVariables?: Array<{ name: string; description?: string }>;
  execution: Record<string, { target: string }>;
  dataSourceBindings?: Array<{ target?: string }>;
}

const taskNames = readdirSync(join(root, 'tasks')).filter((n) => existsSync(join(root, 'tasks', n, 'task.json')));
const load = (name: string): TaskJson => JSON.parse(readFileSync(join(root, 'tasks', name, 'task.json'), 'utf8')) as TaskJson;

/** Input names a visibleRule refers to, e.g. "a = x && b != y || c NotEndsWith z". */
export function ruleInputs(rule: string): string[] {
  return rule
    .split(/&&|\|\|/)
    .map((clause) => clause.trim().match(/^([A-Za-z][A-Za-z0-9]*)\s*(=|!=|<|>|<=|>=|NotEndsWith|EndsWith|NotContains|Contains|NotStartsWith|StartsWith)/)?.[1])
    .filter((n): n is string => n !== undefined);
}

describe('task.json files', () => {
  it('finds the tasks', () => {
    assert.ok(taskNames.includes('FetchModel'), `tasks found: ${taskNames.join(', ')}`);
  });

  it('have distinct real UUIDs and names', () => {
    const ids = taskNames.map((n) => load(n).id);
    for (const id of ids) assert.match(id, /^[0-9a-f]{8}-[0-9a-f]{4}-[1-5][0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/i);
    assert.equal(new Set(ids).size, ids.length);
  });

  for (const name of taskNames) {
    describe(name, () => {
      const task = load(name);

      it('validates against the official task.json schema', function () {
        if (!existsSync(schemaPath)) {
          if (inCI()) assert.fail(`The task.json schema is missing at ${schemaPath}; CI must have ../shared/schemas.`);
          console.log(`      (schema not found at ${schemaPath}: schema validation not run)`);
          this.skip();
        }
        const schema = JSON.parse(readFileSync(schemaPath, 'utf8')) as Record<string, unknown>;
        delete schema.id;
        const ajv = new Ajv({ allErrors: true, strict: false, unicodeRegExp: false });
        const validate = ajv.compile(schema);
        const ok = validate(task);
        assert.ok(ok, JSON.stringify(validate.errors, null, 2));
      });

      it('passes the checks tfx makes when packaging', () => {
        assert.equal(task.name, name);
        assert.match(task.name, /^[A-Za-z0-9-]+$/);
        assert.ok(task.friendlyName.length <= 40, `friendlyName too long: ${task.friendlyName.length}`);
        assert.ok(task.instanceNameFormat, 'instanceNameFormat is required');
      });

      it('declares the Node20_1 and Node24 handlers on the same bundle', () => {
        assert.deepEqual(Object.keys(task.execution).sort(), ['Node20_1', 'Node24']);
        assert.equal(task.execution.Node20_1?.target, 'index.js');
        assert.equal(task.execution.Node24?.target, 'index.js');
      });

      it('documents every input and groups them', () => {
        const groups = new Set((task.groups ?? []).map((g) => g.name));
        assert.ok(groups.size > 0, 'task has no groups');
        const names = new Set<string>();
        for (const input of task.inputs) {
          assert.ok(input.helpMarkDown && input.helpMarkDown.length > 10, `input ${input.name} has no helpMarkDown`);
          assert.ok(!names.has(input.name), `duplicate input ${input.name}`);
          names.add(input.name);
          if (input.groupName) assert.ok(groups.has(input.groupName), `input ${input.name} names unknown group ${input.groupName}`);
          if (input.type === 'pickList' || input.type === 'radio') {
            // A picker filled by a dataSourceBinding from the connection has no fixed options (as in Microsoft's tasks).
            const bound = (task.dataSourceBindings ?? []).some((b) => b.target === input.name);
            assert.ok(bound || (input.options && Object.keys(input.options).length > 0), `pick list ${input.name} has no options`);
            if (input.defaultValue !== undefined && input.defaultValue !== '') {
              assert.ok(String(input.defaultValue) in (input.options ?? {}), `default of ${input.name} is not one of its options`);
            }
          }
        }
      });

      it('has visibleRules that only name existing inputs', () => {
        const names = new Set(task.inputs.map((i) => i.name));
        for (const input of task.inputs) {
          if (!input.visibleRule) continue;
          const refs = ruleInputs(input.visibleRule);
          assert.ok(refs.length > 0, `cannot parse visibleRule of ${input.name}: ${input.visibleRule}`);
          for (const ref of refs) assert.ok(names.has(ref), `visibleRule of ${input.name} names unknown input ${ref}`);
        }
      });

      it('declares output variables', () => {
        assert.ok((task.outputVariables ?? []).length > 0);
        for (const v of task.outputVariables ?? []) assert.ok(v.description, `output ${v.name} has no description`);
      });
    });
  }
});
