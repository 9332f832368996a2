/**
 * Secret scan for every task run in the tests and the demo (called from one
 * place: scripts/lib/agent.ts runTask, which runMock wraps): the
 * task's output is masked the way the agent masks it, then searched for every
 * secret value the test gave the task. A hit throws {@link SecretLeakError}
 * naming the secret and the line.
 *
 * Masking (what the agent does):
 * - `##vso[task.setsecret]<value>` lines register `<value>` (task-lib's data
 *   escaping %0D %0A %AZP25 undone) and are consumed, not shown.
 * - Every later stdout line has each registered value replaced by `***`
 *   (longest first). A value printed BEFORE the task registers it is not
 *   masked: on an agent it would be in the log. stderr is masked with every
 *   value the task registered (its interleaving with stdout is unknown).
 *
 * Which values are secret (collected from the run's spec):
 * - Endpoint authorization parameters whose key is a credential: password,
 *   serviceprincipalkey, serviceprincipalcertificate, kubeconfig, apitoken,
 *   serviceaccounttoken, sessiontoken, accesstoken, and any key ending in
 *   password / secret / token / privatekey / accesskey. Not secret: user
 *   names, ids, tenant, registry / login server, CA certificates
 *   (serviceaccountcertificate, servicecertificate), endpoint data and URL.
 * - Inputs named connectionString or ending in password / secret / token; the
 *   file named by a `kubeconfig` input is read when the run starts.
 * - Pipeline variables and extra environment variables whose name holds
 *   SECRET, PASSWORD or TOKEN (AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN,
 *   Agent.ProxyPassword, ...), except names ending in _ID, _FILE, _PATH,
 *   _URI, _URL or _ENDPOINT.
 * - The raw ENDPOINT_AUTH_<id> JSON when a test sets it in the environment
 *   itself (e.g. a malformed one).
 * - Anything in the spec's explicit `secrets` list (scanned even when it also
 *   occurs in non-secret data: the test asked for it).
 *
 * The pieces a secret can appear in are scanned on their own:
 * - a connection string: the whole string, its AccountKey, SharedAccessKey,
 *   Password, its SharedAccessSignature and that signature's `sig` value
 *   (as written and URL-decoded);
 * - a kubeconfig (YAML or JSON): each user's token, password,
 *   client-key-data (and the lines of the decoded key), and auth-provider
 *   access-token / refresh-token / id-token / client-secret;
 * - a base64 token (apiToken, serviceAccountToken): the decoded token too;
 * - any other multi-line value (a PEM certificate with its key): each line
 *   of at least 16 characters that is not a `-----BEGIN/END` armour line.
 *
 * False positives are avoided by two rules, applied to every piece:
 * - values shorter than 6 characters (16 for a line of a multi-line value)
 *   are not scanned (too likely to occur by chance: 'x', 'p', 'wrong');
 * - a value (other than an explicit `secrets` entry) that occurs inside any
 *   NON-secret value the test gave the task
 *   (an input, a user name, an endpoint URL or data value, a variable) is not
 *   scanned: the task may legitimately print that data. Example: s3rver's
 *   secret key 'S3RVER' is also its access key id, and Azurite's account
 *   name 'devstoreaccount1' is never a secret piece even when used as a user
 *   name. A test that needs such a value checked must make it distinct.
 */
import { readFileSync } from 'node:fs';
import * as yaml from 'js-yaml';

export interface ScanEndpoint {
  scheme?: string;
  parameters?: Record<string, string>;
  data?: Record<string, string>;
  url?: string;
}

/** What a test gave the task: the same shape as runMock / runTask specs. */
export interface ScanSpec {
  inputs?: Record<string, string | number | boolean | undefined>;
  endpoints?: Record<string, ScanEndpoint>;
  variables?: Record<string, string>;
  env?: Record<string, string | undefined>;
  /** Further secret values (build-arg values, tokens a fake server hands out...). */
  secrets?: readonly string[];
}

