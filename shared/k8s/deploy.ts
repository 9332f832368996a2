/**
 * DeployToAKS as a library: render (user manifests with the image pinned by
 * digest, or the built-in template), stamp traceability, server-side apply,
 * watch the rollout like kubectl, diagnose and roll back on failure, smoke
 * test, and report the outputs.
 */
import { join } from 'node:path';
import * as yaml from 'js-yaml';
import type { Check } from '../check';
import { errorMessage, InputError, UserError } from '../errors';
import { writeFileAtomic } from '../fs/atomic-write';
import { ensureDir } from '../fs/ensure-dir';
import type { Logger } from '../log';
import { sleep } from '../retry';
import { parseReference, type ImageReference } from '../oci/reference';
import { Annotation } from '../oci/types';
import { applyObjects, FIELD_MANAGER, type AppliedObject } from './apply';
import { KubeClient } from './client';
import { diagnoseWorkload, formatDiagnosis } from './diagnose';
import { explainKubeError } from './explain';
import { addImagePullSecrets, expandManifestPatterns, loadManifestFiles, pinnedImage, substituteImages } from './manifests';
import { revisionOf, rollbackDeployment } from './rollback';
import { rolloutStatus } from './rollout';
import { labelTrack, servingOf, type Serving } from './canary';
import { predictionCheck, servicePort } from './prediction';
import { smokeTest } from './smoke';
import { renderTemplate, type TemplateOptions } from './template';
import { applyTraceability, type RunIdentity, type TraceInfo } from './traceability';
import { checkNamespace } from './names';
import { describeObject, isRecord, isWorkloadKind, type KubeObject } from './types';

/** The deploy inputs' defaults (task.json repeats them as literals; tests/unit/defaults.test.ts keeps them equal). */
export const DEPLOY_DEFAULTS = {
  /** Empty: the cluster connection's namespace (service connection, kubeconfig context), else {@link FALLBACK_NAMESPACE}. */
  namespace: '',
  rolloutTimeoutSeconds: 600,
  rollbackOnFailure: true,
  renderOnly: false,
  /** statusPollIntervalMs */
  pollIntervalMs: 2000,
} as const;

/** The namespace when neither the input nor the cluster connection names one (as kubectl and KubernetesManifest do). */
export const FALLBACK_NAMESPACE = 'default';

/**
 * What happened, filled in while deploy runs, so it is there when deploy throws
 * too (the run summary is written from it, rollback included).
 */
export interface DeployReport {
  namespace?: string;
  image?: string;
  /** The model stamped on the objects (the image's annotations, else the inputs). */
  model?: { uri?: string; version?: string; sha256?: string };
  applied?: string[];
  /** The rollout wait: how long it took and how it ended (first failure, if any). */
  rollout?: { ok: boolean; seconds: number; revision?: string; failed?: string; reason?: string };
  rollback?: { fromRevision: string; toRevision: string; image?: string; ok: boolean; seconds: number };
  serviceEndpoint?: string;
  smokeTest?: { path: string; status: number };
}

export interface DeployOptions {
  /** Needed unless renderOnly (or connect). */
  client?: KubeClient;
  /** Called only once the manifests rendered fine, so bad input fails before any cluster access. */
  connect?: () => Promise<KubeClient>;
  /** Empty or undefined: the namespace of the cluster connection's context, else 'default'. */
  namespace?: string;
  /** Files, folders or globs; empty: the built-in template. */
  manifests: string[];
  /** Folder manifests are relative to. */
  cwd: string;
  /** Image to deploy, typically PushToACR's imageRef (registry/repo[:tag]@sha256:...). */
  image: string;
  /** Template inputs (used when manifests is empty); image is filled in. */
  template: Omit<TemplateOptions, 'image' | 'imagePullSecrets'>;
  imagePullSecrets: string[];
  model: { uri?: string; version?: string; sha256?: string };
  pipelineRunUrl?: string;
  pipelineRunId?: string;
  /** The pipeline run (azure-pipelines/* annotations, the Environment deployed to). */
  run?: RunIdentity;
  renderOnly: boolean;
  /** Folder the rendered manifests are written to. */
  renderDir: string;
  rolloutTimeoutSeconds: number;
  rollbackOnFailure: boolean;
  smokeTestPath?: string;
  /** Prediction checks (smokeTestRequest / smokeTestExpect) sent to the new version's Service; a failure rolls back. */
  predictionChecks?: Check[];
  /** Masks registered secrets in the check's log (the adapter's mask). */
  mask?: (text: string) => string;
  /** How long to wait for a LoadBalancer address (default 300 s). */
  serviceEndpointTimeoutSeconds?: number;
  pollIntervalMs?: number;
  fieldManager?: string;
  logger: Logger;
  /** Annotations of the image's manifest, when a registry client can reach it. */
  fetchImageAnnotations?: (image: ImageReference) => Promise<Record<string, string> | undefined>;
  /** Digest of a tag-only image, when a registry client can reach it. */
  resolveDigest?: (image: ImageReference) => Promise<string | undefined>;
  /** Filled in as deploy goes (see {@link DeployReport}). */
  report?: DeployReport;
  /** Test hook: the clock. */
  now?: () => number;
}

