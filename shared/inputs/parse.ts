/**
 * Parsers for the text users type into task inputs: multi-line inputs as
 * lines, lists (tags, ports, secret names), KEY=VALUE lines, command lines,
 * platforms. Pure functions, one grammar each, shared by every task and the
 * library; errors are InputErrors naming the input.
 *
 * Command lines are split by hand, not with `shell-quote`: entrypoint/cmd
 * become an exec-form argv that no shell ever sees, while shell-quote parses
 * for a shell: it expands `$VAR` (to "" when unset), turns `;`, `|`, `&&`,
 * `>` into operator objects and `#...` into a comment. `python -c "print(1)"
 * > out` or an argument `$PORT` must reach the container verbatim.
 */
import { isSha256Hex } from '../digest';
import { InputError } from '../errors';
import { isValidTag, normaliseRegistry, parseReference, registryProblem } from '../oci/reference';

/** Non-empty, trimmed lines of a multi-line input; lines starting with # are comments. */
export function inputLines(raw: string | undefined): string[] {
  return (raw ?? '')
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l.length > 0 && !l.startsWith('#'));
}

/**
 * Items of a list input: one per line or several separated by commas (as
 * Docker@2 reads its tags), each trimmed. Whitespace inside an item is kept,
 * so 'a b' stays one (invalid) tag or name and is refused by its own check.
 */
export function listItems(lines: string[]): string[] {
  return lines
    .flatMap((l) => l.split(','))
    .map((t) => t.trim())
    .filter((t) => t.length > 0);
}

/** Splits `KEY=VALUE` at the first `=` (the value may be empty and may contain `=`); undefined without one. */
export function splitKeyValue(line: string): { key: string; value: string } | undefined {
  const eq = line.indexOf('=');
  if (eq < 0) return undefined;
  return { key: line.slice(0, eq).trim(), value: line.slice(eq + 1) };
}

const ENV_KEY_RE = /^[A-Za-z_][A-Za-z0-9_.-]*$/;

/** Image env / labels / build args: `KEY=VALUE` lines, a repeated key keeping its first place and its last value. */
export function parseKeyValues(lines: string[], input: string, what: 'env' | 'labels'): Array<[string, string]> {
  const out = new Map<string, string>();
  for (const line of lines) {
    const kv = splitKeyValue(line);
    const key = kv?.key ?? '';
    if (!kv || !key || (what === 'env' && !ENV_KEY_RE.test(key)) || (what === 'labels' && /\s/.test(key))) {
      throw new InputError(
        input,
        `Input '${input}' has an invalid line '${line}': write one KEY=VALUE per line${what === 'env' ? ' (KEY: letters, digits, _ . -; not starting with a digit)' : ' (no spaces in the key)'}.`,
      );
    }
    out.set(key, kv.value);
  }
  return [...out.entries()];
}

/** Kubernetes container env names (C identifiers plus '-' and '.'). */
const K8S_ENV_NAME = /^[-._a-zA-Z][-._a-zA-Z0-9]*$/;

/** Container env for Kubernetes: `NAME=value` lines (value may contain '='); blank lines and # comments skipped. */
export function parseEnvLines(lines: string[], input = 'env'): { name: string; value: string }[] {
  const out: { name: string; value: string }[] = [];
  for (const line of lines) {
    const t = line.trim();
    if (!t || t.startsWith('#')) continue;
    const kv = splitKeyValue(t);
    if (!kv || !K8S_ENV_NAME.test(kv.key)) {
      throw new InputError(input, `Line '${t}' of '${input}' is not NAME=value with a valid variable name: write one NAME=value per line.`);
    }
    out.push({ name: kv.key, value: kv.value });
  }
  return out;
}

/** Ports like `8080`, `8080/tcp`, `53/udp` (several per line, comma or space separated), normalised and sorted. */
export function parsePorts(values: string[], input = 'ports'): string[] {
  const out = new Set<string>();
  for (const raw of values.flatMap((v) => v.split(/[\s,]+/)).filter((t) => t.length > 0)) {
    const m = /^(\d{1,5})(?:\/(tcp|udp|sctp))?$/i.exec(raw);
    const port = m ? Number(m[1]) : NaN;
    if (!m || port < 1 || port > 65535) {
      throw new InputError(
        input,
        `Input '${input}' has an invalid port '${raw}': use a number 1-65535 optionally followed by /tcp, /udp or /sctp, e.g. 8080/tcp.`,
      );
    }
    out.add(`${port}/${(m[2] ?? 'tcp').toLowerCase()}`);
  }
  return [...out].sort();
}

/** Splits a command line on whitespace; "double" quotes (with \" and \\ escapes) and 'single' quotes group, \ escapes outside quotes. */
function splitCommandLine(s: string, input: string): string[] {
  const args: string[] = [];
  let cur = '';
  let inArg = false;
  let quote: string | undefined;
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (quote) {
      if (c === quote) quote = undefined;
      else if (c === '\\' && quote === '"' && i + 1 < s.length && (s[i + 1] === '"' || s[i + 1] === '\\')) cur += s[++i];
      else cur += c;
    } else if (c === '"' || c === "'") {
      quote = c;
      inArg = true;
    } else if (/\s/.test(c as string)) {
      if (inArg) args.push(cur);
      cur = '';
      inArg = false;
    } else {
      if (c === '\\' && i + 1 < s.length) cur += s[++i];
      else cur += c;
      inArg = true;
    }
  }
  if (quote) throw new InputError(input, `Input '${input}' has an unclosed ${quote} quote.`);
  if (inArg) args.push(cur);
  return args;
}

