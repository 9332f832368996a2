/**
 * Checks: an HTTP request to a model server and what its answer must be.
 *
 * One format for every task that checks a model server (TestModelImage on
 * the agent, DeployToAKS through the cluster's service proxy): a spec file
 * (YAML or JSON) holding a list of checks, or the two-input inline form.
 *
 * ```yaml
 * checks:                      # or the list itself at the top
 *   - name: prediction
 *     request:
 *       method: POST           # default GET
 *       path: /predict         # starts with '/'; may carry a query
 *       headers: { x-trace: demo }
 *       bodyFile: input.json   # relative to the spec file; or `body:` (text, or an object sent as JSON)
 *     expect:
 *       status: 2xx            # 200 | [200, 201] | "200-299" | "2xx, 404"; default 2xx
 *       json:                  # JSON path -> expected value
 *         $.label: setosa
 *         $.scores[0]: { approx: 0.93, tolerance: 0.01 }
 *         $.model: { matches: "^iris-" }
 *         $.meta: { equals: { approx: 1 } }   # a literal object that looks like an operator
 *       match: /"label"/i      # regular expression(s) over the body text
 * ```
 *
 * Inline form (one request, its expectations one per line):
 * `POST /predict @samples/input.json` (or `GET /healthz`, or `POST /predict {"x":1}`),
 * further request lines `Header-Name: value`; expectations `status 200`,
 * `$.label == "setosa"`, `$.score ~= 0.93 +- 0.01`, `$.model =~ /^iris-/`, `/regex/flags`.
 *
 * Every malformed spec is one {@link InputError} naming the file (or input)
 * and line.
 */
import { readFileSync, statSync } from 'node:fs';
import { dirname, extname, isAbsolute, resolve } from 'node:path';
import { load as loadYaml } from 'js-yaml';
import { errorMessage, InputError } from '../errors';
import { parseJsonPath, type PathSegment } from './jsonpath';
import { lineOf, yamlLines } from './positions';

/** Largest request body a check sends (from a file or inline). */
export const MAX_CHECK_BODY_BYTES = 16 << 20;
/** Largest spec file read. */
export const MAX_SPEC_BYTES = 1 << 20;
/** Default tolerance of `{ approx }` without `tolerance`. */
export const DEFAULT_APPROX_TOLERANCE = 1e-9;

export interface StatusExpectation {
  /** As written, for messages ("2xx", "200, 201"). */
  text: string;
  /** Inclusive ranges. */
  ranges: ReadonlyArray<readonly [number, number]>;
}

export type ValueMatcher = { kind: 'equals'; value: unknown } | { kind: 'approx'; value: number; tolerance: number } | { kind: 'matches'; regex: RegExp };

export interface JsonExpectation {
  /** As written (`$.scores[0]`). */
  path: string;
  segments: PathSegment[];
  matcher: ValueMatcher;
}

export interface Expectation {
  status: StatusExpectation;
  json: JsonExpectation[];
  /** Regular expressions the body text must match. */
  match: RegExp[];
}

export interface CheckRequest {
  method: string;
  /** Path and query, starting with '/'. */
  path: string;
  headers: Record<string, string>;
  body?: Buffer;
  /** The file the body came from, for messages. */
  bodyFile?: string;
}

export interface Check {
  name: string;
  /** Where it was written: `file:line` or `input 'x'`. */
  source: string;
  request: CheckRequest;
  expect: Expectation;
}

export const DEFAULT_STATUS: StatusExpectation = { text: '2xx', ranges: [[200, 299]] };

/** A problem at a place in a spec; turned into an InputError by the parsers. */
class SpecProblem extends Error {
  constructor(
    readonly at: string,
    message: string,
  ) {
    super(message);
  }
}

const isRecord = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);
const HTTP_TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

// ---------------------------------------------------------------- pieces shared by both forms

