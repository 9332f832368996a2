/**
 * The classic editor's `validation` of each input, written by the build
 * (scripts/build.mjs) into the shipped dist/tasks/<Name>/task.json from the
 * one table of input rules (shared/inputs/rules.ts) the adapter applies at run
 * time. The committed tasks/<Name>/task.json stays valid against the official
 * schema, which has no `validation` key (Microsoft's own task.json files carry
 * it and the service reads it).
 *
 * Expressions use the service's functions as Microsoft's tasks do:
 * `isMatch(value, 'regex', 'IgnoreCase')`, `isInRange(value, min, max)`,
 * joined with `and(...)`. A string literal is single-quoted; a backslash in it
 * is literal.
 */
import { INPUT_RULES, ruleMessage, type InputRule } from '../../shared/inputs/rules';

export interface Validation {
  expression: string;
  message: string;
}

const literal = (s: string) => `'${s.replace(/'/g, "''")}'`;

/** The whole-value regex of a list rule: lines of comma-separated items, blank lines and `#` comment lines. */
export function listPattern(item: string): string {
  const line = `[ \\t]*(#[^\\r\\n]*|(${item})?([ \\t]*,[ \\t]*(${item})?)*)[ \\t]*`;
  return `^${line}(\\r?\\n${line})*$`;
}

export function validationOf(rule: InputRule): Validation {
  const message = `${ruleMessage(rule).charAt(0).toUpperCase()}${ruleMessage(rule).slice(1)}.`;
  if (rule.kind === 'int') return { expression: `and(isMatch(value, '^[0-9]+$', 'None'), isInRange(value, ${rule.min}, ${rule.max}))`, message };
  const pattern = rule.list ? listPattern(rule.pattern) : `^(${rule.pattern})$`;
  return { expression: `isMatch(value, ${literal(pattern)}, ${literal(rule.ignoreCase ? 'IgnoreCase' : 'None')})`, message };
}

interface TaskJsonInput {
  name: string;
  validation?: Validation;
}

/** The task.json to ship: the committed one with each rule of the task written as its input's `validation`. */
export function shippedTaskJson(name: string, text: string): string {
  const task = JSON.parse(text) as { inputs?: TaskJsonInput[] };
  for (const [input, rule] of Object.entries(INPUT_RULES[name] ?? {})) {
    const target = (task.inputs ?? []).find((i) => i.name === input);
    if (!target) throw new Error(`shared/inputs/rules.ts has a rule for ${name}.${input}, which tasks/${name}/task.json does not have`);
    target.validation = validationOf(rule);
  }
  return `${JSON.stringify(task, null, 2)}\n`;
}
