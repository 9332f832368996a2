/**
 * The bad-input matrix: every task's real bundle (runMock) given one bad
 * input at a time, from a base set of inputs that is otherwise valid. Each
 * case must end:
 * - Failed, with ONE line (the task.complete message, a single error issue)
 *   that names the input by its task.json name and is not "Unexpected error";
 * - without a stack trace in stdout or stderr (system.debug is off);
 * - with nothing left behind: the case's sandbox (where destination / output
 *   folders point) and the shared fixtures are exactly as before (no new
 *   folder, no `.partial-*` or temp sibling, no changed file), and the agent
 *   temp folder holds nothing new but task-lib's key file.
 * Secrets are checked by runMock's secret scan on every case.
 *
 * Cases fail early on local input where they can; the ones that must reach a
 * store use Azurite on 127.0.0.1, and an endpoint that must be unreachable is
 * a closed loopback port (instant ECONNREFUSED). The matrix size and the count
 * that passed are printed at the end.
 */
import { strict as assert } from 'node:assert';
import { lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BlobServiceClient } from '@azure/storage-blob';
import { bundleImage } from '../../shared/oci/bundle';
import { startAzurite, type TestAzurite } from '../helpers/azurite';
import { runMock, type EndpointSpec, type MockRun, type TaskSpec } from './mock-task';

type TaskName = 'FetchModel' | 'BundleModelImage' | 'TestModelImage' | 'PushToACR' | 'DeployToAKS';

interface Ctx {
  /** This case's own empty folder: destinations and outputs point here. */
  sandbox: string;
  fixtures: string;
  azurite: TestAzurite;
}

interface BadCase {
  /** What is wrong, for the test title. */
  name: string;
  /** The task.json input the failure line must name. */
  input: string;
  /** Inputs over the task's base inputs (undefined removes one). */
  inputs?: (c: Ctx) => Record<string, string | undefined>;
  endpoints?: (c: Ctx) => Record<string, EndpointSpec>;
  env?: (c: Ctx) => Record<string, string>;
  /** Prepares the sandbox before the run (its state is then what must remain). */
  setup?: (c: Ctx) => void;
  /** More the line must say. */
  expect?: RegExp;
  /** Secret values beyond what the scan finds itself. */
  secrets?: string[];
  /**
   * Accepted instead of naming the input, with the reason: a network failure
   * the library reports without knowing which input named the endpoint.
   */
  namesValueInstead?: { pattern: RegExp; why: string };
}

const ZERO = `sha256:${'0'.repeat(64)}`;
const IMAGE = `127.0.0.1:9/models/resnet@sha256:${'a'.repeat(64)}`;
const AZURE_ENDPOINT_OK: EndpointSpec = {
  scheme: 'ServicePrincipal',
  parameters: { serviceprincipalid: 'app-id', tenantid: '11111111-2222-3333-4444-555555555555', serviceprincipalkey: 'sp-key-for-bad-inputs' },
  data: { subscriptionid: 'sub-1', environment: 'AzureCloud', activeDirectoryAuthority: 'https://127.0.0.1:9/' },
};
/** A truncated ENDPOINT_AUTH_<id> JSON whose secret must not be echoed. */
const MALFORMED_ENDPOINT_SECRET = 'malformed-json-secret-0123456789';
const malformedEndpointEnv = (id: string): Record<string, string> => ({
  [`ENDPOINT_AUTH_${id.toUpperCase()}`]: `{"scheme":"ServicePrincipal","parameters":{"serviceprincipalid":"app","serviceprincipalkey":"${MALFORMED_ENDPOINT_SECRET}"`,
  [`ENDPOINT_AUTH_SCHEME_${id.toUpperCase()}`]: 'ServicePrincipal',
});

// ------------------------------------------------------------------ FetchModel

const fetchBase = (c: Ctx): Record<string, string> => ({
  provider: 'azureBlob',
  authType: 'connectionString',
  connectionString: c.azurite.connectionString,
  container: 'models',
  modelPath: 'resnet/',
  versionSelection: 'highestVersion',
  destination: join(c.sandbox, 'model'),
});

