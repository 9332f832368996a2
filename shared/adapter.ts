/**
 * The only module that talks to azure-pipelines-task-lib. It turns task inputs
 * into typed values, service connections into plain credential records,
 * results into output variables, and errors into one-line task failures.
 * Everything else in shared/ is plain TypeScript usable from any Node program.
 */
// A plain require: quietly() swaps task-lib's own debug export, which an ES namespace import would freeze.
// eslint-disable-next-line @typescript-eslint/no-require-imports
import tl = require('azure-pipelines-task-lib/task');
import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve as resolvePath } from 'node:path';
import { InputError, isUserError, errorMessage, UserError } from './errors';
import { inputLines } from './inputs/parse';
import { NETWORK_RULES, ruleMessage, ruleViolation, type InputRules } from './inputs/rules';
import { kubeconfigCredentials } from './k8s/kubeconfig-credentials';
import type { Logger } from './log';
import type { ProgressUpdate } from './progress';
import { secretPieces } from './secret-pieces';
import { pipelineRunFrom, type PipelineRun } from './adapter/run';
import { DEFAULT_NETWORK_DEADLINE_MINUTES, DEFAULT_NETWORK_TIMEOUT_SECONDS, networkLimits, type NetworkLimits } from './net/timeouts';
import type { AzureRmEndpoint, AzureRmScheme, DockerRegistryEndpoint, KubernetesEndpoint, S3Endpoint } from './connections';

export type { AzureRmEndpoint, AzureRmScheme, DockerRegistryEndpoint, KubernetesEndpoint, S3Endpoint };
export type { PipelineRun };

type MutableTaskLib = { debug: (message: string) => void };

/** Reads a value without task-lib echoing it into the debug log (it does so for every input). */
function quietly<T>(read: () => T): T {
  const lib = tl as unknown as MutableTaskLib;
  const original = lib.debug;
  lib.debug = () => {};
  try {
    return read();
  } finally {
    lib.debug = original;
  }
}

// ---------------------------------------------------------------- inputs

/** The running task's rules (shared/inputs/rules.ts), set by runTask. */
let activeRules: InputRules = {};

/**
 * Applies the task's input rules (the same table the editor's `validation`
 * comes from) to the values the task received, before it does anything.
 */
export function checkInputRules(rules: InputRules): void {
  for (const [name, rule] of Object.entries(rules)) {
    const raw = tl.getInput(name, false);
    const bad = ruleViolation(rule, raw);
    if (bad === undefined) continue;
    const whole = bad === (raw ?? '').trim();
    throw new InputError(name, `Input '${name}' ${ruleMessage(rule)} (got '${bad}'${whole ? '' : ' among its items'}).`);
  }
}

export function getString(name: string, options: { required?: boolean; defaultValue?: string; secret?: boolean } = {}): string | undefined {
  const raw = options.secret ? quietly(() => tl.getInput(name, false)) : tl.getInput(name, false);
  const value = raw?.trim();
  if (value) {
    if (options.secret) setSecret(value);
    return value;
  }
  if (options.defaultValue !== undefined) return options.defaultValue;
  if (options.required) throw new InputError(name, `Input '${name}' is required: set it in the task's settings or YAML.`);
  return undefined;
}

export function getRequiredString(name: string, options: { secret?: boolean } = {}): string {
  return getString(name, { required: true, ...options }) as string;
}

export function getBool(name: string, defaultValue = false): boolean {
  const raw = tl.getInput(name, false)?.trim().toLowerCase();
  if (!raw) return defaultValue;
  if (raw === 'true' || raw === 'yes' || raw === '1') return true;
  if (raw === 'false' || raw === 'no' || raw === '0') return false;
  throw new InputError(name, `Input '${name}' must be true or false (got '${raw}').`);
}