/** `200`, `[200, 201]`, `"2xx"`, `"200-299"`, `"2xx, 404"`; throws Error(reason). */
export function parseStatus(value: unknown): StatusExpectation {
  const items: unknown[] = Array.isArray(value) ? value : typeof value === 'string' ? value.split(/[\s,|]+/).filter(Boolean) : [value];
  if (items.length === 0) throw new Error('status is empty: write e.g. 200, 2xx or 200-299');
  const ranges: Array<[number, number]> = [];
  for (const item of items) {
    const t = typeof item === 'number' ? String(item) : typeof item === 'string' ? item.trim() : undefined;
    let range: [number, number] | undefined;
    let m: RegExpExecArray | null;
    if (t !== undefined && (m = /^([1-5])xx$/i.exec(t))) range = [Number(m[1]) * 100, Number(m[1]) * 100 + 99];
    else if (t !== undefined && (m = /^(\d{3})$/.exec(t))) range = [Number(m[1]), Number(m[1])];
    else if (t !== undefined && (m = /^(\d{3})\s*-\s*(\d{3})$/.exec(t))) range = [Number(m[1]), Number(m[2])];
    if (!range || range[0] < 100 || range[1] > 599 || range[0] > range[1]) {
      throw new Error(`status '${t ?? JSON.stringify(item)}' is not a status code (100-599), a class like 2xx or a range like 200-299`);
    }
    ranges.push(range);
  }
  const text = Array.isArray(value) ? value.map(String).join(', ') : String(value).trim();
  return { text, ranges };
}

export function statusMatches(expect: StatusExpectation, status: number): boolean {
  return expect.ranges.some(([lo, hi]) => status >= lo && status <= hi);
}

/** `/pattern/flags` or a bare pattern; throws Error(reason). */
export function parseRegex(text: string): RegExp {
  const t = text.trim();
  const m = /^\/(.*)\/([a-z]*)$/s.exec(t);
  const [pattern, flags] = m ? [m[1]!, m[2]!] : [t, ''];
  if (!pattern) throw new Error('the regular expression is empty');
  if (/[^imsu]/.test(flags)) throw new Error(`regular expression flags '${flags}' are not supported (use i, m, s, u)`);
  try {
    return new RegExp(pattern, flags);
  } catch (err) {
    throw new Error(`invalid regular expression ${t}: ${errorMessage(err).replace(/^Invalid regular expression: /, '')}`);
  }
}

const OPERATOR_KEYS = new Set(['approx', 'tolerance', 'matches', 'equals']);

/** An expected value of the `json:` map: a literal, `{ approx, tolerance? }`, `{ matches }` or `{ equals }`; throws Error(reason). */
export function parseMatcher(value: unknown): ValueMatcher {
  if (!isRecord(value) || Object.keys(value).length === 0 || !Object.keys(value).every((k) => OPERATOR_KEYS.has(k))) {
    return { kind: 'equals', value };
  }
  const keys = Object.keys(value).sort().join(',');
  if (keys === 'equals') return { kind: 'equals', value: value.equals };
  if (keys === 'matches') {
    if (typeof value.matches !== 'string') throw new Error('matches: needs a regular expression as a string');
    return { kind: 'matches', regex: parseRegex(value.matches) };
  }
  if (keys === 'approx' || keys === 'approx,tolerance') {
    const approx = value.approx;
    const tolerance = value.tolerance ?? DEFAULT_APPROX_TOLERANCE;
    if (typeof approx !== 'number' || !Number.isFinite(approx)) throw new Error(`approx: needs a number (got ${JSON.stringify(approx)})`);
    if (typeof tolerance !== 'number' || !Number.isFinite(tolerance) || tolerance < 0) {
      throw new Error(`tolerance: needs a number >= 0 (got ${JSON.stringify(tolerance)})`);
    }
    return { kind: 'approx', value: approx, tolerance };
  }
  throw new Error(`{ ${keys} } mixes operators: use { approx, tolerance }, { matches } or { equals } (equals for a literal object with these keys)`);
}

function jsonExpectation(path: string, expected: unknown): JsonExpectation {
  return { path, segments: parseJsonPath(path), matcher: parseMatcher(expected) };
}

function readBodyFile(file: string): Buffer {
  let size: number;
  try {
    const st = statSync(file);
    if (!st.isFile()) throw new Error('not a file');
    size = st.size;
  } catch (err) {
    throw new Error(
      `body file ${file} cannot be read (${(err as NodeJS.ErrnoException).code ?? errorMessage(err)}): check the path (relative to the spec file)`,
    );
  }
  if (size > MAX_CHECK_BODY_BYTES) throw new Error(`body file ${file} is ${size} bytes, over the ${MAX_CHECK_BODY_BYTES >> 20} MiB a check sends`);
  return readFileSync(file);
}