const fetchCases: BadCase[] = [
  {
    name: 'reuse registry without a repository',
    input: 'reuseRepository',
    inputs: () => ({ reuseRegistryConnection: 'reg' }),
    endpoints: () => ({
      reg: {
        scheme: 'UsernamePassword',
        parameters: { registry: 'http://127.0.0.1:9', username: 'u', password: 'reuse-registry-password' },
        data: { registrytype: 'Others' },
      },
    }),
  },
  {
    name: 'reuse ACR without its Azure connection',
    input: 'reuseAzureSubscription',
    inputs: () => ({ reuseAzureContainerRegistry: 'contoso.azurecr.io', reuseRepository: 'models/a' }),
  },
  {
    name: 'reuse ACR name not a host',
    input: 'reuseAzureContainerRegistry',
    inputs: () => ({ reuseAzureContainerRegistry: 'not a host!', reuseRepository: 'models/a' }),
  },
  { name: 'reuseCompression unknown', input: 'reuseCompression', inputs: () => ({ reuseCompression: 'zstd' }) },
  { name: 'reuseLayers not a boolean', input: 'reuseLayers', inputs: () => ({ reuseLayers: 'sometimes' }) },
  { name: 'reverify not a boolean', input: 'reverify', inputs: () => ({ reverify: 'always' }) },
  { name: 'unknown provider', input: 'provider', inputs: () => ({ provider: 'gcs' }) },
  { name: 'unknown authType', input: 'authType', inputs: () => ({ authType: 'sasToken' }) },
  { name: 'unknown versionSelection', input: 'versionSelection', inputs: () => ({ versionSelection: 'newest' }) },
  { name: 'pinned without a version', input: 'version', inputs: () => ({ versionSelection: 'pinned' }) },
  { name: 'metadata selection without a filter', input: 'metadataFilter', inputs: () => ({ versionSelection: 'metadata' }) },
  { name: 'metadata filter line without =', input: 'metadataFilter', inputs: () => ({ versionSelection: 'metadata', metadataFilter: 'stage' }) },
  { name: 'expectedSha256 too short', input: 'expectedSha256', inputs: () => ({ expectedSha256: 'abc' }) },
  { name: 'expectedSha256 not hexadecimal', input: 'expectedSha256', inputs: () => ({ expectedSha256: 'g'.repeat(64) }) },
  { name: 'concurrency 0', input: 'concurrency', inputs: () => ({ concurrency: '0' }) },
  { name: 'concurrency not a number', input: 'concurrency', inputs: () => ({ concurrency: 'eight' }) },
  { name: 'concurrency above 64', input: 'concurrency', inputs: () => ({ concurrency: '65' }) },
  { name: 'blockSizeMiB 0', input: 'blockSizeMiB', inputs: () => ({ blockSizeMiB: '0' }) },
  { name: 'blockSizeMiB fractional', input: 'blockSizeMiB', inputs: () => ({ blockSizeMiB: '1.5' }) },
  { name: 'blockSizeMiB above 256', input: 'blockSizeMiB', inputs: () => ({ blockSizeMiB: '257' }) },
  { name: 'retries negative', input: 'retries', inputs: () => ({ retries: '-1' }) },
  { name: 'retries above 20', input: 'retries', inputs: () => ({ retries: '21' }) },
  { name: 'requireChecksum not a boolean', input: 'requireChecksum', inputs: () => ({ requireChecksum: 'maybe' }) },
  { name: 'extract not a boolean', input: 'extract', inputs: () => ({ extract: 'yes please' }) },
  { name: 'modelPath missing', input: 'modelPath', inputs: () => ({ modelPath: undefined }) },
  { name: 'container missing', input: 'container', inputs: () => ({ container: undefined }) },
  { name: 'container name invalid', input: 'container', inputs: () => ({ container: 'Bad_Container!' }) },
  { name: 'connectionString missing', input: 'connectionString', inputs: () => ({ connectionString: undefined }) },
  { name: 'connectionString not one', input: 'connectionString', inputs: () => ({ connectionString: 'this is not a connection string' }) },
  {
    name: 'SAS URL without a signature',
    input: 'connectionString',
    inputs: () => ({ connectionString: 'https://acct.blob.core.windows.net/models?sv=2022-11-02&sp=rl' }),
  },
  {
    name: 'service connection missing',
    input: 'azureSubscription',
    inputs: () => ({ authType: 'serviceConnection', storageAccount: 'acct', connectionString: undefined }),
  },
  {
    name: 'service connection not found',
    input: 'azureSubscription',
    inputs: () => ({ authType: 'serviceConnection', storageAccount: 'acct', azureSubscription: 'nosuch', connectionString: undefined }),
  },
  {
    name: 'service connection with an unsupported scheme',
    input: 'azureSubscription',
    inputs: () => ({ authType: 'serviceConnection', storageAccount: 'acct', azureSubscription: 'arm', connectionString: undefined }),
    endpoints: () => ({ arm: { scheme: 'UsernamePassword', parameters: { username: 'u', password: 'arm-password-value' } } }),
  },
  {
    name: 'service principal without its secret',
    input: 'azureSubscription',
    inputs: () => ({ authType: 'serviceConnection', storageAccount: 'acct', azureSubscription: 'arm', connectionString: undefined }),
    endpoints: () => ({ arm: { scheme: 'ServicePrincipal', parameters: { serviceprincipalid: 'app', tenantid: 'tenant' } } }),
  },
  { name: 'S3 without a bucket', input: 'bucket', inputs: () => ({ provider: 's3' }) },
  { name: 'S3 connection not found', input: 's3Connection', inputs: () => ({ provider: 's3', bucket: 'models', s3Connection: 'nosuch' }) },
  {
    name: 'S3 connection without a secret key',
    input: 's3Connection',
    inputs: () => ({ provider: 's3', bucket: 'models', s3Connection: 's3' }),
    endpoints: () => ({ s3: { scheme: 'UsernamePassword', url: 'http://127.0.0.1:9', parameters: { username: 'AKIDEXAMPLE' } } }),
  },
  { name: 'forcePathStyle not a boolean', input: 'forcePathStyle', inputs: () => ({ provider: 's3', bucket: 'models', forcePathStyle: 'sometimes' }) },
  { name: 'include glob that does not parse', input: 'include', inputs: () => ({ include: '[' }) },
  { name: 's3Endpoint not a URL', input: 's3Endpoint', inputs: () => ({ provider: 's3', bucket: 'models', s3Endpoint: 'not a url' }) },
  { name: 's3Endpoint with another scheme', input: 's3Endpoint', inputs: () => ({ provider: 's3', bucket: 'models', s3Endpoint: 'ftp://127.0.0.1:9' }) },
  {
    name: 'container differs from the SAS URL container',
    input: 'container',
    inputs: () => ({ connectionString: 'https://acct.blob.core.windows.net/other?sv=2022-11-02&sp=rl&sig=c2lnbmF0dXJlLXZhbHVlLTEyMzQ%3D' }),
  },
  {
    name: 'blobEndpoint not a URL',
    input: 'blobEndpoint',
    inputs: () => ({ authType: 'serviceConnection', azureSubscription: 'arm', storageAccount: 'acct', blobEndpoint: 'not a url', connectionString: undefined }),
    endpoints: () => ({ arm: AZURE_ENDPOINT_OK }),
  },
  {
    name: 'storageAccount not an account name',
    input: 'storageAccount',
    inputs: () => ({ authType: 'serviceConnection', azureSubscription: 'arm', storageAccount: 'Not_An_Account!', connectionString: undefined }),
    endpoints: () => ({ arm: AZURE_ENDPOINT_OK }),
  },
  // These reach Azurite.
  { name: 'container that does not exist', input: 'container', inputs: () => ({ container: 'nosuchcontainer' }) },
  { name: 'prefix with no objects', input: 'modelPath', inputs: () => ({ modelPath: 'nothing-here/' }) },
  { name: 'pinned version that is absent', input: 'version', inputs: () => ({ versionSelection: 'pinned', version: '9.9.9' }) },
  { name: 'metadata filter matching nothing', input: 'metadataFilter', inputs: () => ({ versionSelection: 'metadata', metadataFilter: 'stage=archived' }) },
  { name: 'include glob matching nothing', input: 'include', inputs: () => ({ include: 'nomatch/**' }) },
  { name: 'expectedSha256 that does not match', input: 'expectedSha256', inputs: () => ({ modelPath: 'single/model.onnx', expectedSha256: 'a'.repeat(64) }) },
  { name: 'requireChecksum on an unverifiable blob', input: 'requireChecksum', inputs: () => ({ modelPath: 'blocks/model.bin', requireChecksum: 'true' }) },
  {
    name: 'destination under a file',
    input: 'destination',
    setup: (c) => writeFileSync(join(c.sandbox, 'a-file'), 'not a folder'),
    inputs: (c) => ({ modelPath: 'single/model.onnx', destination: join(c.sandbox, 'a-file', 'model') }),
  },
  // Fixes on other branches.
  { name: 'modelPath with .. segments', input: 'modelPath', inputs: () => ({ modelPath: 'resnet/../../x.bin' }) },
  { name: 'destination that cannot be created (/proc)', input: 'destination', inputs: () => ({ destination: '/proc/x/y' }) },
  {
    name: 'malformed service connection JSON',
    input: 'azureSubscription',
    inputs: () => ({ authType: 'serviceConnection', storageAccount: 'acct', azureSubscription: 'armbad', connectionString: undefined }),
    env: () => malformedEndpointEnv('armbad'),
    secrets: [MALFORMED_ENDPOINT_SECRET],
  },
];