/** A whole number; its range is the input's rule in the task's table (shared/inputs/rules.ts), else `min`/`max`. */
export function getInt(name: string, options: { defaultValue: number; min?: number; max?: number }): number {
  const raw = tl.getInput(name, false)?.trim();
  if (!raw) return options.defaultValue;
  const value = Number(raw);
  const rule = activeRules[name];
  if (rule?.kind === 'int') options = { ...options, min: rule.min, max: rule.max };
  const min = options.min ?? Number.MIN_SAFE_INTEGER;
  const max = options.max ?? Number.MAX_SAFE_INTEGER;
  if (!/^-?\d+$/.test(raw) || value < min || value > max) {
    const range =
      options.min !== undefined && options.max !== undefined ? ` between ${min} and ${max}` : options.min !== undefined ? ` of at least ${min}` : '';
    throw new InputError(name, `Input '${name}' must be a whole number${range} (got '${raw}').`);
  }
  return value;
}

/** One of a fixed set of values (compared case-insensitively, returned in canonical spelling). */
export function getChoice<T extends string>(name: string, choices: readonly T[], defaultValue: T): T {
  const raw = tl.getInput(name, false)?.trim();
  if (!raw) return defaultValue;
  const match = choices.find((c) => c.toLowerCase() === raw.toLowerCase());
  if (!match) throw new InputError(name, `Input '${name}' must be one of ${choices.join(', ')} (got '${raw}').`);
  return match;
}

/** The folder the agent roots `filePath` inputs at: Build.SourcesDirectory, else System.DefaultWorkingDirectory. */
function pathRoot(): string | undefined {
  return getVariable('Build.SourcesDirectory') ?? getVariable('System.DefaultWorkingDirectory');
}

/** Whether `value` is the folder the agent gives for an empty `filePath` input (task-lib's filePathSupplied, inverted). */
function isPathRoot(value: string): boolean {
  const root = pathRoot();
  return root !== undefined && resolvePath(value) === resolvePath(root);
}

/**
 * A `filePath` input. The agent turns an empty one into the sources folder
 * (and roots relative ones there), so that folder counts as not given, as
 * task-lib's filePathSupplied has it: the default (or undefined) is returned.
 */
export function getPath(name: string, options: { defaultValue?: string; required?: boolean } = {}): string | undefined {
  const value = getString(name);
  if (value !== undefined && !isPathRoot(value)) return value;
  if (options.defaultValue !== undefined) return options.defaultValue;
  if (options.required) throw new InputError(name, `Input '${name}' is required: set it in the task's settings or YAML.`);
  return undefined;
}

/** The lines of a multi-line `filePath` input; only the sources folder (what the agent makes of an empty one) means none. */
export function getPathLines(name: string): string[] {
  const lines = getLines(name);
  return lines.length === 1 && isPathRoot(lines[0] as string) ? [] : lines;
}

/** Non-empty, non-comment lines of a multi-line input; `quiet` keeps task-lib from echoing the value into the debug log. */
export function getLines(name: string, options: { quiet?: boolean } = {}): string[] {
  return inputLines(options.quiet ? quietly(() => tl.getInput(name, false)) : tl.getInput(name, false));
}

/**
 * The networkTimeout (seconds: connect and idle timeout of each request) and
 * networkDeadline (minutes: the task's network work as a whole) inputs.
 */
export function getNetworkLimits(): NetworkLimits {
  const timeout = getInt('networkTimeout', { defaultValue: DEFAULT_NETWORK_TIMEOUT_SECONDS, ...NETWORK_RULES.networkTimeout });
  const deadline = getInt('networkDeadline', { defaultValue: DEFAULT_NETWORK_DEADLINE_MINUTES, ...NETWORK_RULES.networkDeadline });
  return networkLimits(timeout, deadline);
}

export function getVariable(name: string): string | undefined {
  const v = tl.getVariable(name);
  return v === undefined || v === '' ? undefined : v;
}

/**
 * The agent's proxy settings (Agent.ProxyUrl with its credentials, and its
 * bypass list of regular expressions), when configured; the proxy URL with
 * credentials is registered as a secret. Read by hand, not with task-lib's
 * getHttpProxyConfiguration(): see shared/net/proxy.ts for why.
 */