export interface DeployResult {
  deployedImage: string;
  revision: string;
  serviceEndpoint: string;
  renderedManifests: string;
  applied: string[];
  /** What now serves which share, with model versions (empty for renderOnly). */
  serving: Serving[];
  /** What the user relies on that did not happen though the deployment succeeded (e.g. a LoadBalancer without an address in time). */
  issues: string[];
  /** The namespace objects without their own went to. */
  namespace: string;
}

/** The task's closing line. */
export function deployMessage(result: DeployResult, renderOnly: boolean): string {
  return renderOnly
    ? `Rendered the manifests for ${result.deployedImage} to ${result.renderedManifests}; nothing was applied.`
    : `Deployed ${result.deployedImage}${result.revision ? ` (revision ${result.revision})` : ''}${result.serviceEndpoint ? `, service at ${result.serviceEndpoint}` : ''}.`;
}

async function pinImage(o: DeployOptions): Promise<ImageReference> {
  const ref = parseReference(o.image, { input: 'image' });
  if (ref.digest) return ref;
  let digest: string | undefined;
  try {
    digest = o.resolveDigest ? await o.resolveDigest(ref) : undefined;
  } catch (err) {
    o.logger.warn(`Could not look up the digest of ${o.image}: ${errorMessage(err)}`);
  }
  if (!digest) {
    throw new InputError(
      'image',
      `Image '${o.image}' is not pinned by digest and its digest could not be found in the registry: pass PushToACR's imageRef output (registry/repository@sha256:...) as 'image'.`,
    );
  }
  return parseReference(`${ref.registry}/${ref.repository}@${digest}`, { input: 'image' });
}

async function traceInfo(o: DeployOptions, ref: ImageReference, pinned: string): Promise<TraceInfo> {
  let ann: Record<string, string> | undefined;
  if (o.fetchImageAnnotations) {
    try {
      ann = await o.fetchImageAnnotations(ref);
    } catch (err) {
      o.logger.warn(`Could not read the model annotations of ${pinned} (using the model inputs instead): ${errorMessage(err)}`);
    }
  }
  return {
    run: o.run,
    pipelineRunUrl: o.pipelineRunUrl,
    pipelineRunId: o.pipelineRunId,
    image: pinned,
    imageDigest: ref.digest,
    modelUri: ann?.[Annotation.ModelUri] || o.model.uri,
    modelVersion: ann?.[Annotation.ModelVersion] || o.model.version,
    modelSha256: ann?.[Annotation.ModelSha256] || o.model.sha256,
  };
}

/** Render the objects that would be applied (no cluster needed). */
export async function renderObjects(o: DeployOptions): Promise<{ objects: KubeObject[]; image: string; ref: ImageReference }> {
  const ref = await pinImage(o);
  const image = pinnedImage(ref);
  let objects: KubeObject[];
  if (o.manifests.length === 0) {
    objects = renderTemplate({ ...o.template, image, imagePullSecrets: o.imagePullSecrets });
  } else {
    const files = expandManifestPatterns(o.manifests, o.cwd);
    objects = loadManifestFiles(files, o.cwd).map((s) => s.object);
    const subs = substituteImages(objects, ref);
    if (subs.length === 0) {
      throw new InputError(
        'manifests',
        `No container in the manifests (${files.length} file(s)) uses the repository ${ref.registry}/${ref.repository} of 'image', so the new image would not be deployed: reference that repository in a container image.`,
      );
    }
    for (const s of subs) o.logger.info(`Image of ${s.object} container '${s.container}': ${s.from} -> ${s.to}`);
    addImagePullSecrets(objects, o.imagePullSecrets);
  }
  const trace = await traceInfo(o, ref, image);
  if (o.report) o.report.model = { uri: trace.modelUri, version: trace.modelVersion, sha256: trace.modelSha256 };
  applyTraceability(objects, trace);
  return { objects, image, ref };
}