// ------------------------------------------------------------------ BundleModelImage

const bundleBase = (c: Ctx): Record<string, string> => ({
  mode: 'daemonless',
  baseImage: 'scratch',
  modelPath: join(c.fixtures, 'model'),
  appDirectory: join(c.fixtures, 'app'),
  tags: '1',
  outputPath: join(c.sandbox, 'image'),
});

const bundleCases: BadCase[] = [
  { name: 'layerCache not a boolean', input: 'layerCache', inputs: () => ({ layerCache: 'sometimes' }) },
  { name: 'unknown mode', input: 'mode', inputs: () => ({ mode: 'kaniko' }) },
  { name: 'unknown compression', input: 'compression', inputs: () => ({ compression: 'zstd' }) },
  { name: 'unknown imageFormat', input: 'imageFormat', inputs: () => ({ imageFormat: 'singularity' }) },
  { name: 'modelPath missing', input: 'modelPath', inputs: () => ({ modelPath: undefined }) },
  { name: 'modelPath that does not exist', input: 'modelPath', inputs: (c) => ({ modelPath: join(c.fixtures, 'no-such-model') }) },
  { name: 'appDirectory that does not exist', input: 'appDirectory', inputs: (c) => ({ appDirectory: join(c.fixtures, 'no-such-app') }) },
  { name: 'appDirectory that is a file', input: 'appDirectory', inputs: (c) => ({ appDirectory: join(c.fixtures, 'model', 'model.onnx') }) },
  { name: 'baseImage missing', input: 'baseImage', inputs: () => ({ baseImage: undefined }) },
  { name: 'baseImage not a reference', input: 'baseImage', inputs: () => ({ baseImage: 'Not A Reference!' }) },
  { name: 'baseImage OCI layout that does not exist', input: 'baseImage', inputs: (c) => ({ baseImage: `oci:${join(c.fixtures, 'no-such-layout')}:1` }) },
  {
    name: 'baseImage on an unreachable registry',
    input: 'baseImage',
    inputs: () => ({ baseImage: '127.0.0.1:9/base/busybox:1' }),
    namesValueInstead: {
      pattern: /Registry 127\.0\.0\.1:9 is unreachable/,
      why: 'registry network errors carry no input; the line names the registry of baseImage',
    },
  },
  {
    name: 'baseRegistryConnection not found',
    input: 'baseRegistryConnection',
    inputs: () => ({ baseImage: '127.0.0.1:9/base/busybox:1', baseRegistryConnection: 'nosuch' }),
  },
  { name: 'platform without an architecture', input: 'platform', inputs: () => ({ platform: 'amd64' }) },
  { name: 'modelSha256 not 64 hex digits', input: 'modelSha256', inputs: () => ({ modelSha256: 'xyz' }) },
  { name: 'entrypoint: broken JSON array', input: 'entrypoint', inputs: () => ({ entrypoint: '["python", ' }) },
  { name: 'entrypoint: JSON that is not an array of strings', input: 'entrypoint', inputs: () => ({ entrypoint: '[1, 2]' }) },
  { name: 'cmd with an unclosed quote', input: 'cmd', inputs: () => ({ cmd: 'python "serve.py' }) },
  { name: 'env line without =', input: 'env', inputs: () => ({ env: 'JUSTAWORD' }) },
  { name: 'env name starting with a digit', input: 'env', inputs: () => ({ env: '1ABC=x' }) },
  { name: 'port not a number', input: 'ports', inputs: () => ({ ports: '80/http' }) },
  { name: 'port out of range', input: 'ports', inputs: () => ({ ports: '70000' }) },
  { name: 'label line without =', input: 'labels', inputs: () => ({ labels: 'no equals sign' }) },
  { name: 'tag starting with -', input: 'tags', inputs: () => ({ tags: '-bad' }) },
  { name: 'tag longer than 128', input: 'tags', inputs: () => ({ tags: 't'.repeat(129) }) },
  { name: 'imageName not a repository name', input: 'imageName', inputs: () => ({ imageName: 'Bad Name!' }) },
  { name: 'imageName with a tag', input: 'imageName', inputs: () => ({ imageName: 'models/resnet:1' }) },
  { name: 'workingDirectory not absolute', input: 'workingDirectory', inputs: () => ({ workingDirectory: 'relative/dir' }) },
  {
    name: 'outputPath under a file',
    input: 'outputPath',
    setup: (c) => writeFileSync(join(c.sandbox, 'a-file'), 'not a folder'),
    inputs: (c) => ({ outputPath: join(c.sandbox, 'a-file', 'image') }),
  },
  {
    name: 'docker mode: Dockerfile that does not exist',
    input: 'dockerfile',
    inputs: (c) => ({ mode: 'docker', dockerfile: join(c.fixtures, 'no-such-Dockerfile') }),
  },
  {
    name: 'docker mode: buildContext that is a file',
    input: 'buildContext',
    inputs: (c) => ({ mode: 'docker', dockerfile: join(c.fixtures, 'Dockerfile'), buildContext: join(c.fixtures, 'Dockerfile') }),
  },
  {
    name: 'docker mode: buildArgs line without =',
    input: 'buildArgs',
    inputs: (c) => ({ mode: 'docker', dockerfile: join(c.fixtures, 'Dockerfile'), buildArgs: 'TOKEN' }),
  },
  // Fixes on other branches.
  { name: 'modelDestination with .. (../../etc)', input: 'modelDestination', inputs: () => ({ modelDestination: '../../etc' }) },
  { name: 'appDestination with .. (../../etc)', input: 'appDestination', inputs: () => ({ appDestination: '../../etc' }) },
  {
    name: 'outputPath not empty and without oci-layout',
    input: 'outputPath',
    setup: (c) => {
      mkdirSync(join(c.sandbox, 'precious'));
      writeFileSync(join(c.sandbox, 'precious', 'keep.txt'), 'not an image layout');
    },
    inputs: (c) => ({ outputPath: join(c.sandbox, 'precious') }),
  },
  { name: 'outputPath that cannot be created (/proc)', input: 'outputPath', inputs: () => ({ outputPath: '/proc/x/y' }) },
  {
    name: 'malformed service connection JSON',
    input: 'baseRegistryConnection',
    inputs: () => ({ baseImage: '127.0.0.1:9/base/busybox:1', baseRegistryConnection: 'regbad' }),
    env: () => malformedEndpointEnv('regbad'),
    secrets: [MALFORMED_ENDPOINT_SECRET],
  },
];