/**
 * Command line for entrypoint/cmd: a JSON array (`["python","serve.py"]`) or a
 * shell-like string split on whitespace with "double" and 'single' quotes.
 */
export function parseCommand(raw: string | undefined, input: string): string[] | undefined {
  const s = raw?.trim();
  if (!s) return undefined;
  if (!s.startsWith('[')) return splitCommandLine(s, input);
  let parsed: unknown;
  try {
    parsed = JSON.parse(s);
  } catch {
    throw new InputError(
      input,
      `Input '${input}' starts with '[' but is not a JSON array of strings: write e.g. ["python", "serve.py"] or a plain command line.`,
    );
  }
  if (!Array.isArray(parsed) || !parsed.every((x) => typeof x === 'string')) {
    throw new InputError(input, `Input '${input}' must be a JSON array of strings, e.g. ["python", "serve.py"].`);
  }
  return parsed as string[];
}

/** `os/arch[/variant]` (the platform module owns its grammar). */
export { parsePlatform } from '../oci/platform';

/**
 * `metadataFilter` text: `key=value` pairs, one per line or comma separated,
 * whitespace trimmed. Keys are matched case-insensitively, values exactly.
 */
export function parseMetadataFilter(text: string | undefined): Record<string, string> {
  const result: Record<string, string> = {};
  if (!text) return result;
  for (const raw of text.split(/[\n\r,]+/)) {
    const entry = raw.trim();
    if (!entry) continue;
    const kv = splitKeyValue(entry);
    const key = kv?.key ?? '';
    const value = kv?.value.trim() ?? '';
    if (!kv || !key) {
      throw new InputError(
        'metadataFilter',
        `The metadataFilter entry '${entry}' is not a key=value pair: write pairs such as stage=production, one per line or separated by commas.`,
      );
    }
    if (/\s/.test(key)) {
      throw new InputError(
        'metadataFilter',
        `The metadataFilter key '${key}' contains whitespace: metadata and tag keys cannot contain spaces, check the metadataFilter input.`,
      );
    }
    const lower = key.toLowerCase();
    const previous = Object.keys(result).find((k) => k.toLowerCase() === lower);
    if (previous !== undefined && result[previous] !== value) {
      throw new InputError(
        'metadataFilter',
        `The metadataFilter input gives '${key}' twice with different values ('${result[previous]}' and '${value}'): keep one pair per key.`,
      );
    }
    result[previous ?? key] = value;
  }
  return result;
}

/** A sha256 given as 64 hexadecimal characters (no prefix), lower-cased; undefined when empty. */
export function parseSha256Hex(raw: string | undefined, input: string, hint: string): string | undefined {
  if (!raw) return undefined;
  if (!isSha256Hex(raw, { anyCase: true })) throw new InputError(input, `Input '${input}' must be 64 hexadecimal characters (got '${raw}'): ${hint}.`);
  return raw.toLowerCase();
}

/** A registry login server (`host[:port]`, a URL's scheme and trailing slash dropped), normalised like image references. */
export function parseRegistryHost(raw: string, input: string): string {
  const registry = normaliseRegistry(raw.trim());
  const problem = registryProblem(registry);
  if (problem || registry === '')
    throw new InputError(input, `Input '${input}' must be a registry login server like contoso.azurecr.io (${problem ?? 'it is empty'}).`);
  return registry;
}

/** A repository name on `registry` (a leading login server, and slashes around it, accepted and dropped). */
export function parseRepository(raw: string, registry: string, input = 'repository'): string {
  let repository = raw.replace(/^\/+|\/+$/g, '');
  if (repository.toLowerCase().startsWith(`${registry}/`)) repository = repository.slice(registry.length + 1);
  if (/[:@]/.test(repository))
    throw new InputError(input, `Input '${input}' must be a repository name without tag or digest (got '${repository}'): put tags in the 'tags' input.`);
  try {
    return parseReference(`${registry}/${repository}`, { input }).repository;
  } catch (err) {
    throw new InputError(
      input,
      `Input '${input}' is not a valid repository name ('${repository}'): use lowercase letters, digits and separators such as 'models/scorer'.`,
      err,
    );
  }
}

/** Tags to write to a registry: list items, each a valid tag. */
export function parseRegistryTags(lines: string[], input = 'tags'): string[] {
  const tags = listItems(lines);
  for (const t of tags) {
    if (!isValidTag(t))
      throw new InputError(
        input,
        `Tag '${t}' in input '${input}' is not a valid tag: use letters, digits, '_', '.' and '-' (at most 128, not starting with '.' or '-').`,
      );
  }
  return tags;
}
