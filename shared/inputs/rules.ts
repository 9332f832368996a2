/**
 * The one table of input rules: the range of every numeric input and the
 * pattern of every patterned one, per task. The build writes each rule into
 * the shipped task.json as the classic editor's `validation` (see
 * scripts/lib/task-validation.ts), and the adapter applies the same rule to
 * the value the task receives (`runTask(main, { inputRules })` checks them all
 * before the task starts; `getInt` takes its range from here). A test runs
 * both on the same samples (tests/unit/inputs/rules.test.ts).
 *
 * Patterns are written in the subset JavaScript and .NET read alike (the
 * editor evaluates them on the server), without anchors: a single value must
 * match whole; a `list` input (one item per line or comma separated, `#`
 * lines are comments) must have every item match.
 */
import { inputLines, listItems } from './parse';

export interface IntRule {
  kind: 'int';
  min: number;
  max: number;
}
export interface PatternRule {
  kind: 'pattern';
  /** Without ^ $: the whole value (or each list item) must match. */
  pattern: string;
  ignoreCase: boolean;
  /** A list input: each item must match. */
  list?: boolean;
  /** What a valid value is, completing "Input 'x' ...". */
  message: string;
}
export type InputRule = IntRule | PatternRule;
export type InputRules = Readonly<Record<string, InputRule>>;

const int = (min: number, max: number): IntRule => ({ kind: 'int', min, max });
/** networkTimeout (seconds) and networkDeadline (minutes), the same in every task. */
export const NETWORK_RULES = { networkTimeout: int(1, 3600), networkDeadline: int(1, 10080) };
const SHA256_HEX: PatternRule = { kind: 'pattern', pattern: '[0-9a-f]{64}', ignoreCase: true, message: 'must be 64 hexadecimal characters (a sha256)' };
const TAGS: PatternRule = {
  kind: 'pattern',
  pattern: '[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}',
  ignoreCase: false,
  list: true,
  message: "must list tags of letters, digits, '_', '.' and '-' (at most 128, not starting with '.' or '-'), one per line or comma separated",
};

/** Rules by task name, then input name. */
export const INPUT_RULES: Readonly<Record<string, InputRules>> = {
  FetchModel: {
    concurrency: int(1, 64),
    blockSizeMiB: int(1, 256),
    retries: int(0, 20),
    ...NETWORK_RULES,
    expectedSha256: {
      kind: 'pattern',
      pattern: '(sha256:)?[0-9a-f]{64}',
      ignoreCase: true,
      message: "must be 64 hexadecimal characters (a sha256 digest, optionally prefixed 'sha256:')",
    },
  },
  BundleModelImage: {
    ...NETWORK_RULES,
    modelSha256: SHA256_HEX,
    tags: TAGS,
    ports: {
      kind: 'pattern',
      pattern: '[0-9]{1,5}(/(tcp|udp|sctp))?',
      ignoreCase: true,
      list: true,
      message: 'must list ports like 8080, 8080/tcp or 9000/udp, one per line or comma separated',
    },
  },
  PushToACR: {
    chunkSizeMiB: int(1, 1024),
    concurrency: int(1, 16),
    ...NETWORK_RULES,
    repository: {
      kind: 'pattern',
      pattern: '/*([A-Za-z0-9.-]+(:[0-9]+)?/)?[a-z0-9]+((\\.|_|__|-+)[a-z0-9]+)*(/[a-z0-9]+((\\.|_|__|-+)[a-z0-9]+)*)*/*',
      ignoreCase: false,
      message: "must be a repository name of lowercase letters, digits and separators such as 'models/scorer', without tag or digest",
    },
    tags: TAGS,
  },
  TestModelImage: {
    containerPort: int(1, 65535),
    readinessTimeoutSeconds: int(1, 3600),
    requestTimeoutSeconds: int(1, 3600),
    logLines: int(0, 10000),
    modelSha256: {
      kind: 'pattern',
      pattern: '(sha256:)?[0-9a-f]{64}',
      ignoreCase: true,
      message: "must be 64 hexadecimal characters (a sha256 digest, optionally prefixed 'sha256:')",
    },
  },
  DeployToAKS: {
    replicas: int(0, 1000),
    containerPort: int(1, 65535),
    servicePort: int(1, 65535),
    startupTimeoutSeconds: int(5, 86400),
    gpuLimit: int(0, 64),
    progressDeadlineSeconds: int(1, 2147483647),
    rolloutTimeoutSeconds: int(1, 86400),
    statusPollIntervalMs: int(100, 60000),
    // canary releases (shared/k8s/canary.ts reads its ranges from here)
    percentage: int(1, 99),
    baselineAndCanaryReplicas: int(1, 100),
    ...NETWORK_RULES,
    modelSha256: SHA256_HEX,
    maxSurge: { kind: 'pattern', pattern: '[0-9]+%?', ignoreCase: false, message: "must be a number of pods or a percentage, e.g. '1' or '25%'" },
    maxUnavailable: { kind: 'pattern', pattern: '[0-9]+%?', ignoreCase: false, message: "must be a number of pods or a percentage, e.g. '0' or '25%'" },
  },
};

/** What a valid value is, completing "Input 'x' ...". */
export function ruleMessage(rule: InputRule): string {
  return rule.kind === 'int' ? `must be a whole number between ${rule.min} and ${rule.max}` : rule.message;
}

/** The part of `raw` that breaks `rule` (the value, or the list item), or undefined when it keeps it. Empty values keep every rule. */
export function ruleViolation(rule: InputRule, raw: string | undefined): string | undefined {
  const value = (raw ?? '').trim();
  if (value === '') return undefined;
  if (rule.kind === 'int') {
    if (!/^[0-9]+$/.test(value)) return value;
    const n = Number(value);
    return n < rule.min || n > rule.max ? value : undefined;
  }
  const re = new RegExp(`^(${rule.pattern})$`, rule.ignoreCase ? 'i' : '');
  if (!rule.list) return re.test(value) ? undefined : value;
  return listItems(inputLines(value)).find((item) => !re.test(item));
}