// ------------------------------------------------------------------ TestModelImage

// Every case fails before a container engine is involved, except the engine's own cases (DOCKER_HOST names no socket).
const testBase = (c: Ctx): Record<string, string> => ({ imageLayout: join(c.fixtures, 'layout'), containerPort: '8080' });
const spec = (c: Ctx, name: string, text: string): string => {
  const file = join(c.sandbox, name);
  writeFileSync(file, text);
  return file;
};

const testCases: BadCase[] = [
  { name: 'imageLayout missing', input: 'imageLayout', inputs: () => ({ imageLayout: undefined }) },
  { name: 'imageLayout that does not exist', input: 'imageLayout', inputs: (c) => ({ imageLayout: join(c.fixtures, 'no-such-layout') }) },
  { name: 'imageLayout a folder that is not a layout', input: 'imageLayout', inputs: (c) => ({ imageLayout: join(c.fixtures, 'app') }) },
  { name: 'sourceTag not in the layout', input: 'sourceTag', inputs: () => ({ sourceTag: 'nope' }), expect: /has no image named 'nope'/ },
  { name: 'modelSha256 not 64 hex digits', input: 'modelSha256', inputs: () => ({ modelSha256: 'abc' }) },
  { name: 'engine not a choice', input: 'engine', inputs: () => ({ engine: 'containerd' }) },
  {
    name: 'engine docker whose engine does not answer',
    input: 'engine',
    inputs: () => ({ engine: 'docker' }),
    expect: /The Docker CLI is on PATH but its engine does not answer/,
  },
  {
    name: 'engine podman not installed',
    input: 'engine',
    inputs: () => ({ engine: 'podman' }),
    env: (c) => ({ PATH: c.sandbox }),
    expect: /with Podman, and none is on PATH/,
  },
  { name: 'network not a choice', input: 'network', inputs: () => ({ network: 'bridge' }) },
  { name: 'containerPort not a number', input: 'containerPort', inputs: () => ({ containerPort: 'http' }) },
  { name: 'containerPort out of range', input: 'containerPort', inputs: () => ({ containerPort: '70000' }) },
  {
    name: 'containerPort empty and the image exposes none',
    input: 'containerPort',
    inputs: () => ({ containerPort: undefined }),
    expect: /exposes no TCP port/,
  },
  { name: 'env line without =', input: 'env', inputs: () => ({ env: 'PORT=1\nNOEQUALS' }) },
  { name: 'readinessPath without a leading slash', input: 'readinessPath', inputs: () => ({ readinessPath: 'healthz' }) },
  { name: 'readinessTimeoutSeconds not a number', input: 'readinessTimeoutSeconds', inputs: () => ({ readinessTimeoutSeconds: 'soon' }) },
  { name: 'readinessTimeoutSeconds zero', input: 'readinessTimeoutSeconds', inputs: () => ({ readinessTimeoutSeconds: '0' }) },
  { name: 'versionPath without a leading slash', input: 'versionPath', inputs: () => ({ versionPath: 'version' }) },
  { name: 'versionSha256Path not a JSON path', input: 'versionSha256Path', inputs: () => ({ versionSha256Path: 'modelSha256' }) },
  { name: 'checkSpec that does not exist', input: 'checkSpec', inputs: (c) => ({ checkSpec: join(c.fixtures, 'no-such-spec.yaml') }) },
  {
    name: 'checkSpec not YAML',
    input: 'checkSpec',
    inputs: (c) => ({ checkSpec: spec(c, 's.yaml', 'checks:\n  - request: [\n') }),
    expect: /line \d+: not valid YAML or JSON/,
  },
  {
    name: 'checkSpec with a misspelt key',
    input: 'checkSpec',
    inputs: (c) => ({ checkSpec: spec(c, 's.yaml', 'checks:\n  - request: { path: / }\n    expects: { status: 200 }\n') }),
    expect: /line 3: unknown key 'expects' in a check/,
  },
  {
    name: 'checkSpec whose body file is missing',
    input: 'checkSpec',
    inputs: (c) => ({ checkSpec: spec(c, 's.yaml', '- request: { method: POST, path: /score, bodyFile: gone.json }\n') }),
    expect: /line 1: body file .*gone\.json cannot be read \(ENOENT\)/,
  },
  { name: 'predictionRequest without a method', input: 'predictionRequest', inputs: () => ({ predictionRequest: '/score' }) },
  {
    name: 'predictionRequest body file missing',
    input: 'predictionRequest',
    inputs: (c) => ({ predictionRequest: `POST /score @${join(c.fixtures, 'nope.json')}` }),
  },
  { name: 'predictionExpect without a request', input: 'predictionExpect', inputs: () => ({ predictionExpect: 'status 200' }) },
  {
    name: 'predictionExpect unquoted text',
    input: 'predictionExpect',
    inputs: () => ({ predictionRequest: 'GET /', predictionExpect: 'status 200\n$.label == setosa' }),
    expect: /line 2: .*quote text/,
  },
  {
    name: 'predictionExpect beside a spec file in predictionRequest',
    input: 'predictionExpect',
    inputs: (c) => ({ predictionRequest: spec(c, 'p.yaml', '- request: { path: / }\n'), predictionExpect: 'status 200' }),
  },
  { name: 'requestTimeoutSeconds negative', input: 'requestTimeoutSeconds', inputs: () => ({ requestTimeoutSeconds: '-1' }) },
  { name: 'logLines not a number', input: 'logLines', inputs: () => ({ logLines: 'many' }) },
];

