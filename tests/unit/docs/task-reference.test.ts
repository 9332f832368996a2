/**
 * docs/tasks/<Name>.reference.md are generated from task.json by
 * scripts/gen-task-docs.ts: the committed files must be up to date, cover
 * every input and output, and their YAML examples must be valid steps.
 */
import { strict as assert } from 'node:assert';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as yaml from 'js-yaml';
import { formsOf, loadTask, referencePath, renderTaskReference, taskNames } from '../../../scripts/gen-task-docs';

const root = join(__dirname, '..', '..', '..');

describe('task reference docs', () => {
  const names = taskNames(root);

  it('exist for the five tasks', () => {
    assert.deepEqual(names, ['BundleModelImage', 'DeployToAKS', 'FetchModel', 'PushToACR', 'TestModelImage']);
  });

  for (const name of names) {
    describe(name, () => {
      const task = loadTask(root, name);
      const path = referencePath(root, name);

      it('is up to date with task.json (regenerate: npx tsx scripts/gen-task-docs.ts)', () => {
        assert.ok(existsSync(path), `${path} is missing: run npx tsx scripts/gen-task-docs.ts`);
        assert.equal(readFileSync(path, 'utf8'), renderTaskReference(task), `${path} is out of date: run npx tsx scripts/gen-task-docs.ts`);
      });

      it('lists every input, alias and output', () => {
        const text = renderTaskReference(task);
        for (const i of task.inputs) {
          assert.ok(text.includes(`| \`${i.name}\``), `input ${i.name}`);
          for (const a of i.aliases ?? []) assert.ok(text.includes(`alias \`${a}\``), `alias ${a}`);
        }
        for (const o of task.outputVariables ?? []) assert.ok(text.includes(`| \`${o.name}\` |`), `output ${o.name}`);
        // Table rows keep their column count even when help text has pipes or line breaks.
        for (const line of text.split('\n').filter((l) => l.startsWith('| `'))) {
          const cols = line.replace(/\\\|/g, '').split('|').length - 2;
          assert.ok(cols === 7 || cols === 2, `row with ${cols} columns: ${line.slice(0, 80)}`);
        }
      });

      it('shows every input in at least one form of the editor (a visibleRule no choice satisfies hides it forever)', () => {
        const forms = formsOf(task);
        assert.ok(forms.length >= 1);
        for (const i of task.inputs)
          assert.ok(
            forms.some((f) => f.inputs.includes(i.name)),
            `no combination of choices shows ${i.name} (visibleRule ${i.visibleRule})`,
          );
        // The default form is one of them and shows every input without a visibleRule.
        for (const f of forms) for (const i of task.inputs.filter((x) => !x.visibleRule)) assert.ok(f.inputs.includes(i.name));
      });

      it('has a YAML example that sets existing inputs, every required input without a visibleRule shown', () => {
        const text = renderTaskReference(task);
        const block = text.match(/```yaml\n([\s\S]*?)```/)?.[1] ?? '';
        const steps = yaml.load(block) as Array<{ task?: string; inputs?: Record<string, unknown> }>;
        const step = steps.find((s) => s.task === `${name}@${task.version.Major}`);
        assert.ok(step?.inputs, 'the example has the task step');
        const known = new Set(task.inputs.map((i) => i.name));
        for (const k of Object.keys(step.inputs)) assert.ok(known.has(k), `example input ${k}`);
        for (const i of task.inputs.filter((x) => x.required && !x.visibleRule)) assert.ok(i.name in step.inputs, `required input ${i.name} in the example`);
      });
    });
  }
});
