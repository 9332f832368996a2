/**
 * Public surface of shared/inputs/: parsers for every grammar of user text the tasks take (lines, lists, KEY=VALUE, command lines, ports, tags...).
 * Code outside this folder imports from here; modules inside import each other directly.
 */
export {
  inputLines,
  listItems,
  parseCommand,
  parseEnvLines,
  parseKeyValues,
  parseMetadataFilter,
  parsePlatform,
  parsePorts,
  parseRegistryHost,
  parseRegistryTags,
  parseRepository,
  parseSha256Hex,
} from './parse';
export { INPUT_RULES, NETWORK_RULES, ruleMessage, ruleViolation, type InputRule, type InputRules, type IntRule, type PatternRule } from './rules';
