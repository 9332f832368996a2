/**
 * One table of input rules (shared/inputs/rules.ts), two places it applies:
 * the classic editor's `validation` the build writes into the shipped
 * task.json, and the adapter's check at run time. The expressions of the
 * shipped task.json are evaluated here the way the service does (isMatch,
 * isInRange, and) on the same samples as the runtime check: they must agree.
 * Every numeric input has a range and every patterned input a rule.
 */
import { strict as assert } from 'node:assert';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { INPUT_RULES, ruleViolation, type InputRule } from '../../../shared/inputs/rules';
import { shippedTaskJson } from '../../../scripts/lib/task-validation';

const root = join(__dirname, '..', '..', '..');
const taskNames = readdirSync(join(root, 'tasks')).filter((n) => existsSync(join(root, 'tasks', n, 'task.json')));

interface Input {
  name: string;
  type: string;
  defaultValue?: string | boolean;
  validation?: { expression: string; message: string };
}

// ------------------------------------------------------------------ the service's expression functions
type Value = string | number | boolean;

/** Evaluates a task input validation expression for `value`: and/or/not, isMatch, isInRange. */
export function evaluate(expression: string, value: string): boolean {
  let pos = 0;
  const ws = () => {
    while (/\s/.test(expression[pos] ?? '')) pos++;
  };
  const parse = (): Value => {
    ws();
    if (expression[pos] === "'") {
      let s = '';
      pos++;
      for (;;) {
        const c = expression[pos++];
        if (c === undefined) throw new Error(`unterminated string in ${expression}`);
        if (c === "'") {
          if (expression[pos] === "'") {
            s += "'";
            pos++;
            continue;
          }
          return s;
        }
        s += c;
      }
    }
    const num = /^-?\d+(\.\d+)?/.exec(expression.slice(pos));
    if (num) {
      pos += num[0].length;
      return Number(num[0]);
    }
    const id = /^[A-Za-z]+/.exec(expression.slice(pos));
    if (!id) throw new Error(`cannot parse ${expression} at ${pos}`);
    pos += id[0].length;
    if (id[0] === 'value') return value;
    ws();
    assert.equal(expression[pos++], '(', `call expected in ${expression}`);
    const args: Value[] = [];
    for (;;) {
      ws();
      if (expression[pos] === ')') {
        pos++;
        break;
      }
      args.push(parse());
      ws();
      if (expression[pos] === ',') pos++;
    }
    return call(id[0], args);
  };
  const result = parse();
  ws();
  assert.equal(pos, expression.length, `trailing text in ${expression}`);
  return result === true;
}

function call(fn: string, args: Value[]): boolean {
  switch (fn.toLowerCase()) {
    case 'and':
      return args.every((a) => a === true);
    case 'or':
      return args.some((a) => a === true);
    case 'not':
      return args[0] !== true;
    case 'ismatch': {
      const [v, re, options] = args.map(String) as [string, string, string];
      const flags = (options ?? '').split(',').map((o) => o.trim().toLowerCase());
      return new RegExp(re, flags.includes('ignorecase') ? 'i' : '').test(v);
    }
    case 'isinrange': {
      const [v, min, max] = args.map(Number) as [number, number, number];
      return Number.isFinite(v) && String(args[0]).trim() !== '' && v >= min && v <= max;
    }
    default:
      throw new Error(`validation function ${fn} is not one the service offers here`);
  }
}

// ------------------------------------------------------------------ samples
const HEX = 'ab'.repeat(32);
const PATTERN_SAMPLES = [
  HEX,
  HEX.toUpperCase(),
  `sha256:${HEX}`,
  `SHA256:${HEX}`,
  HEX.slice(1),
  `${HEX}0`,
  'zz'.repeat(32),
  '8080',
  '8080/tcp',
  '9000/UDP',
  '8080/http',
  '8080, 9000/udp',
  '8080\n9000',
  'models/scorer',
  'models',
  '/models/scorer/',
  'Models/scorer',
  'contoso.azurecr.io/models/scorer',
  'localhost:5000/models/x',
  'models/scorer:1',
  'models/scorer@sha256:abc',
  'models//scorer',
  'models/sc__orer',
  'v1',
  'v1, v2',
  'v1,v2,',
  'v1\nv2',
  '# the build\nv1\n\nlatest',
  'v1 v2',
  '.hidden',
  '-dash',
  'a'.repeat(128),
  'a'.repeat(129),
  'v1\r\nv2',
  '1',
  '25%',
  '%',
  '1.5',
  'abc',
];