export function agentProxy(): { proxyUrl?: string; bypassPatterns?: string[] } {
  const proxyUrl = getVariable('Agent.ProxyUrl');
  if (!proxyUrl) return {};
  const user = getVariable('Agent.ProxyUsername');
  const password = getVariable('Agent.ProxyPassword');
  setSecret(password);
  let url = proxyUrl;
  if (user) {
    const u = new URL(proxyUrl);
    u.username = encodeURIComponent(user);
    u.password = encodeURIComponent(password ?? '');
    url = u.toString();
    setSecret(url);
  }
  let bypassPatterns: string[] = [];
  try {
    const parsed: unknown = JSON.parse(getVariable('Agent.ProxyBypassList') ?? '[]');
    if (Array.isArray(parsed)) bypassPatterns = parsed.filter((x): x is string => typeof x === 'string');
  } catch {
    bypassPatterns = [];
  }
  return { proxyUrl: url, bypassPatterns };
}

/** The pipeline run this task belongs to (a YAML run, a classic build or a classic release; see adapter/run.ts). */
export function pipelineRun(): PipelineRun | undefined {
  return pipelineRunFrom(getVariable);
}

/** This pipeline run's page: the build results of a YAML run or classic build, the release page of a classic release. */
export function pipelineRunUrl(): string | undefined {
  return pipelineRun()?.url;
}

function isDebug(): boolean {
  return (getVariable('system.debug') ?? '').toLowerCase() === 'true';
}

// ---------------------------------------------------------------- outputs and logging

/**
 * Registers a value to be masked in the log. task-lib refuses multi-line
 * secrets, so a PEM document is registered line by line (its base64 body).
 * The pieces that can appear on their own are registered too: a connection
 * string's AccountKey / SharedAccessSignature, a SAS's sig (as written and
 * decoded), a URL's password.
 */
/** Registers a value (and its pieces) with the agent, which masks it in the log. */
export function setSecret(value: string | undefined): void {
  if (!value) return;
  if (!/[\r\n]/.test(value)) {
    registerMasked(value);
    for (const piece of secretPieces(value)) registerMasked(piece);
    return;
  }
  for (const line of value.split(/\r?\n/)) {
    const t = line.trim();
    if (t.length >= 16 && !t.startsWith('-----')) registerMasked(t);
  }
}

/** Every value registered with the agent by this process, longest first (for {@link maskSecrets}). */
const registeredSecrets: string[] = [];

function registerMasked(value: string): void {
  tl.setSecret(value);
  if (!registeredSecrets.includes(value)) {
    registeredSecrets.push(value);
    registeredSecrets.sort((a, b) => b.length - a.length);
  }
}

/** Registers a value the task learned (e.g. a secret-looking container env value) to be masked. */
export function registerSecret(value: string | undefined): void {
  setSecret(value);
}

/**
 * Masks every secret this process registered, as the agent masks the log:
 * for text the task writes where the agent does not mask (a summary file,
 * an output variable).
 */
export function maskSecrets(text: string): string {
  let out = text;
  for (const secret of registeredSecrets) if (secret) out = out.split(secret).join('***');
  return out;
}

/**
 * Registers the credentials inside a kubeconfig (YAML or JSON) without masking
 * its harmless lines: the one way every kubeconfig a task reads (file, service
 * connection, AKS) gets its secrets registered.
 */
export function setKubeconfigSecrets(kubeconfig: string | undefined): void {
  if (!kubeconfig) return;
  for (const value of kubeconfigCredentials(kubeconfig)) setSecret(value);
}

/**
 * Uploads a Markdown run summary, shown in the run's Extensions tab (summary)
 * as a section named `title`. It is the long form of
 * `##vso[task.uploadsummary]<file>` (which names the section after the file,
 * `.md` included): `##vso[task.addattachment type=Distributedtask.Core.Summary;name=<title>]<file>`.
 * The file goes to Agent.TempDirectory; values registered as secrets are
 * masked in it (the agent masks the log, not attachments). A summary that
 * cannot be written is a warning: it never fails the task.
 */