// ------------------------------------------------------------------ PushToACR

const pushBase = (c: Ctx): Record<string, string> => ({
  imageLayout: join(c.fixtures, 'layout'),
  registryType: 'serviceConnection',
  dockerRegistryConnection: 'reg',
  repository: 'models/scorer',
  tags: '1',
});
const pushEndpoints = (): Record<string, EndpointSpec> => ({
  reg: {
    scheme: 'UsernamePassword',
    parameters: { registry: 'http://127.0.0.1:9', username: 'pusher', password: 'push-password-value' },
    data: { registrytype: 'Others' },
  },
  arm: AZURE_ENDPOINT_OK,
});

const pushCases: BadCase[] = [
  { name: 'recordModelLayer not a boolean', input: 'recordModelLayer', inputs: () => ({ recordModelLayer: 'sometimes' }) },
  { name: 'imageLayout missing', input: 'imageLayout', inputs: () => ({ imageLayout: undefined }) },
  { name: 'imageLayout that does not exist', input: 'imageLayout', inputs: (c) => ({ imageLayout: join(c.fixtures, 'no-such-layout') }) },
  { name: 'imageLayout that is a file', input: 'imageLayout', inputs: (c) => ({ imageLayout: join(c.fixtures, 'model', 'model.onnx') }) },
  { name: 'imageLayout a folder that is not a layout', input: 'imageLayout', inputs: (c) => ({ imageLayout: join(c.fixtures, 'app') }) },
  { name: 'tag starting with -', input: 'tags', inputs: () => ({ tags: 'ok\n-bad' }) },
  { name: 'tag with a space', input: 'tags', inputs: () => ({ tags: 'a b' }) },
  { name: 'tag longer than 128', input: 'tags', inputs: () => ({ tags: 't'.repeat(129) }) },
  { name: 'addModelVersionTag not a boolean', input: 'addModelVersionTag', inputs: () => ({ addModelVersionTag: 'maybe' }) },
  { name: 'insecure not a boolean', input: 'insecure', inputs: () => ({ insecure: 'perhaps' }) },
  { name: 'chunkSizeMiB 0', input: 'chunkSizeMiB', inputs: () => ({ chunkSizeMiB: '0' }) },
  { name: 'chunkSizeMiB not a number', input: 'chunkSizeMiB', inputs: () => ({ chunkSizeMiB: 'big' }) },
  { name: 'chunkSizeMiB above 1024', input: 'chunkSizeMiB', inputs: () => ({ chunkSizeMiB: '2048' }) },
  { name: 'concurrency 0', input: 'concurrency', inputs: () => ({ concurrency: '0' }) },
  { name: 'concurrency above 16', input: 'concurrency', inputs: () => ({ concurrency: '17' }) },
  { name: 'unknown registryType', input: 'registryType', inputs: () => ({ registryType: 'ecr' }) },
  { name: 'dockerRegistryConnection missing', input: 'dockerRegistryConnection', inputs: () => ({ dockerRegistryConnection: undefined }) },
  { name: 'dockerRegistryConnection not found', input: 'dockerRegistryConnection', inputs: () => ({ dockerRegistryConnection: 'nosuch' }) },
  {
    name: 'registry connection without a registry URL',
    input: 'dockerRegistryConnection',
    endpoints: () => ({
      reg: { scheme: 'UsernamePassword', parameters: { username: 'pusher', password: 'push-password-value' }, data: { registrytype: 'Others' } },
    }),
  },
  {
    name: 'ACR connection without a login server',
    input: 'dockerRegistryConnection',
    endpoints: () => ({
      reg: { scheme: 'ServicePrincipal', parameters: { serviceprincipalid: 'app', serviceprincipalkey: 'acr-sp-key-value' }, data: { registrytype: 'ACR' } },
    }),
  },
  {
    name: 'registry connection whose registry is not a host',
    input: 'dockerRegistryConnection',
    endpoints: () => ({
      reg: {
        scheme: 'UsernamePassword',
        parameters: { registry: 'not a registry!', username: 'pusher', password: 'push-password-value' },
        data: { registrytype: 'Others' },
      },
    }),
  },
  { name: 'repository missing', input: 'repository', inputs: () => ({ repository: undefined }) },
  { name: 'repository with upper case', input: 'repository', inputs: () => ({ repository: 'Models/Scorer' }) },
  { name: 'repository with a tag', input: 'repository', inputs: () => ({ repository: 'models/scorer:1' }) },
  { name: 'repository with a digest', input: 'repository', inputs: () => ({ repository: `models/scorer@${ZERO}` }) },
  { name: 'repository with an empty segment', input: 'repository', inputs: () => ({ repository: 'models//scorer' }) },
  { name: 'sourceTag not in the layout', input: 'sourceTag', inputs: () => ({ sourceTag: 'v9' }) },
  { name: 'mountFrom not a repository name', input: 'mountFrom', inputs: () => ({ mountFrom: 'Not A Repo!' }) },
  { name: 'mountFrom with a tag', input: 'mountFrom', inputs: () => ({ mountFrom: 'models/base:1' }) },
  {
    name: 'azureSubscription missing',
    input: 'azureSubscription',
    inputs: () => ({ registryType: 'azureContainerRegistry', azureContainerRegistry: 'contoso.azurecr.io' }),
  },
  {
    name: 'azureSubscription not found',
    input: 'azureSubscription',
    inputs: () => ({ registryType: 'azureContainerRegistry', azureSubscription: 'nosuch', azureContainerRegistry: 'contoso.azurecr.io' }),
  },
  {
    name: 'azureSubscription with an unsupported scheme',
    input: 'azureSubscription',
    inputs: () => ({ registryType: 'azureContainerRegistry', azureSubscription: 'armup', azureContainerRegistry: 'contoso.azurecr.io' }),
    endpoints: () => ({ armup: { scheme: 'UsernamePassword', parameters: { username: 'u', password: 'arm-password-value' } } }),
  },
  {
    name: 'azureContainerRegistry missing',
    input: 'azureContainerRegistry',
    inputs: () => ({ registryType: 'azureContainerRegistry', azureSubscription: 'arm' }),
  },
  {
    name: 'azureContainerRegistry not a host',
    input: 'azureContainerRegistry',
    inputs: () => ({ registryType: 'azureContainerRegistry', azureSubscription: 'arm', azureContainerRegistry: 'not a registry!' }),
  },
  // Fixes on other branches.
  {
    name: 'malformed service connection JSON',
    input: 'dockerRegistryConnection',
    inputs: () => ({ dockerRegistryConnection: 'regbad' }),
    endpoints: () => ({}),
    env: () => malformedEndpointEnv('regbad'),
    secrets: [MALFORMED_ENDPOINT_SECRET],
  },
];