function contentTypeFor(file: string | undefined, body: unknown): string | undefined {
  if (file !== undefined) {
    const ext = extname(file).toLowerCase();
    if (ext === '.json') return 'application/json';
    if (ext === '.txt' || ext === '.csv') return ext === '.csv' ? 'text/csv' : 'text/plain; charset=utf-8';
    return 'application/octet-stream';
  }
  if (typeof body === 'string') return 'text/plain; charset=utf-8';
  return 'application/json';
}

function withDefaultContentType(headers: Record<string, string>, type: string | undefined): Record<string, string> {
  if (type === undefined || Object.keys(headers).some((h) => h.toLowerCase() === 'content-type')) return headers;
  return { ...headers, 'content-type': type };
}

// ---------------------------------------------------------------- spec files

const CHECK_KEYS = ['name', 'request', 'expect'];
const REQUEST_KEYS = ['method', 'path', 'headers', 'body', 'bodyFile'];
const EXPECT_KEYS = ['status', 'json', 'match'];

function unknownKeys(obj: Record<string, unknown>, known: string[], at: string, what: string): void {
  for (const k of Object.keys(obj)) {
    if (!known.includes(k)) throw new SpecProblem(`${at}/${k}`, `unknown key '${k}' in ${what} (known: ${known.join(', ')})`);
  }
}

function parseCheckObject(raw: unknown, at: string, index: number, baseDir: string): Omit<Check, 'source'> {
  if (!isRecord(raw)) throw new SpecProblem(at, `check ${index + 1} is not a mapping with name, request and expect`);
  unknownKeys(raw, CHECK_KEYS, at, 'a check');
  const req = raw.request;
  if (!isRecord(req))
    throw new SpecProblem(req === undefined ? at : `${at}/request`, `check ${index + 1} has no request: mapping (method, path, body or bodyFile)`);
  unknownKeys(req, REQUEST_KEYS, `${at}/request`, 'request');
  const method = req.method === undefined ? 'GET' : req.method;
  if (typeof method !== 'string' || !HTTP_TOKEN.test(method))
    throw new SpecProblem(`${at}/request/method`, `method ${JSON.stringify(method)} is not an HTTP method`);
  const path = req.path;
  if (typeof path !== 'string' || !path.startsWith('/') || /\s/.test(path)) {
    throw new SpecProblem(
      req.path === undefined ? `${at}/request` : `${at}/request/path`,
      `request path ${JSON.stringify(path)} must start with '/' and contain no spaces`,
    );
  }
  let headers: Record<string, string> = {};
  if (req.headers !== undefined) {
    if (!isRecord(req.headers)) throw new SpecProblem(`${at}/request/headers`, 'headers: must be a mapping of name: value');
    for (const [k, v] of Object.entries(req.headers)) {
      if (!HTTP_TOKEN.test(k) || (typeof v !== 'string' && typeof v !== 'number') || /[\r\n]/.test(String(v))) {
        throw new SpecProblem(`${at}/request/headers/${k}`, `header '${k}' needs a valid name and a one-line text value`);
      }
      headers[k] = String(v);
    }
  }
  let body: Buffer | undefined;
  let bodyFile: string | undefined;
  if (req.body !== undefined && req.bodyFile !== undefined) throw new SpecProblem(`${at}/request/bodyFile`, 'give body or bodyFile, not both');
  if (req.bodyFile !== undefined) {
    if (typeof req.bodyFile !== 'string' || !req.bodyFile.trim()) throw new SpecProblem(`${at}/request/bodyFile`, 'bodyFile: must be a file path');
    bodyFile = isAbsolute(req.bodyFile) ? req.bodyFile : resolve(baseDir, req.bodyFile);
    try {
      body = readBodyFile(bodyFile);
    } catch (err) {
      throw new SpecProblem(`${at}/request/bodyFile`, errorMessage(err));
    }
    headers = withDefaultContentType(headers, contentTypeFor(bodyFile, undefined));
  } else if (req.body !== undefined && req.body !== null) {
    body = Buffer.from(typeof req.body === 'string' ? req.body : JSON.stringify(req.body));
    if (body.length > MAX_CHECK_BODY_BYTES) throw new SpecProblem(`${at}/request/body`, `body is over the ${MAX_CHECK_BODY_BYTES >> 20} MiB a check sends`);
    headers = withDefaultContentType(headers, contentTypeFor(undefined, req.body));
  }
  const expect = parseExpectObject(raw.expect, `${at}/expect`);
  const name = raw.name === undefined ? `${method.toUpperCase()} ${path}` : raw.name;
  if (typeof name !== 'string' && typeof name !== 'number') throw new SpecProblem(`${at}/name`, 'name: must be text');
  return { name: String(name), request: { method: method.toUpperCase(), path, headers, body, bodyFile }, expect };
}

