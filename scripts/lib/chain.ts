/**
 * The whole pipeline, run locally: publish two versions of the sample model
 * in Azure Blob Storage (Azurite) and S3, then run the five built task bundles
 * exactly as the agent would (scripts/lib/agent.ts: INPUT_* environment,
 * endpoints, variables, `##vso` outputs parsed), passing each step's output
 * variables to the next:
 *
 *   FetchModel (Azure, highestVersion) + FetchModel (S3, latestModified)
 *   -> BundleModelImage (daemonless, onto a local Node base image, sample app)
 *   -> TestModelImage (the layout run in the Docker engine: health, model identity,
 *      the sample check spec samples/checks/model-api.yaml)
 *   -> PushToACR (local docker-registry, as a Docker registry connection)
 *   -> the pushed image run in a Docker engine, /version and /score checked
 *   -> DeployToAKS (a kubeconfig when given, otherwise renderOnly)
 *   -> a classic release: DeployToAKS with no `image` input finds the image
 *      the build recorded (build property through the REST API of a fake
 *      Azure DevOps organization, then the record file without the token)
 *   -> the scheduled model-release run: FetchModel's modelChanged is false
 *
 * Every link is checked as it goes (a failed check throws ChainError naming
 * the link); the result carries every output for the caller to print or
 * assert. Used by scripts/demo.ts and tests/e2e/pipeline.test.ts.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, mkdirSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { OciLayout } from '../../shared/oci/layout';
import { Annotation, MANIFEST_ACCEPT } from '../../shared/oci/types';
import { runTask, SUMMARY_ATTACHMENT, type Endpoint, type TaskRun } from './agent';
import { buildNodeBaseImage, type NodeBaseImage } from './node-base-image';
import { predict, publishToAzureBlob, publishToS3, sampleModel, SAMPLE_VERSIONS, type SampleModelVersion } from './sample-model';
import { onPath, type Services } from './services';
import { freePort } from '../../tests/helpers/net';
import { startFakeDevOps, ALL_PERMISSIONS, type FakeDevOps } from '../../tests/helpers/fake-devops';
import { RECORD_FILE, RunProperty } from '../../shared/devops';

export class ChainError extends Error {
  constructor(
    readonly link: string,
    message: string,
    readonly run?: TaskRun,
  ) {
    super(`${link}: ${message}`);
  }
}

export interface ChainOptions {
  /** Repository root (dist/tasks/<Name>/index.js must be built). */
  root: string;
  /** All state of this run (fetched models, image layout, agent temp). */
  workDir: string;
  /** Where the Node base image is cached between runs. */
  baseImageCacheDir: string;
  services: Services;
  /** Narration. */
  log?: (line: string) => void;
  /** Each line a task prints (secrets masked). */
  taskOutput?: (task: string, line: string) => void;
  /** Deploy with this kubeconfig file; without it DeployToAKS renders only. */
  kubeconfigPath?: string;
  /** Extra environment for DeployToAKS. */
  deployEnv?: Record<string, string>;
  /** Extra inputs for DeployToAKS (e.g. statusPollIntervalMs against a fake API server). */
  deployInputs?: Record<string, string>;
  /** Namespace for DeployToAKS (default model-api-demo). */
  namespace?: string;
  /** Checked before each step: true stops the chain (e.g. after Ctrl-C). */
  interrupted?: () => boolean;
}

export interface Check {
  link: string;
  what: string;
  detail: string;
}

export interface ChainResult {
  models: SampleModelVersion[];
  expected: SampleModelVersion;
  fetchAzure: Record<string, string>;
  fetchS3: Record<string, string>;
  base: NodeBaseImage;
  bundle: Record<string, string>;
  /** Annotations of the image manifest in the layout. */
  layoutAnnotations: Record<string, string>;
  /** TestModelImage's outputs and the check lines it printed (when a Docker engine runs). */
  test?: Record<string, string>;
  testLines?: string[];
  push?: Record<string, string>;
  /** Digest the registry answers for the first pushed tag (Docker-Content-Digest). */
  registryDigest?: string;
  /** Digest skopeo reports for the first pushed tag (when skopeo is installed). */
  skopeoDigest?: string;
  /** Annotations of the manifest as pulled back from the registry. */
  registryAnnotations?: Record<string, string>;
  container?: { version: Record<string, unknown>; score: { predictions: number[] }; expectedPrediction: number; port: number };
  deploy: Record<string, string>;
  deployMode: 'kubeconfig' | 'renderOnly';
  /** The rendered manifests (manifests.yaml) DeployToAKS wrote. */
  renderedYaml: string;
  /** FetchModel's modelChanged: the first run (nothing recorded before) and a second run of the pipeline with the same model. */
  modelChanged: { first: string; again?: string };
  /** The classic release legs (DeployToAKS with no image input): through the REST API, and from the record file. */
  release?: { rest: Record<string, string>; file: Record<string, string> };
  checks: Check[];
  skipped: string[];
  /** The run summaries the tasks uploaded, in run order (FetchModel twice: Azure, then S3). */
  summaries: ChainSummary[];
}