export interface SecretValue {
  /** Where the value came from, e.g. "endpoint 'reg' parameter 'password'". */
  label: string;
  value: string;
}

export interface SecretCandidates {
  scanned: SecretValue[];
  /** Values not scanned, with why (too short, also non-secret data). */
  ignored: Array<SecretValue & { reason: string }>;
}

export interface Leak {
  secret: SecretValue;
  /** Where: the task's output, or an attachment it uploaded (run summaries are not masked by the agent). */
  stream: 'stdout' | 'stderr' | `attachment ${string}`;
  /** 1-based line number in that stream. */
  line: number;
  /** The masked line with the leaked value replaced by «LEAK», shortened. */
  excerpt: string;
}

export const MIN_SECRET_LENGTH = 6;
export const MIN_SECRET_LINE_LENGTH = 16;

const SECRET_PARAMETER_KEYS = new Set([
  'password',
  'serviceprincipalkey',
  'serviceprincipalcertificate',
  'kubeconfig',
  'apitoken',
  'serviceaccounttoken',
  'sessiontoken',
  'accesstoken',
  'secretaccesskey',
  'clientsecret',
  'refreshtoken',
  'idtoken',
  'privatekey',
  'storageaccesskey',
]);
const SECRET_KEY_SUFFIX = /(password|secret|token|privatekey|accesskey)$/i;
const PUBLIC_PARAMETER_KEYS = new Set(['serviceaccountcertificate', 'servicecertificate', 'certificate']);
const SECRET_INPUTS = /^(connectionstring|.*password|.*secret|.*token)$/i;
const SECRET_ENV_NAME = /(SECRET|PASSWORD|PASSWD|TOKEN)/i;
const NOT_SECRET_ENV_SUFFIX = /(_ID|_FILE|_PATH|_URI|_URL|_ENDPOINT)$/i;
const KUBECONFIG_USER_KEYS = ['token', 'password', 'client-key-data'];
const KUBECONFIG_AUTH_PROVIDER_KEYS = ['access-token', 'refresh-token', 'id-token', 'client-secret'];

export function isSecretParameter(key: string): boolean {
  const k = key.toLowerCase();
  if (PUBLIC_PARAMETER_KEYS.has(k)) return false;
  return SECRET_PARAMETER_KEYS.has(k) || SECRET_KEY_SUFFIX.test(k);
}

export function isSecretInput(name: string): boolean {
  return SECRET_INPUTS.test(name);
}

export function isSecretEnvName(name: string): boolean {
  // ENDPOINT_AUTH_<id> is the agent's JSON of a connection's credentials (its _SCHEME_ sibling is not secret).
  if (/^ENDPOINT_AUTH_/i.test(name)) return !/^ENDPOINT_AUTH_SCHEME_/i.test(name);
  return SECRET_ENV_NAME.test(name) && !NOT_SECRET_ENV_SUFFIX.test(name);
}