// ------------------------------------------------------------------ DeployToAKS

const deployBase = (c: Ctx): Record<string, string> => ({
  connectionType: 'kubeconfig',
  kubeconfig: join(c.fixtures, 'kubeconfig.yaml'),
  image: IMAGE,
  namespace: 'models',
  rolloutTimeoutSeconds: '30',
});
const AKS = { connectionType: 'azureResourceManager', azureSubscription: 'arm', resourceGroup: 'rg', kubernetesCluster: 'aks', kubeconfig: undefined };

const deployCases: BadCase[] = [
  { name: 'unknown connectionType', input: 'connectionType', inputs: () => ({ connectionType: 'ssh' }) },
  { name: 'renderOnly not a boolean', input: 'renderOnly', inputs: () => ({ renderOnly: 'maybe' }) },
  { name: 'image missing', input: 'image', inputs: () => ({ image: undefined }) },
  { name: 'image not a reference', input: 'image', inputs: () => ({ image: 'Not An Image!' }) },
  { name: 'image with a malformed digest', input: 'image', inputs: () => ({ image: '127.0.0.1:9/models/resnet@sha256:abc' }) },
  { name: 'image by tag on an unreachable registry', input: 'image', inputs: () => ({ image: '127.0.0.1:9/models/resnet:1.0' }) },
  { name: 'replicas negative', input: 'replicas', inputs: () => ({ replicas: '-1' }) },
  { name: 'replicas not a number', input: 'replicas', inputs: () => ({ replicas: 'two' }) },
  { name: 'containerPort 0', input: 'containerPort', inputs: () => ({ containerPort: '0' }) },
  { name: 'containerPort above 65535', input: 'containerPort', inputs: () => ({ containerPort: '70000' }) },
  { name: 'servicePort not a number', input: 'servicePort', inputs: () => ({ servicePort: 'http' }) },
  { name: 'unknown serviceType', input: 'serviceType', inputs: () => ({ serviceType: 'NodePort' }) },
  { name: 'internalLoadBalancer not a boolean', input: 'internalLoadBalancer', inputs: () => ({ serviceType: 'LoadBalancer', internalLoadBalancer: 'maybe' }) },
  { name: 'startupTimeoutSeconds below 5', input: 'startupTimeoutSeconds', inputs: () => ({ startupTimeoutSeconds: '1' }) },
  { name: 'gpuLimit above 64', input: 'gpuLimit', inputs: () => ({ gpuLimit: '65' }) },
  { name: 'progressDeadlineSeconds 0', input: 'progressDeadlineSeconds', inputs: () => ({ progressDeadlineSeconds: '0' }) },
  { name: 'rolloutTimeoutSeconds 0', input: 'rolloutTimeoutSeconds', inputs: () => ({ rolloutTimeoutSeconds: '0' }) },
  { name: 'rollbackOnFailure not a boolean', input: 'rollbackOnFailure', inputs: () => ({ rollbackOnFailure: 'maybe' }) },
  { name: 'env line without =', input: 'env', inputs: () => ({ env: 'NOEQUALS' }) },
  { name: 'appName not a DNS label', input: 'appName', inputs: () => ({ appName: 'Model_Server' }) },
  { name: 'cpuRequest not a quantity', input: 'cpuRequest', inputs: () => ({ cpuRequest: 'lots' }) },
  { name: 'memoryRequest not a quantity', input: 'memoryRequest', inputs: () => ({ memoryRequest: '1 GB' }) },
  { name: 'memoryLimit not a quantity', input: 'memoryLimit', inputs: () => ({ memoryLimit: 'unlimited' }) },
  { name: 'maxSurge not a number or percentage', input: 'maxSurge', inputs: () => ({ maxSurge: 'many' }) },
  { name: 'maxSurge and maxUnavailable both 0', input: 'maxUnavailable', inputs: () => ({ maxSurge: '0', maxUnavailable: '0' }) },
  { name: 'manifest file that does not exist', input: 'manifests', inputs: (c) => ({ manifests: join(c.fixtures, 'no-such.yaml') }) },
  { name: 'manifest with invalid YAML', input: 'manifests', inputs: (c) => ({ manifests: join(c.fixtures, 'bad.yaml') }) },
  { name: 'manifest that is not a Kubernetes object', input: 'manifests', inputs: (c) => ({ manifests: join(c.fixtures, 'not-k8s.yaml') }) },
  { name: 'manifest glob matching nothing', input: 'manifests', inputs: (c) => ({ manifests: join(c.fixtures, 'nothing-*.yaml') }) },
  { name: 'kubeconfig file that does not exist', input: 'kubeconfig', inputs: (c) => ({ kubeconfig: join(c.fixtures, 'no-such-kubeconfig') }) },
  { name: 'kubeconfig file that is not a kubeconfig', input: 'kubeconfig', inputs: (c) => ({ kubeconfig: join(c.fixtures, 'bad.yaml') }) },
  { name: 'kubernetesServiceConnection missing', input: 'kubernetesServiceConnection', inputs: () => ({ connectionType: 'kubernetesServiceConnection' }) },
  {
    name: 'kubernetesServiceConnection not found',
    input: 'kubernetesServiceConnection',
    inputs: () => ({ connectionType: 'kubernetesServiceConnection', kubernetesServiceConnection: 'nosuch' }),
  },
  {
    name: 'Kubernetes connection holding no kubeconfig',
    input: 'kubernetesServiceConnection',
    inputs: () => ({ connectionType: 'kubernetesServiceConnection', kubernetesServiceConnection: 'k8s' }),
    endpoints: () => ({ k8s: { scheme: 'Kubernetes', parameters: {}, data: { authorizationType: 'Kubeconfig' } } }),
  },
  {
    name: 'Kubernetes service-account connection without a token',
    input: 'kubernetesServiceConnection',
    inputs: () => ({ connectionType: 'kubernetesServiceConnection', kubernetesServiceConnection: 'sa' }),
    endpoints: () => ({ sa: { scheme: 'Token', url: 'https://127.0.0.1:9', parameters: {}, data: { authorizationType: 'ServiceAccount' } } }),
  },
  { name: 'azureSubscription missing', input: 'azureSubscription', inputs: () => ({ ...AKS, azureSubscription: undefined }) },
  { name: 'azureSubscription not found', input: 'azureSubscription', inputs: () => ({ ...AKS, azureSubscription: 'nosuch' }) },
  {
    name: 'azureSubscription without a subscription id',
    input: 'azureSubscription',
    inputs: () => ({ ...AKS }),
    endpoints: () => ({ arm: { ...AZURE_ENDPOINT_OK, data: { environment: 'AzureCloud' } } }),
  },
  {
    name: 'resourceGroup missing',
    input: 'resourceGroup',
    inputs: () => ({ ...AKS, resourceGroup: undefined }),
    endpoints: () => ({ arm: AZURE_ENDPOINT_OK }),
  },
  {
    name: 'kubernetesCluster missing',
    input: 'kubernetesCluster',
    inputs: () => ({ ...AKS, kubernetesCluster: undefined }),
    endpoints: () => ({ arm: AZURE_ENDPOINT_OK }),
  },
  {
    name: 'useClusterAdmin not a boolean',
    input: 'useClusterAdmin',
    inputs: () => ({ ...AKS, useClusterAdmin: 'maybe' }),
    endpoints: () => ({ arm: AZURE_ENDPOINT_OK }),
  },
  { name: 'imageRegistryConnection not found', input: 'imageRegistryConnection', inputs: () => ({ imageRegistryConnection: 'nosuch' }) },
  { name: 'namespace not a DNS label', input: 'namespace', inputs: () => ({ namespace: 'Bad_Namespace' }) },
  { name: 'imagePullSecrets name not a DNS name', input: 'imagePullSecrets', inputs: () => ({ imagePullSecrets: 'Bad_Secret!' }) },
  { name: 'modelSha256 not 64 hex digits', input: 'modelSha256', inputs: () => ({ modelSha256: 'xyz' }) },
  // canary releases
  { name: 'unknown action', input: 'action', inputs: () => ({ action: 'rollback' }) },
  { name: 'unknown strategy', input: 'strategy', inputs: () => ({ strategy: 'blueGreen' }) },
  { name: 'percentage 0', input: 'percentage', inputs: () => ({ strategy: 'canary', percentage: '0' }), expect: /between 1 and 99/ },
  { name: 'percentage above 99', input: 'percentage', inputs: () => ({ strategy: 'canary', percentage: '100' }), expect: /between 1 and 99/ },
  { name: 'percentage not a number', input: 'percentage', inputs: () => ({ strategy: 'canary', percentage: 'ten' }) },
  {
    name: 'percentage above 50 with smi',
    input: 'percentage',
    inputs: () => ({ strategy: 'canary', trafficSplitMethod: 'smi', percentage: '60' }),
    expect: /at most 50 with trafficSplitMethod smi/,
  },
  { name: 'unknown trafficSplitMethod', input: 'trafficSplitMethod', inputs: () => ({ strategy: 'canary', trafficSplitMethod: 'istio' }) },
  {
    name: 'baselineAndCanaryReplicas 0',
    input: 'baselineAndCanaryReplicas',
    inputs: () => ({ strategy: 'canary', trafficSplitMethod: 'gatewayApi', baselineAndCanaryReplicas: '0' }),
  },
  { name: 'renderOnly with action promote', input: 'renderOnly', inputs: () => ({ action: 'promote', renderOnly: 'true' }) },
  { name: 'smokeTestRequest not a request line', input: 'smokeTestRequest', inputs: () => ({ smokeTestRequest: 'predict please' }) },
  {
    name: 'smokeTestRequest body file that does not exist',
    input: 'smokeTestRequest',
    inputs: (c) => ({ smokeTestRequest: `POST /v1/predict @${join(c.fixtures, 'no-such-sample.json')}` }),
  },
  {
    name: 'smokeTestExpect not an expectation',
    input: 'smokeTestExpect',
    inputs: () => ({ smokeTestRequest: 'GET /healthz', smokeTestExpect: 'label is tiger' }),
  },
  { name: 'smokeTestExpect without smokeTestRequest', input: 'smokeTestExpect', inputs: () => ({ smokeTestExpect: 'status 200' }) },
  // Fixes on other branches.
  {
    name: 'malformed service connection JSON',
    input: 'kubernetesServiceConnection',
    inputs: () => ({ connectionType: 'kubernetesServiceConnection', kubernetesServiceConnection: 'k8sbad' }),
    env: () => malformedEndpointEnv('k8sbad'),
    secrets: [MALFORMED_ENDPOINT_SECRET],
  },
];