export interface ChainSummary {
  task: string;
  link: string;
  title: string;
  markdown: string;
}

const REPOSITORY = 'samples/model-api';
const BUILD_ID = '101';
const DEFINITION_ID = '3';
const S3_DEFINITION_ID = '4';
const S3_BUILD_ID = '100';

function gitHead(root: string): string | undefined {
  try {
    return execFileSync('git', ['-C', root, 'rev-parse', 'HEAD'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return undefined;
  }
}

export async function runChain(options: ChainOptions): Promise<ChainResult> {
  // The Azure DevOps organization the runs record on (REST API through azure-devops-node-api) with the job's token.
  const devops = await startFakeDevOps({ org: 'contoso' });
  try {
    return await runChainOn(options, devops);
  } finally {
    await devops.stop();
  }
}

async function runChainOn(options: ChainOptions, devops: FakeDevOps): Promise<ChainResult> {
  const { root, workDir, services } = options;
  const log = options.log ?? (() => undefined);
  const checks: Check[] = [];
  const skipped: string[] = [];
  const summaries: ChainSummary[] = [];
  const agentTemp = join(workDir, 'agent-temp');
  const staging = join(workDir, 'staging');
  mkdirSync(agentTemp, { recursive: true });
  mkdirSync(staging, { recursive: true });
  const jobToken = `job-token-${Date.now().toString(36)}-chain`;
  devops.tokens.set(jobToken, new Set(ALL_PERMISSIONS));
  devops.addBuild({ id: Number(BUILD_ID), definitionId: Number(DEFINITION_ID), status: 'inProgress', result: undefined });
  devops.addBuild({ id: Number(S3_BUILD_ID), definitionId: Number(S3_DEFINITION_ID), status: 'inProgress', result: undefined });
  const system = { SYSTEMVSSCONNECTION: { scheme: 'OAuth', parameters: { AccessToken: jobToken } } };
  const variables: Record<string, string> = {
    'Agent.TempDirectory': agentTemp,
    'Build.BuildId': BUILD_ID,
    'Build.BuildNumber': `20261201.${BUILD_ID}`,
    'Build.DefinitionName': 'model-api',
    'Agent.JobName': 'Build and deploy',
    'Build.ArtifactStagingDirectory': staging,
    'Build.SourcesDirectory': root,
    'Build.Repository.Uri': 'https://dev.azure.com/contoso/models/_git/model-api',
    'System.DefaultWorkingDirectory': root,
    'System.CollectionUri': devops.collectionUri,
    'System.TeamProject': devops.projects[0].name,
    'System.TeamProjectId': devops.projects[0].id,
    'System.HostType': 'build',
    'System.DefinitionId': DEFINITION_ID,
    'Pipeline.Workspace': join(workDir, 'pipeline-workspace'),
  };
  const head = gitHead(root);
  if (head) variables['Build.SourceVersion'] = head;

  const check = (link: string, what: string, ok: boolean, detail: string) => {
    if (!ok) throw new ChainError(link, `${what} failed: ${detail}`);
    checks.push({ link, what, detail });
    log(`  ok  ${what}: ${detail}`);
  };
  const run = async (
    link: string,
    task: string,
    inputs: Record<string, string | number | boolean | undefined>,
    extra: { endpoints?: Record<string, Endpoint>; env?: Record<string, string>; variables?: Record<string, string>; noToken?: boolean } = {},
  ) => {
    if (options.interrupted?.()) throw new ChainError(link, 'interrupted before this step');
    log(`> ${link}`);
    const r = await runTask({
      task,
      root,
      inputs,
      variables: extra.variables ?? variables,
      endpoints: { ...(extra.noToken ? {} : system), ...extra.endpoints },
      env: { AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true', ...(extra.env ?? {}) },
      echo: (line) => options.taskOutput?.(task, line),
    });
    if (r.result !== 'Succeeded' && r.result !== 'SucceededWithIssues') {
      const tail = r.log
        .filter((l) => l.trim())
        .slice(-8)
        .join('\n    ');
      throw new ChainError(
        link,
        `${task} ended ${r.result} (exit ${r.exitCode}): ${r.message || r.stderr.trim().split('\n').slice(-3).join(' ')}\n    ${tail}`,
        r,
      );
    }
    for (const a of r.attachments)
      if (a.type === SUMMARY_ATTACHMENT && a.content !== undefined) summaries.push({ task, link, title: a.name, markdown: a.content });
    return r;
  };

  // 1. Two versions of the sample model in both stores.
  const models = SAMPLE_VERSIONS.map((v) => sampleModel(v));
  const expected = models[models.length - 1] as SampleModelVersion;
  log('> Publishing the sample model (versions ' + models.map((m) => m.version).join(', ') + ') to Azurite and S3');
  const bucket = 'models';
  await services.s3.createBucket(bucket).catch(() => undefined);
  await Promise.all([
    publishToAzureBlob(services.azurite.connectionString, 'models', 'diabetes/', models),
    publishToS3(services.s3.client, bucket, 'diabetes/', models),
  ]);
  for (const m of models) log(`  diabetes/${m.version}/model.json  sha256 ${m.fileSha256}`);

  // 2. FetchModel from Azure Blob Storage (connection string as a secret, highestVersion) and from S3 (service connection, latestModified).
  const fetchAzure = (
    await run('FetchModel from Azure Blob Storage (Azurite), versionSelection highestVersion', 'FetchModel', {
      provider: 'azureBlob',
      authType: 'connectionString',
      connectionString: services.azurite.connectionString,
      container: 'models',
      modelPath: 'diabetes/',
      versionSelection: 'highestVersion',
      destination: join(workDir, 'model-azure'),
      requireChecksum: true,
    })
  ).outputs;
  check(
    'FetchModel (Azure)',
    'newest version resolved',
    fetchAzure.modelVersion === expected.version,
    `modelVersion ${fetchAzure.modelVersion}, expected ${expected.version}`,
  );
  check('FetchModel (Azure)', 'sha256 of the fetched model', fetchAzure.modelSha256 === expected.folderSha256, `modelSha256 ${fetchAzure.modelSha256}`);
  check('FetchModel (Azure)', 'modelChanged on the first run', fetchAzure.modelChanged === 'true', `modelChanged ${fetchAzure.modelChanged}`);
  const runTags = devops.builds.get(Number(BUILD_ID))?.tags ?? [];
  check('FetchModel (Azure)', 'run tagged with the model', runTags.includes(`model:diabetes@${expected.version}`), runTags.join(', '));

  const fetchS3 = (
    await run(
      'FetchModel from S3 (s3rver), versionSelection latestModified',
      'FetchModel',
      {
        provider: 's3',
        s3Connection: 's3conn',
        bucket,
        modelPath: 'diabetes/',
        versionSelection: 'latestModified',
        destination: join(workDir, 'model-s3'),
        requireChecksum: true,
      },
      {
        endpoints: {
          s3conn: {
            scheme: 'UsernamePassword',
            parameters: { username: services.s3.accessKeyId, password: services.s3.secretAccessKey },
            data: { region: services.s3.region, forcePathStyle: 'true' },
            url: services.s3.endpoint,
          },
        },
        // Another pipeline's run: its model record must not stand in for this pipeline's.
        variables: { ...variables, 'System.DefinitionId': S3_DEFINITION_ID, 'Build.BuildId': S3_BUILD_ID },
      },
    )
  ).outputs;
  check('FetchModel (S3)', 'newest version resolved', fetchS3.modelVersion === expected.version, `modelVersion ${fetchS3.modelVersion}`);
  check('FetchModel (S3)', 'same model bytes as from Azure', fetchS3.modelSha256 === fetchAzure.modelSha256, `modelSha256 ${fetchS3.modelSha256}`);

  // 3. The base image: this machine's Node binary and its libraries (no network).
  log('> Local base image (host Node.js binary + shared libraries)');
  const base = await buildNodeBaseImage({ cacheDir: options.baseImageCacheDir });
  log(`  ${base.spec} ${base.manifestDigest} (Node ${base.nodeVersion}${base.cached ? ', cached' : ''})`);

  // 4. BundleModelImage: model layer + app layer on the base, provenance from FetchModel's outputs.
  const bundleRun = await run('BundleModelImage (daemonless) onto the local Node base', 'BundleModelImage', {
    mode: 'daemonless',
    baseImage: base.spec,
    modelPath: fetchAzure.modelPath,
    modelDestination: '/models',
    appDirectory: join(root, 'samples', 'model-api'),
    appDestination: '/app',
    cmd: '["/app/server.js"]',
    env: [`MODEL_PATH=/models`, `MODEL_VERSION=${fetchAzure.modelVersion}`, `MODEL_URI=${fetchAzure.modelUri}`, 'HOST=0.0.0.0', 'PORT=8080'].join('\n'),
    ports: '8080',
    user: '65534',
    modelUri: fetchAzure.modelUri,
    modelVersion: fetchAzure.modelVersion,
    modelSha256: fetchAzure.modelSha256,
    imageName: REPOSITORY,
    outputPath: join(staging, 'image'),
  });
  const bundle = bundleRun.outputs;
  const layout = await OciLayout.open(bundle.imageLayout as string);
  const found = await layout.findManifest(BUILD_ID);
  const layoutAnnotations = found.manifest.annotations ?? {};
  check('BundleModelImage', 'image digest', found.descriptor.digest === bundle.imageDigest, `${bundle.imageDigest} (tag ${bundle.imageTags})`);
  check(
    'BundleModelImage',
    'model provenance annotations',
    layoutAnnotations[Annotation.ModelUri] === fetchAzure.modelUri &&
      layoutAnnotations[Annotation.ModelVersion] === fetchAzure.modelVersion &&
      layoutAnnotations[Annotation.ModelSha256] === fetchAzure.modelSha256,
    `${Annotation.ModelVersion}=${layoutAnnotations[Annotation.ModelVersion]}, ${Annotation.ModelSha256}=${layoutAnnotations[Annotation.ModelSha256]?.slice(0, 12)}...`,
  );

  // 5. TestModelImage: the layout run in the Docker engine before the push (host network: the engine has no bridge).
  let test: Record<string, string> | undefined;
  let testLines: string[] | undefined;
  if (services.docker) {
    const port = await freePort();
    const testRun = await run(
      'TestModelImage in the Docker engine, sample check spec',
      'TestModelImage',
      {
        imageLayout: bundle.imageLayout,
        modelSha256: fetchAzure.modelSha256,
        network: 'host',
        containerPort: port,
        env: `PORT=${port}\nHOST=127.0.0.1`,
        readinessPath: '/',
        versionPath: '/version',
        checkSpec: join(root, 'samples', 'checks', 'model-api.yaml'),
      },
      { env: { DOCKER_HOST: services.docker.host } },
    );
    test = testRun.outputs;
    testLines = testRun.log.filter((l) => /^(PASS|FAIL) /.test(l));
    check('TestModelImage', 'every check passed', test.passed === 'true', `${testLines.length} checks, ready in ${test.readySeconds} s`);
    check(
      'TestModelImage',
      'the container serves the fetched model',
      test.reportedModelSha256 === fetchAzure.modelSha256,
      `sha256 ${test.reportedModelSha256}`,
    );
  } else {
    skipped.push('TestModelImage (needs a Docker engine: root and sudo apt-get install -y docker.io)');
  }

  // 6. PushToACR to the local registry (a Docker registry service connection of type Others).
  let push: Record<string, string> | undefined;
  let registryDigest: string | undefined;
  let skopeoDigest: string | undefined;
  let registryAnnotations: Record<string, string> | undefined;
  let imageForDeploy = `contoso.azurecr.io/${REPOSITORY}@${bundle.imageDigest}`;
  const reg = services.registry;
  if (reg) {
    const parameters: Record<string, string> = { registry: reg.host };
    if (reg.username) Object.assign(parameters, { username: reg.username, password: reg.password ?? '' });
    push = (
      await run(
        `PushToACR to the local registry ${reg.host}`,
        'PushToACR',
        {
          imageLayout: bundle.imageLayout,
          registryType: 'serviceConnection',
          dockerRegistryConnection: 'localregistry',
          repository: REPOSITORY,
          tags: `${BUILD_ID}\nlatest`,
          addModelVersionTag: true,
        },
        { endpoints: { localregistry: { scheme: 'UsernamePassword', parameters, data: { registrytype: 'Others' } } } },
      )
    ).outputs;
    check('PushToACR', 'pushed digest is the built digest', push.imageDigest === bundle.imageDigest, `${push.imageDigest}`);
    check('PushToACR', 'pinned reference', push.imageRef === `${reg.host}/${REPOSITORY}@${bundle.imageDigest}`, push.imageRef ?? '');
    const onRun = devops.builds.get(Number(BUILD_ID))?.properties[RunProperty.Image] ?? '';
    check('PushToACR', 'image recorded on the run (build property)', onRun.includes(push.imageRef ?? '-'), `${RunProperty.Image} on run ${BUILD_ID}`);
    const recordFile = readFileSync(join(staging, RECORD_FILE), 'utf8');
    check('PushToACR', 'image record file in the artifact staging directory', recordFile.includes(push.imageRef ?? '-'), join(staging, RECORD_FILE));
    const headers: Record<string, string> = { Accept: MANIFEST_ACCEPT };
    if (reg.username) headers.Authorization = `Basic ${Buffer.from(`${reg.username}:${reg.password}`).toString('base64')}`;
    for (const tag of (push.imageTags ?? '').split(',').filter(Boolean)) {
      const res = await fetch(`http://${reg.host}/v2/${REPOSITORY}/manifests/${tag}`, { headers });
      const body = Buffer.from(await res.arrayBuffer());
      const digest = `sha256:${createHash('sha256').update(body).digest('hex')}`;
      check(
        'PushToACR',
        `registry serves tag ${tag}`,
        res.ok && digest === push.imageDigest && res.headers.get('docker-content-digest') === push.imageDigest,
        `${tag} -> ${digest}`,
      );
      if (!registryDigest) {
        registryDigest = digest;
        registryAnnotations = (JSON.parse(body.toString('utf8')) as { annotations?: Record<string, string> }).annotations ?? {};
      }
    }
    if (onPath('skopeo')) {
      const creds = reg.username ? ['--creds', `${reg.username}:${reg.password}`] : [];
      const r = spawnSync('skopeo', ['inspect', '--tls-verify=false', ...creds, `docker://${reg.host}/${REPOSITORY}:${BUILD_ID}`], { encoding: 'utf8' });
      if (r.status !== 0) throw new ChainError('PushToACR', `skopeo inspect failed: ${r.stderr.trim()}`);
      skopeoDigest = (JSON.parse(r.stdout) as { Digest: string }).Digest;
      check('PushToACR', 'skopeo sees the pushed digest', skopeoDigest === push.imageDigest, skopeoDigest);
    } else {
      skipped.push('skopeo cross-check of the pushed digest (sudo apt-get install -y skopeo)');
    }
    imageForDeploy = push.imageRef as string;
  } else {
    skipped.push('PushToACR and running the image (sudo apt-get install -y docker-registry)');
  }

  // 7. Run the pushed image and ask it which model it serves.
  let container: ChainResult['container'];
  const docker = services.docker;
  if (docker && reg && push) {
    log(`> docker run ${push.imageRef}`);
    const dockerConfig = join(workDir, 'docker-config');
    mkdirSync(dockerConfig, { recursive: true });
    const env = { ...docker.env, DOCKER_CONFIG: dockerConfig };
    const dockerCli = (args: string[], input?: string) => {
      const r = spawnSync('docker', args, { env, encoding: 'utf8', input, timeout: 300_000, maxBuffer: 1 << 24 });
      if (r.status !== 0) throw new ChainError('docker run', `docker ${args[0]} failed: ${r.stderr.trim()}`);
      return r.stdout.trim();
    };
    if (reg.username) dockerCli(['login', '--username', reg.username, '--password-stdin', reg.host], reg.password);
    dockerCli(['pull', push.imageRef as string]);
    const port = await freePort();
    const id = dockerCli(['run', '-d', '--network', 'host', '-e', `PORT=${port}`, '-e', 'HOST=127.0.0.1', push.imageRef as string]);
    try {
      const deadline = Date.now() + 30_000;
      let version: Record<string, unknown> | undefined;
      for (;;) {
        try {
          const res = await fetch(`http://127.0.0.1:${port}/version`);
          if (res.ok) {
            version = (await res.json()) as Record<string, unknown>;
            break;
          }
        } catch {
          // not listening yet
        }
        const state = spawnSync('docker', ['inspect', '--format', '{{.State.Running}}', id], { env, encoding: 'utf8' }).stdout.trim();
        if (state === 'false' || Date.now() > deadline) {
          const logs = spawnSync('docker', ['logs', id], { env, encoding: 'utf8' });
          throw new ChainError('docker run', `the container did not answer on 127.0.0.1:${port}/version: ${(logs.stdout + logs.stderr).trim().slice(-500)}`);
        }
        await new Promise((r) => setTimeout(r, 200));
      }
      check(
        'container',
        '/version serves the fetched model version',
        version.modelVersion === fetchAzure.modelVersion,
        `modelVersion ${String(version.modelVersion)}`,
      );
      check(
        'container',
        '/version sha256 equals FetchModel modelSha256',
        version.modelSha256 === fetchAzure.modelSha256,
        `modelSha256 ${String(version.modelSha256)}`,
      );
      const row = [0.03, 0.06, 0.02, 0.02];
      const res = await fetch(`http://127.0.0.1:${port}/score`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ data: [row] }),
      });
      const score = (await res.json()) as { predictions: number[] };
      const expectedPrediction = predict(expected, row);
      check(
        'container',
        '/score uses the fetched weights',
        res.ok && score.predictions?.[0] === expectedPrediction,
        `predictions ${JSON.stringify(score.predictions)}`,
      );
      container = { version, score, expectedPrediction, port };
    } finally {
      spawnSync('docker', ['rm', '-f', id], { env, stdio: 'ignore' });
    }
  } else if (reg) {
    skipped.push('running the pushed image (needs root and sudo apt-get install -y docker.io)');
  }

  // 8. DeployToAKS: a real apply with a kubeconfig, otherwise renderOnly.
  const deployMode = options.kubeconfigPath ? 'kubeconfig' : 'renderOnly';
  const deployInputs: Record<string, string | boolean | number | undefined> = {
    connectionType: 'kubeconfig',
    kubeconfig: options.kubeconfigPath,
    namespace: options.namespace ?? 'model-api-demo',
    image: imageForDeploy,
    appName: 'model-api',
    containerPort: 8080,
    servicePort: 80,
    readinessPath: '/',
    livenessPath: '/',
    startupTimeoutSeconds: 120,
    cpuRequest: '100m',
    memoryRequest: '128Mi',
    modelUri: fetchAzure.modelUri,
    modelVersion: fetchAzure.modelVersion,
    modelSha256: fetchAzure.modelSha256,
    renderOnly: deployMode === 'renderOnly',
    rolloutTimeoutSeconds: 120,
    ...options.deployInputs,
  };
  const deploy = (
    await run(
      deployMode === 'kubeconfig' ? `DeployToAKS with kubeconfig ${options.kubeconfigPath}` : 'DeployToAKS (renderOnly: no KUBECONFIG)',
      'DeployToAKS',
      deployInputs,
      { env: options.deployEnv },
    )
  ).outputs;
  const renderedDir = deploy.renderedManifests ?? '';
  let renderedYaml = '';
  try {
    const st = statSync(renderedDir);
    const files = st.isDirectory()
      ? readdirSync(renderedDir)
          .filter((f) => /\.ya?ml$/.test(f))
          .sort()
          .map((f) => join(renderedDir, f))
      : [renderedDir];
    renderedYaml = files.map((f) => readFileSync(f, 'utf8')).join('\n---\n');
  } catch {
    throw new ChainError('DeployToAKS', `renderedManifests output '${renderedDir}' cannot be read`);
  }
  check('DeployToAKS', 'image pinned by digest', deploy.deployedImage === imageForDeploy && renderedYaml.includes(imageForDeploy), deploy.deployedImage ?? '');
  check('DeployToAKS', 'model sha256 recorded on the objects', renderedYaml.includes(fetchAzure.modelSha256 as string), `${deploy.renderedManifests}`);

  // 8. A classic release of this build: DeployToAKS with no image (nor model) input finds what the build recorded.
  devops.builds.set(Number(BUILD_ID), {
    ...devops.builds.get(Number(BUILD_ID))!,
    status: 'completed',
    result: 'succeeded',
    finishTime: new Date().toISOString(),
  });
  let release: ChainResult['release'];
  if (push) {
    const releaseWork = join(workDir, 'release');
    // The release agent downloads the artifact (the staging directory published as 'drop') under <alias>/drop.
    cpSync(staging, join(releaseWork, '_model-api', 'drop'), { recursive: true });
    const releaseVariables: Record<string, string> = {
      'Agent.TempDirectory': agentTemp,
      'System.CollectionUri': devops.collectionUri,
      'System.TeamProject': devops.projects[0].name,
      'System.TeamProjectId': devops.projects[0].id,
      'System.HostType': 'release',
      'System.DefaultWorkingDirectory': releaseWork,
      'Release.ReleaseId': '1',
      'Release.PrimaryArtifactSourceAlias': '_model-api',
      'Release.TriggeringArtifact.Alias': '_model-api',
      'Release.Artifacts._model-api.Type': 'Build',
      'Release.Artifacts._model-api.BuildId': BUILD_ID,
      'Release.Artifacts._model-api.DefinitionId': DEFINITION_ID,
      'Build.BuildId': BUILD_ID,
    };
    const releaseInputs = { ...deployInputs, image: undefined, modelUri: undefined, modelVersion: undefined, modelSha256: undefined, renderOnly: true };
    const viaRest = (
      await run('Classic release: DeployToAKS with no image input (the build run, REST API)', 'DeployToAKS', releaseInputs, { variables: releaseVariables })
    ).outputs;
    check('Classic release', 'image from the build run (REST API)', viaRest.deployedImage === push.imageRef, viaRest.deployedImage ?? '');
    const releaseYaml = readFileSync(join(viaRest.renderedManifests ?? '', 'manifests.yaml'), 'utf8');
    check('Classic release', 'model identity came along', releaseYaml.includes(fetchAzure.modelSha256 as string), 'model sha256 on the objects');
    const viaFile = (
      await run('Classic release without the job token: DeployToAKS finds the record file', 'DeployToAKS', releaseInputs, {
        variables: releaseVariables,
        noToken: true,
      })
    ).outputs;
    check('Classic release', 'image from the record file (no token)', viaFile.deployedImage === push.imageRef, viaFile.deployedImage ?? '');
    release = { rest: viaRest, file: viaFile };
  } else {
    skipped.push('the classic release leg (nothing pushed: no local registry)');
  }

  // 9. The next scheduled run of the pipeline fetches the same model: modelChanged is false (a condition skips bundling and deploying).
  const nextBuild = Number(BUILD_ID) + 1;
  devops.addBuild({ id: nextBuild, definitionId: Number(DEFINITION_ID), status: 'inProgress', result: undefined });
  const again = (
    await run(
      'Scheduled model release: FetchModel again (same model)',
      'FetchModel',
      {
        provider: 'azureBlob',
        authType: 'connectionString',
        connectionString: services.azurite.connectionString,
        container: 'models',
        modelPath: 'diabetes/',
        versionSelection: 'highestVersion',
        requireChecksum: true,
      },
      { variables: { ...variables, 'Build.BuildId': String(nextBuild) } },
    )
  ).outputs;
  check(
    'Model release',
    'modelChanged false for the same model',
    again.modelChanged === 'false',
    `modelChanged ${again.modelChanged} (compared with run ${BUILD_ID})`,
  );

  return {
    models,
    expected,
    fetchAzure,
    fetchS3,
    base,
    bundle,
    layoutAnnotations,
    test,
    testLines,
    push,
    registryDigest,
    skopeoDigest,
    registryAnnotations,
    container,
    deploy,
    deployMode,
    renderedYaml,
    modelChanged: { first: fetchAzure.modelChanged ?? '', again: again.modelChanged },
    release,
    checks,
    skipped,
    summaries,
  };
}