export function uploadSummary(title: string, markdown: string): void {
  // The agent refuses attachment names holding characters invalid in file names (on Windows agents too).
  const name = title.replace(/[<>:"/\\|?*\x00-\x1f]+/g, ' ').trim() || 'Summary';
  try {
    // Straight into the temp folder (no mkdir: a recursive mkdir under /proc never returns).
    const dir = getVariable('Agent.TempDirectory') ?? tmpdir();
    const file = join(dir, `summary-${name.replace(/[^A-Za-z0-9._-]+/g, '-')}-${process.pid}-${Date.now()}.md`);
    writeFileSync(file, maskSecrets(markdown), { mode: 0o600 });
    tl.command('task.addattachment', { type: 'Distributedtask.Core.Summary', name }, file);
  } catch (err) {
    tl.warning(`The run summary '${name}' could not be written (${errorMessage(err)}); the task's result is not affected.`);
  }
}

export function setOutput(name: string, value: string | number): void {
  tl.setVariable(name, String(value), false, true);
}

/**
 * An AbortSignal aborted when the agent cancels the job: the agent sends
 * SIGINT, then SIGTERM after a grace period, then kills. Handling both keeps
 * the process alive for the task's cleanup (the handlers stay installed, so a
 * second signal does not end it early); the abort reason is a UserError
 * `Cancelled` naming what was cleaned up as the task words it.
 */
export function cancellationSignal(message = 'The job was cancelled.'): AbortSignal {
  const controller = new AbortController();
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.on(sig, () => {
      if (!controller.signal.aborted) {
        console.log(`Received ${sig}: cancelling.`);
        controller.abort(new UserError(message, { code: 'Cancelled' }));
      }
    });
  }
  return controller.signal;
}

function reportProgress(update: ProgressUpdate): void {
  console.log(update.line);
  if (update.percent !== undefined) tl.command('task.setprogress', { value: String(Math.floor(update.percent)) }, update.label);
}

export const taskLogger: Logger = {
  info: (m) => console.log(m),
  warn: (m) => tl.warning(m),
  debug: (m) => tl.debug(m),
  progress: reportProgress,
};

// ---------------------------------------------------------------- service connections

/**
 * task-lib's endpoint authorization, without its error for malformed JSON
 * (it quotes the whole stored document, credentials included).
 */
function readEndpointAuthorization(id: string, input: string): tl.EndpointAuthorization | undefined {
  try {
    return quietly(() => tl.getEndpointAuthorization(id, true));
  } catch {
    // Never the stored text: it holds the credentials.
    if (id === 'SYSTEMVSSCONNECTION')
      throw new InputError(
        input,
        `The job's access token (SYSTEMVSSCONNECTION) needed for '${input}' is stored in a form that cannot be read: re-run the job; if it persists, check the agent.`,
      );
    throw new InputError(
      input,
      `Service connection '${id}' given in '${input}' is stored in a form that cannot be read (its authorization is not valid JSON): edit the service connection, re-enter its credentials and save it.`,
    );
  }
}

function endpointAuth(id: string, input: string): { scheme: string; parameters: Record<string, string> } {
  const auth = readEndpointAuthorization(id, input);
  if (!auth) {
    throw new InputError(
      input,
      `Service connection '${id}' given in '${input}' was not found or has no authorization: check the connection exists and this pipeline is allowed to use it.`,
    );
  }
  const parameters: Record<string, string> = {};
  for (const [k, v] of Object.entries(auth.parameters ?? {})) {
    parameters[k.toLowerCase()] = v;
  }
  return { scheme: auth.scheme ?? '', parameters };
}

function endpointData(id: string, key: string): string | undefined {
  const v = tl.getEndpointDataParameter(id, key, true);
  return v ? v : undefined;
}

export function readAzureRmEndpoint(input: string): AzureRmEndpoint {
  const id = getRequiredString(input);
  const auth = endpointAuth(id, input);
  const schemeRaw = auth.scheme.toLowerCase();
  const scheme: AzureRmScheme | undefined =
    schemeRaw === 'serviceprincipal'
      ? 'ServicePrincipal'
      : schemeRaw === 'workloadidentityfederation'
        ? 'WorkloadIdentityFederation'
        : schemeRaw === 'managedserviceidentity'
          ? 'ManagedServiceIdentity'
          : undefined;
  if (!scheme) {
    throw new InputError(
      input,
      `Azure service connection '${id}' uses authentication scheme '${auth.scheme}', which is not supported: use service principal, workload identity federation or managed identity.`,
    );
  }
  const p = auth.parameters;
  const endpoint: AzureRmEndpoint = {
    id,
    scheme,
    tenantId: p['tenantid'],
    clientId: p['serviceprincipalid'],
    subscriptionId: endpointData(id, 'subscriptionid'),
    environment: endpointData(id, 'environment'),
    authorityHost: endpointData(id, 'activeDirectoryAuthority'),
  };
  const armUrl = tl.getEndpointUrl(id, true)?.trim();
  if (armUrl) endpoint.resourceManagerUrl = armUrl;
  if (scheme === 'ServicePrincipal') {
    if ((p['authenticationtype'] ?? '').toLowerCase() === 'spncertificate') {
      endpoint.certificatePem = p['serviceprincipalcertificate'];
      setSecret(endpoint.certificatePem);
    } else {
      endpoint.clientSecret = p['serviceprincipalkey'];
      setSecret(endpoint.clientSecret);
    }
    if (!endpoint.tenantId || !endpoint.clientId || !(endpoint.clientSecret || endpoint.certificatePem)) {
      throw new InputError(
        input,
        `Azure service connection '${id}' lacks a tenant id, client id or secret/certificate: edit the service connection and verify it.`,
      );
    }
  }
  if (scheme === 'WorkloadIdentityFederation') {
    const system = readEndpointAuthorization('SYSTEMVSSCONNECTION', input);
    endpoint.systemAccessToken = system?.parameters?.['AccessToken'];
    setSecret(endpoint.systemAccessToken);
    if (!endpoint.tenantId || !endpoint.clientId) {
      throw new InputError(
        input,
        `Azure service connection '${id}' (workload identity federation) lacks a tenant id or client id: edit the service connection and verify it.`,
      );
    }
  }
  return endpoint;
}

/** The extension's own S3 service connection type (`s3modelstore`). */
export function readS3Endpoint(input: string): S3Endpoint | undefined {
  const id = getString(input);
  if (!id) return undefined;
  const auth = endpointAuth(id, input);
  const p = auth.parameters;
  const url = tl.getEndpointUrl(id, true)?.trim();
  const e: S3Endpoint = {
    id,
    accessKeyId: p['username'] || undefined,
    secretAccessKey: p['password'] || undefined,
    sessionToken: p['sessiontoken'] || undefined,
    roleArn: p['assumerolearn'] || undefined,
    roleSessionName: p['rolesessionname'] || undefined,
    externalId: p['externalid'] || undefined,
    region: endpointData(id, 'region'),
    endpoint: url && !/^https:\/\/s3\.amazonaws\.com\/?$/i.test(url) ? url : undefined,
    forcePathStyle: (endpointData(id, 'forcePathStyle') ?? '').toLowerCase() === 'true',
  };
  setSecret(e.secretAccessKey);
  setSecret(e.sessionToken);
  if ((p['useoidc'] ?? '').toLowerCase() === 'true') {
    // Workload identity federation: the job's OIDC token for this connection, exchanged with STS (shared/storage/s3.ts).
    e.useOidc = true;
    e.oidcRequestUri = getVariable('System.OidcRequestUri');
    const system = readEndpointAuthorization('SYSTEMVSSCONNECTION', input);
    e.systemAccessToken = system?.parameters?.['AccessToken'] || undefined;
    setSecret(e.systemAccessToken);
    return e;
  }
  if (!e.accessKeyId || !e.secretAccessKey) {
    throw new InputError(
      input,
      `S3 service connection '${id}' lacks an access key id or secret access key: edit the service connection and fill in both, or tick 'Use OIDC' and name the role to assume.`,
    );
  }
  return e;
}

/** The value of a Basic Authorization header built from these credentials: a secret of its own. */
function setBasicSecret(username: string | undefined, password: string | undefined): void {
  if (username !== undefined && password) setSecret(Buffer.from(`${username}:${password}`).toString('base64'));
}

export function readDockerRegistryEndpoint(input: string): DockerRegistryEndpoint {
  const id = getRequiredString(input);
  const auth = endpointAuth(id, input);
  const p = auth.parameters;
  const registryType = (endpointData(id, 'registrytype') ?? 'Others').toUpperCase() === 'ACR' ? 'ACR' : 'Others';
  const stripScheme = (s: string) =>
    s
      .replace(/^https?:\/\//i, '')
      .replace(/\/+$/, '')
      .replace(/^index\.docker\.io\/v1$/i, 'docker.io');
  if (registryType === 'Others') {
    const registry = stripScheme(p['registry'] ?? tl.getEndpointUrl(id, true) ?? '');
    setSecret(p['password']);
    setBasicSecret(p['username'], p['password']);
    if (!registry) throw new InputError(input, `Docker registry service connection '${id}' has no registry URL: edit the service connection.`);
    return { id, registryType, registry, username: p['username'], password: p['password'] };
  }
  const registry = stripScheme(p['loginserver'] ?? p['registry'] ?? '');
  if (!registry) throw new InputError(input, `ACR service connection '${id}' has no login server: edit the service connection.`);
  const scheme = auth.scheme.toLowerCase();
  if (scheme === 'serviceprincipal' || scheme === 'usernamepassword') {
    setSecret(p['serviceprincipalkey'] ?? p['password']);
    setBasicSecret(p['serviceprincipalid'] ?? p['username'], p['serviceprincipalkey'] ?? p['password']);
    return { id, registryType, registry, username: p['serviceprincipalid'] ?? p['username'], password: p['serviceprincipalkey'] ?? p['password'] };
  }
  const azureScheme: AzureRmScheme = scheme === 'managedserviceidentity' ? 'ManagedServiceIdentity' : 'WorkloadIdentityFederation';
  const system = readEndpointAuthorization('SYSTEMVSSCONNECTION', input);
  const token = system?.parameters?.['AccessToken'];
  setSecret(token);
  return {
    id,
    registryType,
    registry,
    azure: {
      id,
      scheme: azureScheme,
      tenantId: p['tenantid'],
      clientId: p['serviceprincipalid'],
      systemAccessToken: token,
      environment: endpointData(id, 'environment'),
    },
  };
}

export function readKubernetesEndpoint(input: string): KubernetesEndpoint {
  const id = getRequiredString(input);
  const auth = endpointAuth(id, input);
  const p = auth.parameters;
  const typeRaw = (endpointData(id, 'authorizationType') ?? auth.scheme ?? 'Kubeconfig').toLowerCase();
  const accept = (endpointData(id, 'acceptUntrustedCerts') ?? '').toLowerCase() === 'true';
  const namespace = endpointData(id, 'namespace')?.trim() || undefined;
  if (typeRaw === 'serviceaccount' || typeRaw === 'token') {
    const rawToken = p['apitoken'] ?? '';
    const token = rawToken ? Buffer.from(rawToken, 'base64').toString('utf8') : undefined;
    const certRaw = p['serviceaccountcertificate'];
    const certificate = certRaw && !certRaw.includes('-----BEGIN') ? Buffer.from(certRaw, 'base64').toString('utf8') : certRaw;
    setSecret(rawToken);
    setSecret(token);
    return { id, authorizationType: 'ServiceAccount', serverUrl: tl.getEndpointUrl(id, true), certificate, token, acceptUntrustedCerts: accept, namespace };
  }
  if (typeRaw === 'azuresubscription') {
    const token = p['serviceaccounttoken'] ? Buffer.from(p['serviceaccounttoken'], 'base64').toString('utf8') : undefined;
    const certRaw = p['servicecertificate'] ?? p['serviceaccountcertificate'];
    setSecret(p['serviceaccounttoken']);
    setSecret(token);
    return {
      id,
      authorizationType: 'AzureSubscription',
      serverUrl: tl.getEndpointUrl(id, true),
      namespace,
      token,
      certificate: certRaw && !certRaw.includes('-----BEGIN') ? Buffer.from(certRaw, 'base64').toString('utf8') : certRaw,
    };
  }
  const kubeconfig = p['kubeconfig'];
  setKubeconfigSecrets(kubeconfig);
  if (!kubeconfig) throw new InputError(input, `Kubernetes service connection '${id}' holds no kubeconfig: edit the service connection.`);
  return { id, authorizationType: 'Kubeconfig', kubeconfig, clusterContext: p['clustercontext'] || undefined, acceptUntrustedCerts: accept, namespace };
}

/**
 * The job's access token (the SystemVssConnection endpoint's AccessToken, else
 * the System.AccessToken variable), registered as a secret; undefined when the
 * job does not hand it to tasks.
 */
export function jobAccessToken(): string | undefined {
  let token: string | undefined;
  try {
    token = quietly(() => tl.getEndpointAuthorization('SYSTEMVSSCONNECTION', true))?.parameters?.['AccessToken'];
  } catch {
    token = undefined;
  }
  token ||= quietly(() => getVariable('System.AccessToken'));
  setSecret(token);
  return token || undefined;
}

// ---------------------------------------------------------------- running a task

export interface RunTaskOptions {
  /**
   * Library option -> task input, for the options a task names differently.
   * The library's errors name the option (`UserError.input`); by design the
   * option names ARE the input names, so most tasks pass nothing.
   */
  inputNames?: Readonly<Record<string, string>>;
  /** The task's input rules (INPUT_RULES[task name]): checked before main runs, and the ranges getInt uses. */
  inputRules?: InputRules;
}

/**
 * Runs a task's main function: a {@link UserError} becomes a one-line failure
 * naming the task input it is about (the one place an option becomes an
 * input, see shared/errors.ts), anything else a failure whose stack is printed
 * when `system.debug` is true. The exit code follows the result.
 */
export async function runTask(main: () => Promise<void>, options: RunTaskOptions = {}): Promise<void> {
  try {
    activeRules = options.inputRules ?? {};
    checkInputRules(activeRules);
    await main();
  } catch (err) {
    if (isUserError(err)) {
      if (isDebug() && err.stack) console.log(err.stack);
      // One line: causes quoted from SDKs sometimes carry line breaks.
      const names = options.inputNames;
      const input = err.input !== undefined && names && Object.hasOwn(names, err.input) ? names[err.input] : err.input;
      tl.setResult(tl.TaskResult.Failed, namingInput(err.message.replace(/\s*[\r\n]+\s*/g, ' '), input));
      // Past the network deadline a request may still be running (a server dripping bytes): do not wait for it.
      if (err.code === 'NetworkDeadline') setTimeout(() => process.exit(1), 5000).unref();
    } else {
      if (isDebug() && err instanceof Error && err.stack) console.log(err.stack);
      tl.setResult(
        tl.TaskResult.Failed,
        `Unexpected error: ${errorMessage(err).replace(/\s*[\r\n]+\s*/g, ' ')} (set the variable system.debug to true and re-run to see details).`,
      );
    }
    process.exitCode = 1;
  }
}

/** The failure line names the input it is about: "Input 'x': ..." when the sentence does not already say 'x'. */
function namingInput(message: string, input: string | undefined): string {
  if (!input || message.includes(`'${input}'`) || new RegExp(`\\b${input.replace(/[^A-Za-z0-9]/g, '\\$&')} input\\b`).test(message)) return message;
  return `Input '${input}': ${message}`;
}

export function succeed(message: string): void {
  tl.setResult(tl.TaskResult.Succeeded, message);
}

/**
 * Succeeded, unless something the user relies on did not happen (`issues`,
 * already logged as warnings): then SucceededWithIssues, so the run shows it
 * and later steps can test for it, with the issues after the message.
 */
export function finish(message: string, issues: readonly string[] = []): void {
  if (issues.length === 0) succeed(message);
  else tl.setResult(tl.TaskResult.SucceededWithIssues, `${message} ${issues.join(' ')}`.replace(/\s*[\r\n]+\s*/g, ' '));
}