// ------------------------------------------------------------------ the harness

const MATRIX: Array<{ task: TaskName; base: (c: Ctx) => Record<string, string>; endpoints?: () => Record<string, EndpointSpec>; cases: BadCase[] }> = [
  { task: 'FetchModel', base: fetchBase, cases: fetchCases },
  { task: 'BundleModelImage', base: bundleBase, cases: bundleCases },
  { task: 'TestModelImage', base: testBase, cases: testCases },
  { task: 'PushToACR', base: pushBase, endpoints: pushEndpoints, cases: pushCases },
  { task: 'DeployToAKS', base: deployBase, cases: deployCases },
];

/** Every path under dir with its type and size (and content for small files), for before/after comparison. */
function snapshot(dir: string, ignore: (name: string) => boolean = () => false): string[] {
  const out: string[] = [];
  const walk = (d: string, rel: string) => {
    let names: string[];
    try {
      names = readdirSync(d).sort();
    } catch {
      return;
    }
    for (const n of names) {
      if (ignore(n)) continue;
      const p = join(d, n);
      const st = lstatSync(p);
      const r = rel ? `${rel}/${n}` : n;
      if (st.isDirectory()) {
        out.push(`${r}/`);
        walk(p, r);
      } else {
        out.push(`${r} ${st.size}${st.isFile() && st.size < 4096 ? ` ${readFileSync(p).toString('base64')}` : ''}`);
      }
    }
  };
  walk(dir, '');
  return out;
}

const STACK_FRAME = /^\s+at \S.*(\(.*:\d+:\d+\)|:\d+:\d+)$/m;