/** Writes manifests.yaml (it may hold the user's Secrets: 0600, in a folder closed to others when this creates it). */
export async function writeRendered(dir: string, objects: KubeObject[], namespace: string): Promise<string> {
  try {
    await ensureDir(dir, { mode: 0o700 });
  } catch (err) {
    throw new UserError(
      `The rendered manifests cannot be written to ${dir} (${errorMessage(err)}): make the agent's temp folder (Agent.TempDirectory) writable.`,
      { code: 'NotWritable', cause: err },
    );
  }
  const file = join(dir, 'manifests.yaml');
  const text = `# Rendered by DeployToAKS for namespace ${namespace}\n` + objects.map((x) => yaml.dump(x, { noRefs: true, lineWidth: -1 })).join('---\n');
  await writeFileAtomic(file, text, { mode: 0o600 }); // never a half-written file
  return dir;
}

export interface WaitOutcome {
  obj: KubeObject;
  ok: boolean;
  reason?: string;
  live?: KubeObject;
}

export async function waitForRollout(client: KubeClient, applied: AppliedObject[], deadline: number, o: DeployOptions): Promise<WaitOutcome[]> {
  const now = o.now ?? Date.now;
  const poll = o.pollIntervalMs ?? DEPLOY_DEFAULTS.pollIntervalMs;
  const outcomes: WaitOutcome[] = [];
  for (const a of applied) {
    if (!isWorkloadKind(a.object.kind)) continue;
    const path = KubeClient.pathOf(a.resource, a.object.metadata?.namespace, a.object.metadata?.name ?? '');
    let lastMessage = '';
    let live: KubeObject | undefined;
    for (;;) {
      try {
        live = await client.request<KubeObject>({ path });
      } catch (err) {
        throw explainKubeError(err, `watching the rollout of ${describeObject(a.object)}`);
      }
      const st = rolloutStatus(live);
      if (st.error) {
        outcomes.push({ obj: a.object, ok: false, reason: st.error, live });
        break;
      }
      if (st.message && st.message !== lastMessage) {
        o.logger.info(st.message);
        lastMessage = st.message;
      }
      if (st.done) {
        outcomes.push({ obj: a.object, ok: true, live });
        break;
      }
      if (now() >= deadline) {
        outcomes.push({
          obj: a.object,
          ok: false,
          reason: `it did not finish within rolloutTimeoutSeconds (${o.rolloutTimeoutSeconds} s); last status: ${lastMessage || 'unknown'}`,
          live,
        });
        break;
      }
      await sleep(Math.min(poll, Math.max(0, deadline - now())));
    }
    if (!outcomes[outcomes.length - 1]?.ok) break; // stop at the first failure
  }
  return outcomes;
}

export async function serviceEndpoint(
  client: KubeClient,
  applied: AppliedObject[],
  o: DeployOptions,
): Promise<{ endpoint: string; service?: KubeObject; issue?: string }> {
  const svc = applied.find((a) => a.object.kind === 'Service' && a.resource.groupVersion === 'v1');
  if (!svc) return { endpoint: '' };
  const ns = svc.object.metadata?.namespace ?? o.namespace ?? FALLBACK_NAMESPACE;
  const name = svc.object.metadata?.name ?? '';
  const path = `/api/v1/namespaces/${encodeURIComponent(ns)}/services/${encodeURIComponent(name)}`;
  const now = o.now ?? Date.now;
  const deadline = now() + (o.serviceEndpointTimeoutSeconds ?? 300) * 1000;
  let live = svc.live;
  const portOf = (s: KubeObject) => {
    const ports = Array.isArray(s.spec?.ports) ? s.spec.ports.filter(isRecord) : [];
    return ports[0] && typeof ports[0].port === 'number' ? ports[0].port : undefined;
  };
  const dns = () => {
    const port = portOf(live);
    return `${name}.${ns}.svc.cluster.local${port ? `:${port}` : ''}`;
  };
  if (live.spec?.type !== 'LoadBalancer') return { endpoint: dns(), service: live };
  o.logger.info(`Waiting for the load balancer address of Service/${name}...`);
  for (;;) {
    const lb = isRecord(live.status?.loadBalancer) ? live.status.loadBalancer : {};
    const ingress = Array.isArray(lb.ingress) ? lb.ingress.filter(isRecord) : [];
    const host = ingress.map((i) => (typeof i.ip === 'string' ? i.ip : typeof i.hostname === 'string' ? i.hostname : '')).find((x) => x);
    if (host) {
      const port = portOf(live);
      return { endpoint: `${host}${port ? `:${port}` : ''}`, service: live };
    }
    if (now() >= deadline) {
      const issue = `Service/${name} got no load balancer address within ${o.serviceEndpointTimeoutSeconds ?? 300} s; reporting its cluster DNS name instead.`;
      o.logger.warn(issue);
      return { endpoint: dns(), service: live, issue };
    }
    await sleep(o.pollIntervalMs ?? DEPLOY_DEFAULTS.pollIntervalMs);
    try {
      live = await client.request<KubeObject>({ path });
    } catch (err) {
      throw explainKubeError(err, `reading Service/${name}`);
    }
  }
}