function parseExpectObject(raw: unknown, at: string): Expectation {
  if (raw === undefined || raw === null) return { status: DEFAULT_STATUS, json: [], match: [] };
  if (!isRecord(raw)) throw new SpecProblem(at, 'expect: must be a mapping (status, json, match)');
  unknownKeys(raw, EXPECT_KEYS, at, 'expect');
  let status = DEFAULT_STATUS;
  if (raw.status !== undefined) {
    try {
      status = parseStatus(raw.status);
    } catch (err) {
      throw new SpecProblem(`${at}/status`, errorMessage(err));
    }
  }
  const json: JsonExpectation[] = [];
  if (raw.json !== undefined) {
    if (!isRecord(raw.json)) throw new SpecProblem(`${at}/json`, 'json: must be a mapping of JSON path: expected value');
    for (const [path, expected] of Object.entries(raw.json)) {
      try {
        json.push(jsonExpectation(path, expected));
      } catch (err) {
        throw new SpecProblem(`${at}/json/${path.replace(/~/g, '~0').replace(/\//g, '~1')}`, errorMessage(err));
      }
    }
  }
  const match: RegExp[] = [];
  if (raw.match !== undefined) {
    const items = Array.isArray(raw.match) ? raw.match : [raw.match];
    items.forEach((item, i) => {
      const itemAt = Array.isArray(raw.match) ? `${at}/match/${i}` : `${at}/match`;
      if (typeof item !== 'string') throw new SpecProblem(itemAt, 'match: needs regular expressions as strings');
      try {
        match.push(parseRegex(item));
      } catch (err) {
        throw new SpecProblem(itemAt, errorMessage(err));
      }
    });
  }
  return { status, json, match };
}

/**
 * The checks of a spec file's text. `file` names it in messages and anchors
 * `bodyFile` paths; `input` is the task input the spec came through.
 */
export function parseSpec(text: string, file: string, input: string): Check[] {
  const fail = (line: number | undefined, reason: string): never => {
    throw new InputError(input, `Check spec ${file}${line !== undefined ? ` line ${line}` : ''}: ${reason}; fix the spec file.`);
  };
  let doc: unknown;
  try {
    doc = loadYaml(text, { filename: file });
  } catch (err) {
    const e = err as { mark?: { line?: number }; reason?: string };
    return fail(e.mark?.line !== undefined ? e.mark.line + 1 : undefined, `not valid YAML or JSON (${(e.reason ?? errorMessage(err)).split('\n')[0]})`);
  }
  const lines = yamlLines(text);
  let listAt = '';
  let list: unknown = doc;
  if (isRecord(doc)) {
    const extra = Object.keys(doc).filter((k) => k !== 'checks');
    if (extra.length)
      return fail(lineOf(lines, `/${extra[0]}`), `unknown key '${extra[0]}' at the top (a spec holds 'checks:' or is the list of checks itself)`);
    list = doc.checks;
    listAt = '/checks';
  }
  if (!Array.isArray(list) || list.length === 0) return fail(lineOf(lines, listAt), 'it holds no checks (write a list of checks, or checks: with one)');
  const baseDir = dirname(file);
  const checks: Check[] = [];
  const names = new Set<string>();
  list.forEach((raw, i) => {
    const at = `${listAt}/${i}`;
    try {
      const c = parseCheckObject(raw, at, i, baseDir);
      if (names.has(c.name)) throw new SpecProblem(`${at}/name`, `two checks are named '${c.name}' (names must be unique)`);
      names.add(c.name);
      checks.push({ ...c, source: `${file}:${lineOf(lines, at)}` });
    } catch (err) {
      if (err instanceof SpecProblem) fail(lineOf(lines, err.at), err.message);
      throw err;
    }
  });
  return checks;
}