function checkFailure(run: MockRun, c: BadCase): void {
  const out = `${run.visible}\n${run.stderr}`;
  assert.equal(run.succeeded, false, `the task succeeded:\n${run.stdout.slice(-3000)}`);
  assert.ok(run.message, `no failure message:\n${run.stdout.slice(-3000)}`);
  assert.ok(!/[\r\n]|%0A|%0D/.test(run.message), `the failure is more than one line: ${run.message}`);
  const errors = run.stdout.split('\n').filter((l) => l.startsWith('##vso[task.issue type=error'));
  assert.ok(errors.length <= 1, `more than one error line:\n${errors.join('\n')}`);
  assert.ok(!/^Unexpected error/.test(run.message), `not a handled failure: ${run.message}`);
  // The input by its task.json name: quoted ('modelPath') or as "the modelPath input".
  const namesInput = run.message.includes(`'${c.input}'`) || new RegExp(`\\b${c.input} input\\b`).test(run.message);
  assert.ok(namesInput || c.namesValueInstead?.pattern.test(run.message), `the failure does not name the input '${c.input}': ${run.message}`);
  if (c.expect) assert.match(run.message, c.expect);
  assert.ok(!STACK_FRAME.test(out), `a stack trace was printed without system.debug:\n${out.slice(-3000)}`);
}

describe('bad-input matrix (every task, the real bundles)', function () {
  this.timeout(120_000);
  let azurite: TestAzurite;
  let work: string;
  let fixtures: string;
  let agentTemp: string;
  const tally = new Map<TaskName, { cases: number; passed: number }>();

  before(async function () {
    this.timeout(180_000);
    work = mkdtempSync(join(tmpdir(), 'bad-inputs-'));
    fixtures = join(work, 'fixtures');
    agentTemp = join(work, 'agent-temp');
    mkdirSync(join(fixtures, 'model'), { recursive: true });
    mkdirSync(join(fixtures, 'app'), { recursive: true });
    mkdirSync(agentTemp);
    writeFileSync(join(fixtures, 'model', 'model.onnx'), 'model bytes\n');
    writeFileSync(join(fixtures, 'app', 'serve.py'), 'print("hi")\n');
    writeFileSync(join(fixtures, 'Dockerfile'), 'FROM scratch\n');
    writeFileSync(join(fixtures, 'bad.yaml'), 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\ndata: [\n');
    writeFileSync(join(fixtures, 'not-k8s.yaml'), 'just: data\n');
    writeFileSync(
      join(fixtures, 'kubeconfig.yaml'),
      'apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster: { server: "https://127.0.0.1:9" }\nusers:\n- name: u\n  user: { token: "kube-token-for-bad-inputs" }\ncontexts:\n- name: c\n  context: { cluster: c, user: u }\ncurrent-context: c\n',
    );
    await bundleImage({ baseImage: 'scratch', model: { path: join(fixtures, 'model') }, tags: ['1'], outputPath: join(fixtures, 'layout') });

    azurite = await startAzurite();
    const container = BlobServiceClient.fromConnectionString(azurite.connectionString).getContainerClient('models');
    await container.create();
    await container.getBlockBlobClient('resnet/1.4.0/model.bin').uploadData(Buffer.from('weights 1.4.0'));
    await container.getBlockBlobClient('resnet/1.10.0/model.bin').uploadData(Buffer.from('weights 1.10.0'));
    await container.getBlockBlobClient('single/model.onnx').uploadData(Buffer.from('a single-file model'));
    const blocks = container.getBlockBlobClient('blocks/model.bin');
    await blocks.stageBlock(Buffer.from('000').toString('base64'), Buffer.from('part one,'), 9);
    await blocks.stageBlock(Buffer.from('001').toString('base64'), Buffer.from('part two'), 8);
    await blocks.commitBlockList([Buffer.from('000').toString('base64'), Buffer.from('001').toString('base64')]);
  });

  after(async () => {
    await azurite?.stop();
    if (work) rmSync(work, { recursive: true, force: true });
    let cases = 0;
    let passed = 0;
    for (const [task, t] of tally) {
      console.log(`  ${task}: ${t.cases} cases, ${t.passed} passed`);
      cases += t.cases;
      passed += t.passed;
    }
    console.log(`bad-input matrix: ${cases} cases, ${passed} passed`);
  });

  for (const { task, base, endpoints, cases } of MATRIX) {
    describe(task, () => {
      cases.forEach((c, i) => {
        const title = `${c.input}: ${c.name}`;
        const t = () => {
          if (!tally.has(task)) tally.set(task, { cases: 0, passed: 0 });
          return tally.get(task) as { cases: number; passed: number };
        };
        it(title, async () => {
          t().cases += 1;
          const sandbox = join(work, task, String(i));
          mkdirSync(sandbox, { recursive: true });
          const ctx: Ctx = { sandbox, fixtures, azurite };
          c.setup?.(ctx);
          const inputs: Record<string, string | undefined> = { ...base(ctx), ...(c.inputs?.(ctx) ?? {}) };
          const spec: TaskSpec = {
            task,
            inputs,
            endpoints: c.endpoints?.(ctx) ?? endpoints?.(),
            variables: { 'Agent.TempDirectory': agentTemp, 'Build.BuildId': '7' },
            env: { AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true', DOCKER_HOST: `unix://${join(work, 'no-docker.sock')}`, ...(c.env?.(ctx) ?? {}) },
            secrets: c.secrets,
          };
          const ignoreKey = (n: string) => n === '.taskkey';
          const before = { sandbox: snapshot(sandbox), fixtures: snapshot(fixtures), agentTemp: snapshot(agentTemp, ignoreKey) };
          const run = await runMock(spec);
          if (process.env.TEST_SHOW_MESSAGES) console.log(`      -> ${run.message}`);
          checkFailure(run, c);
          assert.deepEqual(snapshot(sandbox), before.sandbox, 'something was left in the destination / output folder');
          assert.deepEqual(snapshot(fixtures), before.fixtures, 'an input folder was changed');
          assert.deepEqual(snapshot(agentTemp, ignoreKey), before.agentTemp, 'something was left in the agent temp folder');
          t().passed += 1;
        });
      });
    });
  }

  it('has at least 20 cases per task', () => {
    for (const { task, cases } of MATRIX) {
      assert.ok(cases.length >= 20, `${task}: only ${cases.length} cases`);
    }
  });
});