export function revisionString(live: KubeObject | undefined): string {
  if (!live) return '';
  if (live.kind === 'Deployment') return String(revisionOf(live) || '');
  const st = live.status ?? {};
  return typeof st.updateRevision === 'string' ? st.updateRevision : String(st.observedGeneration ?? '');
}

/**
 * After a failed rollout (or a failed prediction check): rolls the workload back
 * like `kubectl rollout undo` when rollbackOnFailure allows it, waits for that,
 * and returns the one-line error to throw. `cause` says what failed, `see` where
 * the details are.
 */
export async function rollBack(
  client: KubeClient,
  failed: WaitOutcome,
  applied: AppliedObject[],
  o: DeployOptions,
  cause: string,
  see: string,
): Promise<UserError> {
  const fieldManager = o.fieldManager ?? FIELD_MANAGER;
  const now = o.now ?? Date.now;
  const what = describeObject(failed.obj);
  const failedRevision = revisionString(failed.live);
  if (!o.rollbackOnFailure) {
    return new UserError(`${cause}; rollbackOnFailure is false, so the failed revision${failedRevision ? ` ${failedRevision}` : ''} stays in place (${see}).`, {
      code: 'RolloutFailed',
    });
  }
  if (failed.obj.kind !== 'Deployment') {
    return new UserError(`${cause}; automatic rollback covers Deployments only, so ${what} was left as is (${see}; use kubectl rollout undo).`, {
      code: 'RolloutFailed',
    });
  }
  const rb = await rollbackDeployment(client, failed.live ?? failed.obj, `${fieldManager}-rollback`);
  if (!rb) {
    return new UserError(
      `${cause}; there is no previous revision to roll back to (first deployment), so revision ${failedRevision || '1'} stays in place (${see}).`,
      { code: 'RolloutFailed' },
    );
  }
  if (rb.skipped) return new UserError(`${cause}; not rolled back because ${rb.skipped} (${see}).`, { code: 'RolloutFailed' });
  o.logger.info(`Rolling ${what} back from revision ${rb.fromRevision} to revision ${rb.toRevision}${rb.image ? ` (${rb.image})` : ''}...`);
  const rbApplied = applied.filter((a) => a.object === failed.obj);
  const rbStarted = now();
  const rbOutcome = await waitForRollout(client, rbApplied, now() + o.rolloutTimeoutSeconds * 1000, o);
  const rbOk = rbOutcome.every((x) => x.ok);
  if (o.report)
    o.report.rollback = {
      fromRevision: String(rb.fromRevision),
      toRevision: String(rb.toRevision),
      image: rb.image,
      ok: rbOk,
      seconds: (now() - rbStarted) / 1000,
    };
  return new UserError(
    `${cause}; rolled back to revision ${rb.toRevision}${rb.image ? ` (image ${rb.image})` : ''}${rbOk ? ', which is running again' : `, but that rollout did not finish either: ${rbOutcome.find((x) => !x.ok)?.reason ?? ''}`} (${see}).`,
    { code: 'RolledBack' },
  );
}

/**
 * The namespace objects without their own go to: the input, else the cluster connection's (its context's
 * namespace: a Kubernetes service connection's, a kubeconfig context's), else 'default'. One from the
 * connection is checked here (the input was checked up front by checkDeployNames).
 */
export function resolveNamespace(o: DeployOptions, client: KubeClient | undefined): string {
  if (o.namespace) return o.namespace;
  const fromConnection = client?.contextNamespace;
  if (!fromConnection) return FALLBACK_NAMESPACE;
  checkNamespace(
    fromConnection,
    `The namespace '${fromConnection}' of the cluster connection (its context's namespace) is not a DNS label (lower-case letters, digits and '-', at most 63 characters): set 'namespace' or fix the connection.`,
  );
  o.logger.info(`Namespace: ${fromConnection} (from the cluster connection; 'namespace' is empty).`);
  return fromConnection;
}