/** The pieces of a connection string that are secret on their own. */
export function connectionStringPieces(value: string, label: string): SecretValue[] {
  const out: SecretValue[] = [{ label, value }];
  for (const part of value.split(';')) {
    const eq = part.indexOf('=');
    if (eq <= 0) continue;
    const key = part.slice(0, eq).trim().toLowerCase();
    const v = part.slice(eq + 1).trim();
    if (!v) continue;
    if (key === 'accountkey' || key === 'sharedaccesskey' || key === 'password') out.push({ label: `${label} ${part.slice(0, eq).trim()}`, value: v });
    if (key === 'sharedaccesssignature') {
      out.push({ label: `${label} SharedAccessSignature`, value: v });
      out.push(...sasSignaturePieces(v, `${label} SharedAccessSignature`));
    }
  }
  // A SAS URL given as the connection string.
  const q = value.indexOf('?');
  if (q >= 0 && /^https?:\/\//i.test(value)) out.push(...sasSignaturePieces(value.slice(q + 1), `${label} SAS`));
  return out;
}

function sasSignaturePieces(sas: string, label: string): SecretValue[] {
  const out: SecretValue[] = [];
  for (const p of sas.replace(/^\?/, '').split('&')) {
    const [k, v] = p.split('=', 2) as [string, string | undefined];
    if (k.toLowerCase() !== 'sig' || !v) continue;
    out.push({ label: `${label} sig`, value: v });
    try {
      const decoded = decodeURIComponent(v);
      if (decoded !== v) out.push({ label: `${label} sig (decoded)`, value: decoded });
    } catch {
      // not URL-encoded
    }
  }
  return out;
}

/** A kubeconfig's credentials (YAML or JSON); the regular expression fallback mirrors the adapter's. */
export function kubeconfigPieces(text: string, label: string): SecretValue[] {
  const out: SecretValue[] = [];
  const add = (key: string, v: unknown) => {
    if (typeof v !== 'string' || !v) return;
    out.push({ label: `${label} ${key}`, value: v });
    if (key.endsWith('client-key-data')) {
      const pem = Buffer.from(v, 'base64').toString('utf8');
      out.push(...multiLinePieces(pem, `${label} ${key} (decoded)`));
    }
  };
  let parsed: unknown;
  try {
    parsed = yaml.load(text);
  } catch {
    parsed = undefined;
  }
  const users = (parsed as { users?: Array<{ name?: string; user?: Record<string, unknown> }> } | undefined)?.users;
  if (Array.isArray(users)) {
    for (const u of users) {
      const user = u?.user ?? {};
      for (const k of KUBECONFIG_USER_KEYS) add(`user '${u?.name ?? '?'}' ${k}`, user[k]);
      const config = (user['auth-provider'] as { config?: Record<string, unknown> } | undefined)?.config ?? {};
      for (const k of KUBECONFIG_AUTH_PROVIDER_KEYS) add(`user '${u?.name ?? '?'}' auth-provider ${k}`, config[k]);
    }
    return out;
  }
  const keys = [...KUBECONFIG_USER_KEYS, ...KUBECONFIG_AUTH_PROVIDER_KEYS];
  const pattern = new RegExp(`["']?(${keys.join('|')})["']?\\s*:\\s*["']?([^"'\\s,}]+)`, 'g');
  for (const m of text.matchAll(pattern)) add(m[1] as string, m[2]);
  return out;
}

function multiLinePieces(value: string, label: string): SecretValue[] {
  const out: SecretValue[] = [];
  value.split(/\r?\n/).forEach((line, i) => {
    const t = line.trim();
    if (t && !t.startsWith('-----')) out.push({ label: `${label} line ${i + 1}`, value: t });
  });
  return out;
}

function base64Pieces(value: string, label: string): SecretValue[] {
  const out: SecretValue[] = [{ label, value }];
  if (/^[A-Za-z0-9+/=\s]+$/.test(value)) {
    const decoded = Buffer.from(value, 'base64').toString('utf8');
    if (decoded && /^[\x20-\x7e]+$/.test(decoded) && decoded !== value) out.push({ label: `${label} (decoded)`, value: decoded });
  }
  return out;
}

/** One secret value and its pieces, by what kind of value it is. */
function piecesOf(key: string, value: string, label: string): SecretValue[] {
  const k = key.toLowerCase();
  if (k === 'kubeconfig') return kubeconfigPieces(value, label);
  if (k === 'connectionstring') return connectionStringPieces(value, label);
  if (k === 'apitoken' || k === 'serviceaccounttoken') return base64Pieces(value, label);
  if (/[\r\n]/.test(value)) return multiLinePieces(value, label);
  return [{ label, value }];
}

/** Every secret value (and piece) the spec gives the task, and which of them are scanned. */
export function collectSecrets(spec: ScanSpec): SecretCandidates {
  const secret: SecretValue[] = [];
  const publicValues: string[] = [];
  for (const [name, raw] of Object.entries(spec.inputs ?? {})) {
    if (raw === undefined) continue;
    const value = String(raw);
    if (isSecretInput(name)) {
      secret.push(...piecesOf(name, value, `input '${name}'`));
      continue;
    }
    publicValues.push(value);
    if (name.toLowerCase() === 'kubeconfig' && value) {
      let text: string | undefined;
      try {
        text = readFileSync(value, 'utf8');
      } catch {
        text = undefined;
      }
      if (text) secret.push(...kubeconfigPieces(text, `kubeconfig file '${value}'`));
    }
  }
  for (const [id, e] of Object.entries(spec.endpoints ?? {})) {
    for (const [key, value] of Object.entries(e.parameters ?? {})) {
      if (!value) continue;
      if (isSecretParameter(key)) secret.push(...piecesOf(key, value, `endpoint '${id}' parameter '${key}'`));
      else publicValues.push(value);
    }
    publicValues.push(...Object.values(e.data ?? {}), e.url ?? '', e.scheme ?? '', id);
  }
  for (const [name, value] of Object.entries(spec.variables ?? {})) {
    if (isSecretEnvName(name)) secret.push(...piecesOf(name, value, `variable '${name}'`));
    else publicValues.push(value);
  }
  for (const [name, value] of Object.entries(spec.env ?? {})) {
    if (!value) continue;
    if (isSecretEnvName(name)) secret.push(...piecesOf(name, value, `environment ${name}`));
    else publicValues.push(value);
  }
  const explicit: SecretValue[] = [];
  (spec.secrets ?? []).forEach((value, i) => explicit.push(...piecesOf('', value, `secrets[${i}]`)));
  secret.push(...explicit);

  const scanned: SecretValue[] = [];
  const ignored: SecretCandidates['ignored'] = [];
  const seen = new Set<string>();
  for (const s of secret) {
    if (seen.has(s.value)) continue;
    seen.add(s.value);
    const min = / line \d+$/.test(s.label) ? MIN_SECRET_LINE_LENGTH : MIN_SECRET_LENGTH;
    if (s.value.length < min) ignored.push({ ...s, reason: `shorter than ${min} characters` });
    else if (!explicit.includes(s) && publicValues.some((p) => p.includes(s.value))) ignored.push({ ...s, reason: 'also occurs in non-secret test data' });
    else scanned.push(s);
  }
  return { scanned, ignored };
}

/** Undoes task-lib's escaping of `##vso` command data (% is written %AZP25). */
function unescapeData(v: string): string {
  return v
    .replace(/%0D/g, '\r')
    .replace(/%0A/g, '\n')
    .replace(/%AZP25/g, '%');
}

/** Undoes the escaping of a whole `##vso` line (data and properties). */
function unescapeCommand(v: string): string {
  return v
    .replace(/%0D/g, '\r')
    .replace(/%0A/g, '\n')
    .replace(/%5D/g, ']')
    .replace(/%3B/g, ';')
    .replace(/%AZP25/g, '%');
}

const SETSECRET = /^##vso\[task\.setsecret\](.*)$/;

/** The values a task registered with `##vso[task.setsecret]`, in order. */
export function registeredSecrets(stdout: string): string[] {
  const out: string[] = [];
  for (const line of stdout.split(/\r?\n/)) {
    const m = SETSECRET.exec(line);
    if (m && m[1]) out.push(unescapeData(m[1]));
  }
  return out;
}

/** Replaces every registered value in a line with ***, longest first (the agent's masker). */
export function maskLine(line: string, registered: readonly string[]): string {
  let out = line;
  for (const s of [...registered].sort((a, b) => b.length - a.length)) {
    if (s) out = out.split(s).join('***');
  }
  return out;
}

/** Partially masked rendering of a secret for a failure message: first and last two characters. */
export function hint(value: string): string {
  return value.length <= 8 ? `${value.slice(0, 1)}…(${value.length} chars)` : `${value.slice(0, 2)}…${value.slice(-2)} (${value.length} chars)`;
}

function excerpt(line: string, value: string): string {
  const at = line.indexOf(value);
  const marked = `${line.slice(Math.max(0, at - 80), at)}«LEAK»${line.slice(at + value.length, at + value.length + 80)}`;
  return (at > 80 ? '…' : '') + marked + (line.length > at + value.length + 80 ? '…' : '');
}

/** Lines of the output, masked as the agent would show them, with their stream and number. */
export function maskedLines(output: { stdout: string; stderr?: string }): Array<{ stream: 'stdout' | 'stderr'; line: number; text: string }> {
  const out: Array<{ stream: 'stdout' | 'stderr'; line: number; text: string }> = [];
  const registered: string[] = [];
  output.stdout.split(/\r?\n/).forEach((line, i) => {
    const m = SETSECRET.exec(line);
    if (m) {
      if (m[1]) registered.push(unescapeData(m[1]));
      return;
    }
    out.push({ stream: 'stdout', line: i + 1, text: maskLine(line, registered) });
    // ##vso command data is escaped: scan the decoded form as well.
    if (line.startsWith('##vso[') && /%(0D|0A|3B|5D|AZP25)/.test(line))
      out.push({ stream: 'stdout', line: i + 1, text: maskLine(unescapeCommand(line), registered) });
  });
  (output.stderr ?? '').split(/\r?\n/).forEach((line, i) => out.push({ stream: 'stderr', line: i + 1, text: maskLine(line, registered) }));
  return out;
}

export function findLeaks(secrets: readonly SecretValue[], output: { stdout: string; stderr?: string }): Leak[] {
  const leaks: Leak[] = [];
  const reported = new Set<string>();
  for (const l of maskedLines(output)) {
    for (const s of secrets) {
      if (!l.text.includes(s.value)) continue;
      const key = `${s.value}\0${l.stream}\0${l.line}`;
      if (reported.has(key)) continue;
      reported.add(key);
      leaks.push({ secret: s, stream: l.stream, line: l.line, excerpt: excerpt(l.text, s.value) });
    }
  }
  return leaks;
}

export class SecretLeakError extends Error {
  constructor(
    readonly task: string,
    readonly leaks: Leak[],
  ) {
    const first = leaks
      .slice(0, 5)
      .map((l) => `${l.secret.label} [${hint(l.secret.value)}] in ${l.stream} line ${l.line}: ${l.excerpt}`)
      .join('\n  ');
    super(
      `Secret leak: ${task} printed ${leaks.length === 1 ? 'a secret' : `${leaks.length} secrets`} the test gave it, unmasked after the agent's masking of what the task registered:\n  ${first}${leaks.length > 5 ? `\n  (${leaks.length - 5} more)` : ''}`,
    );
    this.name = 'SecretLeakError';
  }
}

/** Throws {@link SecretLeakError} when the masked output holds any secret the spec gave the task. */
export function assertNoSecretLeak(
  task: string,
  spec: ScanSpec,
  output: { stdout: string; stderr?: string; attachments?: { name: string; content?: string }[] },
  candidates: SecretCandidates = collectSecrets(spec),
): void {
  const leaks = findLeaks(candidates.scanned, output);
  // Attachments reach the run page as written: the agent masks only the log.
  for (const a of output.attachments ?? []) {
    (a.content ?? '').split(/\r?\n/).forEach((text, i) => {
      for (const secret of candidates.scanned)
        if (text.includes(secret.value)) leaks.push({ secret, stream: `attachment ${a.name}`, line: i + 1, excerpt: excerpt(text, secret.value) });
    });
  }
  if (leaks.length) throw new SecretLeakError(task, leaks);
}