/** Reads and parses a spec file (path as given: relative to the working directory). */
export function loadSpecFile(file: string, input: string): Check[] {
  let text: string;
  try {
    const st = statSync(file);
    if (!st.isFile()) throw Object.assign(new Error('not a file'), { code: 'EISDIR' });
    if (st.size > MAX_SPEC_BYTES)
      throw new InputError(input, `Check spec ${file} is ${st.size} bytes, over the ${MAX_SPEC_BYTES >> 10} KiB a spec may have; keep bodies in bodyFile.`);
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if (err instanceof InputError) throw err;
    throw new InputError(input, `Check spec ${file} cannot be read (${(err as NodeJS.ErrnoException).code ?? errorMessage(err)}): check the path.`, err);
  }
  return parseSpec(text.replace(/^\uFEFF/, ''), file, input);
}

// ---------------------------------------------------------------- inline form

/** Non-blank, non-comment lines with their 1-based line numbers. */
function numberedLines(text: string): Array<{ line: number; text: string }> {
  return text
    .split(/\r?\n/)
    .map((t, i) => ({ line: i + 1, text: t.trim() }))
    .filter((l) => l.text !== '' && !l.text.startsWith('#'));
}

/** True when an inline request input names a spec file rather than a request line. */
export function isSpecFileReference(text: string): boolean {
  const lines = numberedLines(text);
  // A request line is at least METHOD and path: one word ending in a spec extension is a file (absolute or relative).
  return lines.length === 1 && !/\s/.test(lines[0]!.text) && /\.(ya?ml|json)$/i.test(lines[0]!.text);
}

/**
 * The inline request: `METHOD /path [@file | inline body]`, then optional
 * `Header-Name: value` lines. `@file` is relative to `baseDir`.
 */
