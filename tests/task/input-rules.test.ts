/**
 * The run-time half of the input rules (shared/inputs/rules.ts): each task's
 * bundle, run as the agent runs it, refuses a value that breaks a rule of its
 * table before doing anything, with one line naming the input and saying what
 * a valid value is (the sentence the editor's validation message shows).
 */
import { strict as assert } from 'node:assert';
import { INPUT_RULES, ruleMessage, type InputRule } from '../../shared/inputs/rules';
import { runMock } from './mock-task';

const badValue = (rule: InputRule): string => {
  if (rule.kind === 'int') return String(rule.max + 1);
  return rule.list ? 'ok1, not ok' : 'not ok!';
};

describe('input rules at run time (every task, every rule)', function () {
  this.timeout(300_000);
  for (const [task, rules] of Object.entries(INPUT_RULES)) {
    it(`${task} refuses a value breaking each of its ${Object.keys(rules).length} rules`, async () => {
      for (const [input, rule] of Object.entries(rules)) {
        const run = await runMock({ task, inputs: { [input]: badValue(rule) } });
        assert.equal(run.result, 'Failed', `${task}.${input}: ${run.message}`);
        assert.ok(run.message.startsWith(`Input '${input}' ${ruleMessage(rule)}`), `${task}.${input}: ${run.message}`);
        assert.ok(!run.message.includes('\n'));
      }
    });
  }
});