const intSamples = (rule: InputRule & { kind: 'int' }) => [
  String(rule.min),
  String(rule.max),
  String(rule.max + 1),
  ...(rule.min > 0 ? [String(rule.min - 1)] : []),
  '-1',
  '1.5',
  'abc',
  '0x10',
  '1e3',
];

describe('input rules: one table for the editor and the run', () => {
  it('evaluates expressions the way the service does (self-check)', () => {
    assert.equal(evaluate("and(isMatch(value, '^[0-9]+$', 'None'), isInRange(value, 1, 64))", '64'), true);
    assert.equal(evaluate("and(isMatch(value, '^[0-9]+$', 'None'), isInRange(value, 1, 64))", '65'), false);
    assert.equal(evaluate("isMatch(value, '^a''b$', 'IgnoreCase')", "A'B"), true);
    assert.throws(() => evaluate('isUrl(value)', 'x'), /not one the service offers/);
  });

  for (const name of taskNames) {
    describe(name, () => {
      const source = readFileSync(join(root, 'tasks', name, 'task.json'), 'utf8');
      const shipped = JSON.parse(shippedTaskJson(name, source)) as { inputs: Input[] };
      const committed = JSON.parse(source) as { inputs: Input[] };
      const rules = INPUT_RULES[name] ?? {};

      it('ships a validation for every rule, and only for them; the committed task.json has none (the schema allows none)', () => {
        for (const i of committed.inputs)
          assert.equal(i.validation, undefined, `tasks/${name}/task.json ${i.name} has a validation: put the rule in shared/inputs/rules.ts`);
        for (const i of shipped.inputs)
          assert.equal(i.validation !== undefined, i.name in rules, `${i.name}: validation without rule or rule without validation`);
      });

      it('ships the committed task.json (valid against the official schema) with only validation added', () => {
        const stripped = JSON.parse(shippedTaskJson(name, source)) as { inputs: Input[] };
        for (const i of stripped.inputs) delete i.validation;
        assert.deepEqual(stripped, JSON.parse(source));
      });

      it('has a range for every numeric input and a rule for every patterned one', () => {
        const patterned = ['expectedSha256', 'modelSha256', 'repository', 'tags', 'ports', 'maxSurge', 'maxUnavailable'];
        for (const i of committed.inputs) {
          if (typeof i.defaultValue === 'string' && /^\d+$/.test(i.defaultValue) && i.type !== 'pickList')
            assert.ok(rules[i.name] !== undefined, `${name}.${i.name} (default ${i.defaultValue}) has no range in shared/inputs/rules.ts`);
          if (patterned.includes(i.name)) assert.equal(rules[i.name]?.kind, 'pattern', `${name}.${i.name} has no pattern in shared/inputs/rules.ts`);
        }
      });

      for (const [input, rule] of Object.entries(rules)) {
        it(`${input}: the editor's validation and the run-time check agree`, () => {
          const validation = shipped.inputs.find((i) => i.name === input)?.validation;
          assert.ok(validation, `no validation shipped for ${input}`);
          assert.ok(validation.message.length > 10);
          const samples = rule.kind === 'int' ? intSamples(rule) : PATTERN_SAMPLES;
          let accepted = 0;
          for (const sample of samples) {
            const editor = evaluate(validation.expression, sample);
            const runtime = ruleViolation(rule, sample) === undefined;
            assert.equal(editor, runtime, `${input} = ${JSON.stringify(sample)}: editor says ${editor}, run time says ${runtime}`);
            if (editor) accepted++;
          }
          assert.ok(accepted > 0 && accepted < samples.length, `${input}: the samples do not exercise the rule (accepted ${accepted} of ${samples.length})`);
        });
      }
    });
  }
});