export function parseInlineRequest(text: string, input: string, baseDir: string): CheckRequest {
  const lines = numberedLines(text);
  const fail = (line: number, reason: string): never => {
    throw new InputError(input, `Input '${input}' line ${line}: ${reason}.`);
  };
  const first = lines[0];
  if (!first) return fail(1, "is empty: write a request like 'POST /predict @samples/input.json' or 'GET /healthz'");
  const m = /^([!#$%&'*+.^_`|~0-9A-Za-z-]+)\s+(\S+)(?:\s+(.*))?$/.exec(first.text);
  if (!m) return fail(first.line, `'${first.text}' is not 'METHOD /path [@body-file | body]'`);
  const method = m[1]!.toUpperCase();
  const path = m[2]!;
  if (!path.startsWith('/')) return fail(first.line, `the path '${path}' must start with '/'`);
  let headers: Record<string, string> = {};
  for (const l of lines.slice(1)) {
    const h = /^([!#$%&'*+.^_`|~0-9A-Za-z-]+):\s*(.*)$/.exec(l.text);
    if (!h) return fail(l.line, `'${l.text}' is not a header line 'Name: value'`);
    headers[h[1]!] = h[2]!;
  }
  let body: Buffer | undefined;
  let bodyFile: string | undefined;
  const rest = m[3]?.trim();
  if (rest?.startsWith('@')) {
    const name = rest.slice(1).trim();
    if (!name) return fail(first.line, "'@' needs a file name after it");
    bodyFile = isAbsolute(name) ? name : resolve(baseDir, name);
    try {
      body = readBodyFile(bodyFile);
    } catch (err) {
      return fail(first.line, errorMessage(err).replace('relative to the spec file', `relative to ${baseDir}`));
    }
    headers = withDefaultContentType(headers, contentTypeFor(bodyFile, undefined));
  } else if (rest) {
    body = Buffer.from(rest);
    let isJson = false;
    try {
      JSON.parse(rest);
      isJson = true;
    } catch {
      /* text */
    }
    headers = withDefaultContentType(headers, isJson ? 'application/json' : 'text/plain; charset=utf-8');
  }
  return { method, path, headers, body, bodyFile };
}

function parseInlineValue(raw: string): unknown {
  try {
    return JSON.parse(raw);
  } catch {
    throw new Error(`the expected value ${raw} is not JSON (quote text: "${raw.replace(/"/g, '\\"')}")`);
  }
}

/**
 * Inline expectations, one per line: `status <spec>`, `$.path == <JSON>`,
 * `$.path ~= <number> +- <tolerance>` (also `±`), `$.path =~ /regex/`, `/regex/flags`.
 * None given: status 2xx.
 */
export function parseInlineExpect(text: string | undefined, input: string): Expectation {
  const out: Expectation = { status: DEFAULT_STATUS, json: [], match: [] };
  let sawStatus = false;
  for (const l of numberedLines(text ?? '')) {
    try {
      let m: RegExpExecArray | null;
      if ((m = /^status\s*(?::|==|=)?\s*(.+)$/i.exec(l.text))) {
        if (sawStatus) throw new Error('status is given twice');
        sawStatus = true;
        out.status = parseStatus(m[1]!);
      } else if (l.text.startsWith('/')) {
        out.match.push(parseRegex(l.text));
      } else if ((m = /^(\$\S*)\s*~=\s*(\S+)\s*(?:\+-|±|\+\/-)\s*(\S+)$/.exec(l.text))) {
        const [value, tolerance] = [Number(m[2]), Number(m[3])];
        if (!Number.isFinite(value) || !Number.isFinite(tolerance)) throw new Error(`'${m[2]} +- ${m[3]}' needs two numbers`);
        out.json.push(jsonExpectation(m[1]!, { approx: value, tolerance }));
      } else if ((m = /^(\$\S*)\s*=~\s*(.+)$/.exec(l.text))) {
        out.json.push({ path: m[1]!, segments: parseJsonPath(m[1]!), matcher: { kind: 'matches', regex: parseRegex(m[2]!) } });
      } else if ((m = /^(\$\S*)\s*==\s*(.+)$/.exec(l.text))) {
        out.json.push({ path: m[1]!, segments: parseJsonPath(m[1]!), matcher: { kind: 'equals', value: parseInlineValue(m[2]!.trim()) } });
      } else {
        throw new Error(`'${l.text}' is not an expectation (write 'status 200', '$.label == "setosa"', '$.score ~= 0.9 +- 0.05', '$.model =~ /re/' or '/re/')`);
      }
    } catch (err) {
      throw new InputError(input, `Input '${input}' line ${l.line}: ${errorMessage(err)}.`);
    }
  }
  return out;
}

export interface InlineChecksOptions {
  /** The request input's name and text: a request line (plus header lines) or a spec file path. */
  requestInput: string;
  request: string;
  /** The expectation input's name and text (must be empty when the request input names a spec file). */
  expectInput: string;
  expect?: string;
  /** Where `@file` and a relative spec path are resolved. */
  baseDir: string;
}

/**
 * The checks two task inputs give: a spec file named in the request input, or
 * one inline request with the inline expectations.
 */
export function checksFromInputs(o: InlineChecksOptions): Check[] {
  if (isSpecFileReference(o.request)) {
    if (numberedLines(o.expect ?? '').length > 0) {
      throw new InputError(
        o.expectInput,
        `Input '${o.expectInput}' cannot be combined with the spec file given in '${o.requestInput}': write the expectations into the spec file (expect:) or clear '${o.expectInput}'.`,
      );
    }
    const name = numberedLines(o.request)[0]!.text;
    return loadSpecFile(isAbsolute(name) ? name : resolve(o.baseDir, name), o.requestInput);
  }
  const request = parseInlineRequest(o.request, o.requestInput, o.baseDir);
  const expect = parseInlineExpect(o.expect, o.expectInput);
  return [{ name: `${request.method} ${request.path}`, source: `input '${o.requestInput}'`, request, expect }];
}