export async function deploy(options: DeployOptions): Promise<DeployResult> {
  const report: DeployReport = options.report ?? {};
  let o: DeployOptions = { ...options, report };
  const { objects, image } = await renderObjects(o);
  labelTrack(objects, 'stable');
  report.image = image;
  // Connect before writing anything: a connection that cannot be used leaves no rendered folder behind.
  const client = o.renderOnly ? undefined : (o.client ?? (o.connect ? await o.connect() : undefined));
  const namespace = resolveNamespace(o, client);
  o = { ...o, namespace };
  report.namespace = namespace;
  const renderedManifests = await writeRendered(o.renderDir, objects, namespace);
  o.logger.info(`Rendered ${objects.length} object(s) to ${join(renderedManifests, 'manifests.yaml')}.`);
  if (o.renderOnly) {
    o.logger.info('renderOnly is true: nothing was applied.');
    return { deployedImage: image, revision: '', serviceEndpoint: '', renderedManifests, applied: [], namespace, serving: [], issues: [] };
  }
  if (!client) throw new Error('deploy needs a Kubernetes client unless renderOnly');
  if (o.predictionChecks?.length && !objects.some((x) => x.kind === 'Service' && x.apiVersion === 'v1')) {
    throw new InputError(
      'smokeTestRequest',
      `'smokeTestRequest' is set but no Service is deployed to send it through: add a Service or clear smokeTestRequest.`,
    );
  }
  const fieldManager = o.fieldManager ?? FIELD_MANAGER;
  const now = o.now ?? Date.now;
  const applied = await applyObjects(client, objects, { namespace, fieldManager, logger: o.logger });
  report.applied = applied.map((a) => describeObject(a.object));
  const rolloutStarted = now();
  const deadline = rolloutStarted + o.rolloutTimeoutSeconds * 1000;
  const outcomes = await waitForRollout(client, applied, deadline, o);
  const failed = outcomes.find((x) => !x.ok);
  report.rollout = {
    ok: !failed,
    seconds: (now() - rolloutStarted) / 1000,
    ...(failed ? { failed: describeObject(failed.obj), reason: failed.reason, revision: revisionString(failed.live) || undefined } : {}),
  };
  if (failed) {
    const what = describeObject(failed.obj);
    for (const line of formatDiagnosis(what, await diagnoseWorkload(client, failed.live ?? failed.obj))) o.logger.info(line);
    throw await rollBack(client, failed, applied, o, `${what} did not roll out: ${failed.reason}`, 'see the diagnosis above');
  }
  const primary = outcomes.find((x) => x.obj.kind === 'Deployment') ?? outcomes[0];
  const revision = revisionString(primary?.live);
  report.rollout.revision = revision || undefined;
  const { endpoint, service, issue } = await serviceEndpoint(client, applied, o);
  report.serviceEndpoint = endpoint || undefined;
  if (o.smokeTestPath) {
    if (!service)
      throw new InputError('smokeTestPath', `'smokeTestPath' is set but no Service was applied to send it through: add a Service or clear smokeTestPath.`);
    const ports = Array.isArray(service.spec?.ports) ? service.spec.ports.filter(isRecord) : [];
    const port = ports[0] ? (typeof ports[0].name === 'string' && ports[0].name ? ports[0].name : Number(ports[0].port)) : 80;
    const res = await smokeTest(client, {
      namespace: service.metadata?.namespace ?? o.namespace ?? FALLBACK_NAMESPACE,
      service: service.metadata?.name ?? '',
      port,
      path: o.smokeTestPath,
    });
    o.logger.info(`Smoke test GET ${o.smokeTestPath}: HTTP ${res.status}.`);
    report.smokeTest = { path: o.smokeTestPath, status: res.status };
  }
  if (o.predictionChecks?.length && service && primary) {
    const check = await predictionCheck(client, {
      namespace: service.metadata?.namespace ?? namespace,
      service: service.metadata?.name ?? '',
      port: servicePort(service),
      checks: o.predictionChecks,
      logger: o.logger,
      what: `the new version of ${describeObject(primary.obj)}`,
      mask: o.mask,
    });
    if (check.error) {
      // The new version answers wrongly: it must not keep serving.
      throw await rollBack(
        client,
        primary,
        applied,
        o,
        check.error.message.replace(/: see the request.*$/, ''),
        'see the request, answer and expectation above',
      );
    }
  }
  return {
    deployedImage: image,
    revision,
    serviceEndpoint: endpoint,
    renderedManifests,
    applied: applied.map((a) => describeObject(a.object)),
    serving: outcomes
      .filter((x) => x.obj.kind === 'Deployment' && x.live)
      .map((x) => servingOf(x.live as KubeObject, 'stable', { percent: 100, by: 'traffic' })),
    issues: issue ? [issue] : [],
    namespace,
  };
}
