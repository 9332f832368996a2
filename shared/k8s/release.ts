/**
 * DeployToAKS's release actions on top of deploy(): `deploy` with strategy
 * none (deploy.ts) or canary, `promote` and `reject`.
 *
 * Canary deploy: the stable Deployment and its Service are left as they are; a
 * `<name>-canary` Deployment runs the new image beside them (pinned by digest,
 * with its model identity), with its own `<service>-canary` Service for the
 * prediction check. The share of traffic is carried by
 * - `pod`: the pod count (the stable Service selects canary pods too);
 * - `gatewayApi`: the weights of the HTTPRoute rules that send traffic to the
 *   Service, split between `<service>-stable` and `<service>-canary`;
 * - `smi`: a TrafficSplit over `<service>-stable`, `-baseline` (the stable
 *   version on fresh pods) and `-canary`.
 * Traffic is moved to the canary only once it rolled out and passed its
 * prediction check (with `pod`, its pods take their share once ready).
 * A canary that fails either is removed again.
 *
 * Promote rolls the stable Deployment to the canary's image and model identity
 * (rolled back on failure, the canary then left in place), then removes the
 * canary and puts the traffic back. Reject only removes the canary.
 */
import type { Check } from '../check';
import { errorMessage, InputError, UserError } from '../errors';
import { parseReference } from '../oci/reference';
import { applyObjects, FIELD_MANAGER, type AppliedObject } from './apply';
import {
  CanaryKey,
  canaryName,
  canaryObjects,
  identityOf,
  labelTrack,
  podCanaryReplicas,
  refOf,
  routeCanaryPatch,
  routeReferences,
  routeRestorePatch,
  selects,
  servingOf,
  share,
  TRACK_LABEL,
  trackService,
  trackWorkload,
  trafficSplit,
  trafficWeights,
  type ObjectRef,
  type ReleaseAction,
  type Serving,
  type Strategy,
  type TrafficSplitMethod,
} from './canary';
import { KubeApiError, KubeClient, UnknownKindError, type ApiResource } from './client';
import { deploy, renderObjects, resolveNamespace, rollBack, waitForRollout, writeRendered, type DeployOptions, type DeployResult } from './deploy';
import { diagnoseWorkload, formatDiagnosis } from './diagnose';
import { explainKubeError } from './explain';
import { loadManifestFiles, expandManifestPatterns } from './manifests';
import { predictionCheck, servicePort } from './prediction';
import { describeObject, type KubeList, type KubeObject } from './types';

export interface ReleaseOptions extends DeployOptions {
  action: ReleaseAction;
  strategy: Strategy;
  percentage: number;
  trafficSplitMethod: TrafficSplitMethod;
  baselineAndCanaryReplicas: number;
  predictionChecks?: Check[];
}

/** Release options once the namespace is known (the input, else the cluster connection's, else 'default'). */
type Resolved = ReleaseOptions & { namespace: string };

export interface ReleaseResult extends DeployResult {
  action: ReleaseAction;
}

/** Gateway API versions serving HTTPRoute, newest first. */
const GATEWAY_VERSIONS = ['gateway.networking.k8s.io/v1', 'gateway.networking.k8s.io/v1beta1'];
/** SMI TrafficSplit versions, newest first. */
const SMI_VERSIONS = ['split.smi-spec.io/v1alpha4', 'split.smi-spec.io/v1alpha3', 'split.smi-spec.io/v1alpha2', 'split.smi-spec.io/v1alpha1'];

/** The task's closing line. */
export function releaseMessage(r: ReleaseResult, o: Pick<ReleaseOptions, 'renderOnly' | 'strategy'>): string {
  if (o.renderOnly)
    return `Rendered the ${o.strategy === 'canary' ? 'canary ' : ''}manifests for ${r.deployedImage} to ${r.renderedManifests}; nothing was applied.`;
  const serving = r.serving.map((s) => `${s.workload} ${s.modelVersion ? `(model ${s.modelVersion}) ` : ''}${s.percent}%`).join(', ');
  switch (r.action) {
    case 'promote':
      return `Promoted ${r.deployedImage}${r.revision ? ` (revision ${r.revision})` : ''}; the canary was removed. Serving: ${serving}.`;
    case 'reject':
      return `Rejected the canary; it was removed. Serving: ${serving}.`;
    default:
      return o.strategy === 'canary'
        ? `Canary of ${r.deployedImage} is running. Serving: ${serving}.`
        : `Deployed ${r.deployedImage}${r.revision ? ` (revision ${r.revision})` : ''}${r.serviceEndpoint ? `, service at ${r.serviceEndpoint}` : ''}.`;
  }
}

export async function release(o: ReleaseOptions): Promise<ReleaseResult> {
  if (o.renderOnly && o.action !== 'deploy') {
    throw new InputError('renderOnly', `renderOnly applies to action deploy; action ${o.action} changes the cluster: set renderOnly to false.`);
  }
  if (o.action === 'deploy' && o.strategy !== 'canary') return { ...(await deploy(o)), action: 'deploy' };
  // Connected once here: an empty namespace is the cluster connection's (as deploy resolves it).
  const client = o.renderOnly ? undefined : (o.client ?? (o.connect ? await o.connect() : undefined));
  const r: Resolved = { ...o, client, namespace: resolveNamespace(o, client) };
  if (o.report) o.report.namespace = r.namespace;
  const withNamespace = (d: Omit<DeployResult, 'namespace'>): DeployResult => ({ ...d, namespace: r.namespace });
  if (o.action === 'promote') return { ...withNamespace(await promote(r)), action: 'promote' };
  if (o.action === 'reject') return { ...withNamespace(await reject(r)), action: 'reject' };
  return { ...withNamespace(await deployCanary(r)), action: 'deploy' };
}

// ---------------------------------------------------------------- helpers

const deploymentsPath = (ns: string, name?: string) =>
  `/apis/apps/v1/namespaces/${encodeURIComponent(ns)}/deployments${name !== undefined ? `/${encodeURIComponent(name)}` : ''}`;

async function getOrUndefined(client: KubeClient, path: string, doing: string): Promise<KubeObject | undefined> {
  try {
    return await client.request<KubeObject>({ path });
  } catch (err) {
    if (err instanceof KubeApiError && err.statusCode === 404) return undefined;
    throw explainKubeError(err, doing);
  }
}

/** The resource of the first of `versions` the cluster serves `kind` in (discovery), or undefined. */
async function discover(client: KubeClient, versions: string[], kind: string): Promise<ApiResource | undefined> {
  for (const v of versions) {
    try {
      return await client.resolve(v, kind);
    } catch (err) {
      if (err instanceof UnknownKindError) continue;
      throw explainKubeError(err, `looking up ${kind} (${v}) through discovery`);
    }
  }
  return undefined;
}

async function trafficApi(client: KubeClient, method: TrafficSplitMethod): Promise<ApiResource | undefined> {
  if (method === 'pod') return undefined;
  const [versions, kind, what, install] =
    method === 'gatewayApi'
      ? [
          GATEWAY_VERSIONS,
          'HTTPRoute',
          'Gateway API HTTPRoute (gateway.networking.k8s.io v1 or v1beta1)',
          'install the Gateway API CRDs and a Gateway controller',
        ]
      : [SMI_VERSIONS, 'TrafficSplit', 'SMI TrafficSplit (split.smi-spec.io v1alpha1-v1alpha4)', 'install a service mesh that implements SMI traffic split'];
  const res = await discover(client, versions, kind);
  if (!res) {
    throw new InputError(
      'trafficSplitMethod',
      `trafficSplitMethod is ${method} but the cluster does not serve ${what}: ${install}, or use trafficSplitMethod pod; nothing was changed.`,
    );
  }
  return res;
}

async function remove(client: KubeClient, res: ApiResource, namespace: string, name: string, logger: ReleaseOptions['logger']): Promise<boolean> {
  try {
    await client.request({ method: 'DELETE', path: KubeClient.pathOf(res, namespace, name), query: { propagationPolicy: 'Background' } });
    logger.info(`Deleted ${res.kind}/${name}.`);
    return true;
  } catch (err) {
    if (err instanceof KubeApiError && err.statusCode === 404) return false;
    throw explainKubeError(err, `deleting ${res.kind}/${name} (namespace ${namespace})`);
  }
}

async function jsonPatch(client: KubeClient, res: ApiResource, namespace: string, name: string, ops: unknown[], fieldManager: string): Promise<KubeObject> {
  return client.request<KubeObject>({
    method: 'PATCH',
    path: KubeClient.pathOf(res, namespace, name),
    query: { fieldManager },
    body: JSON.stringify(ops),
    contentType: 'application/json-patch+json',
  });
}

/**
 * Patches a route with a patch computed from its live state; the patch tests the
 * resourceVersion, so a route changed in between is read again (three tries).
 */
async function patchRoute(
  client: KubeClient,
  res: ApiResource,
  namespace: string,
  name: string,
  make: (route: KubeObject) => unknown[] | undefined,
  fieldManager: string,
  doing: string,
): Promise<boolean> {
  for (let attempt = 1; ; attempt++) {
    try {
      const route = await client.request<KubeObject>({ path: KubeClient.pathOf(res, namespace, name) });
      const ops = make(route);
      if (!ops) return false;
      await jsonPatch(client, res, namespace, name, ops, fieldManager);
      return true;
    } catch (err) {
      if (err instanceof KubeApiError && err.statusCode === 404 && doing.startsWith('restoring')) return false;
      if (err instanceof KubeApiError && (err.statusCode === 409 || err.statusCode === 422) && attempt < 3) continue;
      throw explainKubeError(err, doing);
    }
  }
}

/** Names of the Deployments the inputs describe (the template's appName, or the Deployments in the manifests), no image needed. */
function deploymentNames(o: Resolved): string[] {
  if (o.manifests.length === 0) return [o.template.appName];
  const files = expandManifestPatterns(o.manifests, o.cwd);
  return loadManifestFiles(files, o.cwd)
    .map((s) => s.object)
    .filter((x) => x.kind === 'Deployment')
    .map((x) => x.metadata?.name ?? '');
}

function connectClient(o: Resolved): Promise<KubeClient> | KubeClient {
  if (o.client) return o.client;
  if (o.connect) return o.connect();
  throw new Error('release needs a Kubernetes client unless renderOnly');
}

/**
 * Removes a canary: traffic first (routes get their original backends back,
 * TrafficSplits go), then the Services and baseline it created, then the canary
 * Deployment itself. Returns what was removed.
 */
async function removeCanary(client: KubeClient, canary: KubeObject, namespace: string, o: Resolved): Promise<string[]> {
  const fieldManager = o.fieldManager ?? FIELD_MANAGER;
  const refs = canaryObjects(canary);
  const removed: string[] = [];
  const resolve = async (ref: ObjectRef): Promise<ApiResource | undefined> => {
    try {
      return await client.resolve(ref.apiVersion, ref.kind);
    } catch (err) {
      if (err instanceof UnknownKindError) return undefined; // the API went away: nothing of it is left
      throw explainKubeError(err, `resolving ${ref.kind} (${ref.apiVersion})`);
    }
  };
  const order = (k: string) => (k === 'HTTPRoute' ? 0 : k === 'TrafficSplit' ? 1 : 2);
  for (const ref of [...refs].sort((a, b) => order(a.kind) - order(b.kind))) {
    const res = await resolve(ref);
    if (!res) continue;
    if (ref.kind === 'HTTPRoute') {
      if (
        await patchRoute(
          client,
          res,
          namespace,
          ref.name,
          routeRestorePatch,
          fieldManager,
          `restoring the backends of HTTPRoute/${ref.name} (namespace ${namespace})`,
        )
      ) {
        o.logger.info(`HTTPRoute/${ref.name}: original backends restored.`);
        removed.push(`HTTPRoute/${ref.name} weights`);
      }
    } else if (await remove(client, res, namespace, ref.name, o.logger)) removed.push(`${ref.kind}/${ref.name}`);
  }
  const dep = await client.resolve('apps/v1', 'Deployment');
  if (await remove(client, dep, namespace, canary.metadata?.name ?? '', o.logger)) removed.push(`Deployment/${canary.metadata?.name ?? ''}`);
  return removed;
}

/** The canaries of the named Deployments; one line and nothing changed when there is none. */
async function findCanaries(client: KubeClient, o: Resolved, names: string[]): Promise<{ stable: string; canary: KubeObject }[]> {
  const found: { stable: string; canary: KubeObject }[] = [];
  for (const name of names) {
    const c = await getOrUndefined(client, deploymentsPath(o.namespace, canaryName(name)), `reading Deployment/${canaryName(name)} (namespace ${o.namespace})`);
    if (c && c.metadata?.annotations?.[CanaryKey.CanaryOf] === name) found.push({ stable: name, canary: c });
  }
  if (found.length === 0) {
    const list = names.map((n) => `Deployment/${canaryName(n)}`).join(', ');
    throw new UserError(
      `There is no canary to ${o.action} in namespace ${o.namespace} (${list || 'no Deployment'} not found): nothing was changed; run the canary deploy first, or check 'namespace' and 'appName'/'manifests'.`,
      { code: 'NoCanary' },
    );
  }
  return found;
}

async function stableServing(client: KubeClient, o: Resolved, names: string[]): Promise<Serving[]> {
  const out: Serving[] = [];
  for (const n of names) {
    const live = await getOrUndefined(client, deploymentsPath(o.namespace, n), `reading Deployment/${n} (namespace ${o.namespace})`);
    if (live) out.push(servingOf(live, 'stable', { percent: 100, by: 'traffic' }));
  }
  return out;
}

// ---------------------------------------------------------------- canary deploy

interface CanaryPlan {
  stable: KubeObject;
  /** The live stable Deployment (undefined with renderOnly). */
  live?: KubeObject;
  canary: KubeObject;
  baseline?: KubeObject;
  /** The Services that select the stable pods, and their track copies. */
  services: KubeObject[];
  trackServices: KubeObject[];
  routes: { res: ApiResource; route: KubeObject; service: string }[];
  splits: KubeObject[];
  stableReplicas: number;
}

async function deployCanary(o: Resolved): Promise<Omit<DeployResult, 'namespace'>> {
  const { objects, image } = await renderObjects(o);
  const method = o.trafficSplitMethod;
  const weights = trafficWeights(method, o.percentage);
  const other = objects.find((x) => x.kind === 'StatefulSet' || x.kind === 'DaemonSet');
  if (other) {
    throw new InputError('strategy', `strategy canary covers Deployments, and ${describeObject(other)} is a ${other.kind}: deploy it with strategy none.`);
  }
  const deployments = objects.filter((x) => x.kind === 'Deployment');
  if (deployments.length === 0) throw new InputError('strategy', `strategy canary needs a Deployment in the manifests: there is none; use strategy none.`);
  const services = objects.filter((x) => x.kind === 'Service' && x.apiVersion === 'v1');
  const client = o.renderOnly ? undefined : await connectClient(o);
  const api = client ? await trafficApi(client, method) : undefined;
  const ns = o.namespace;

  const plans: CanaryPlan[] = [];
  for (const d of deployments) {
    const name = d.metadata?.name ?? '';
    const dns = d.metadata?.namespace ?? ns;
    let live: KubeObject | undefined;
    if (client) {
      live = await getOrUndefined(client, deploymentsPath(dns, name), `reading the stable Deployment/${name} (namespace ${dns})`);
      if (!live) {
        throw new UserError(
          `There is no stable Deployment/${name} in namespace ${dns} for a canary to run beside: deploy it first with strategy none; nothing was changed.`,
          { code: 'NoStableWorkload' },
        );
      }
      if (method !== 'pod' && (live.spec?.template as KubeObject | undefined)?.metadata?.labels?.[TRACK_LABEL] !== 'stable') {
        throw new UserError(
          `The pods of Deployment/${name} (namespace ${dns}) carry no ${TRACK_LABEL}=stable label, which trafficSplitMethod ${method} needs to tell them from the canary's: deploy the stable version once with strategy none (this task labels its pods), then start the canary; nothing was changed.`,
          { code: 'NoStableWorkload' },
        );
      }
    }
    const stableReplicas = typeof live?.spec?.replicas === 'number' ? live.spec.replicas : typeof d.spec?.replicas === 'number' ? d.spec.replicas : 1;
    const canaryReplicas = method === 'pod' ? podCanaryReplicas(stableReplicas, o.percentage) : o.baselineAndCanaryReplicas;
    const canary = trackWorkload(d, { track: 'canary', replicas: canaryReplicas, percentage: o.percentage, method });
    const mine = services.filter((s) => selects(s, d));
    if (method !== 'pod' && mine.length === 0) {
      throw new InputError(
        'trafficSplitMethod',
        `trafficSplitMethod ${method} splits the traffic of a Service, and no Service in the manifests selects the pods of Deployment/${name}: add the Service, or use trafficSplitMethod pod.`,
      );
    }
    if (o.predictionChecks?.length && mine.length === 0) {
      throw new InputError(
        'smokeTestRequest',
        `'smokeTestRequest' is set but no Service in the manifests selects the pods of Deployment/${name} to send it through: add the Service or clear smokeTestRequest.`,
      );
    }
    const trackServices: KubeObject[] = [];
    for (const s of mine) {
      trackServices.push(trackService(s, 'canary'));
      if (method !== 'pod') trackServices.push(trackService(s, 'stable'));
      if (method === 'smi') trackServices.push(trackService(s, 'baseline'));
    }
    const baseline =
      method === 'smi' ? trackWorkload(live ?? d, { track: 'baseline', replicas: o.baselineAndCanaryReplicas, percentage: o.percentage, method }) : undefined;
    const routes: CanaryPlan['routes'] = [];
    if (method === 'gatewayApi' && client && api) {
      let list: KubeList;
      try {
        list = await client.request<KubeList>({ path: KubeClient.pathOf(api, dns) });
      } catch (err) {
        throw explainKubeError(err, `listing the HTTPRoutes of namespace ${dns}`);
      }
      for (const s of mine) {
        const svc = s.metadata?.name ?? '';
        const found = list.items.filter((r) => routeReferences(r, svc, dns));
        if (found.length === 0) {
          throw new UserError(
            `No HTTPRoute in namespace ${dns} sends traffic to Service/${svc}, so gatewayApi has no weights to set: create the HTTPRoute (parentRefs your Gateway, backendRefs Service ${svc}); nothing was changed.`,
            { code: 'NotFound' },
          );
        }
        for (const route of found) {
          routeCanaryPatch(route, svc, dns, weights); // refuses a route it cannot split, before anything changes
          routes.push({ res: api, route, service: svc });
        }
      }
    }
    const splits = method === 'smi' ? mine.map((s) => trafficSplit(api?.groupVersion ?? SMI_VERSIONS[2] ?? '', s.metadata?.name ?? '', dns, weights)) : [];
    const created: ObjectRef[] = [
      ...routes.map((r) => refOf(r.route)),
      ...splits.map(refOf),
      ...trackServices.map(refOf),
      ...(baseline ? [refOf(baseline)] : []),
    ];
    canary.metadata = { ...canary.metadata, annotations: { ...(canary.metadata?.annotations ?? {}), [CanaryKey.Objects]: JSON.stringify(created) } };
    plans.push({ stable: d, live, canary, baseline, services: mine, trackServices, routes, splits, stableReplicas });
  }

  const toApply = plans.flatMap((p) => [...p.trackServices, ...(p.baseline ? [p.baseline] : []), p.canary]);
  const renderedManifests = await writeRendered(o.renderDir, [...toApply, ...plans.flatMap((p) => p.splits)], ns);
  o.logger.info(`Rendered ${toApply.length} canary object(s) to ${renderedManifests}/manifests.yaml; the stable objects are left as they are.`);
  if (!client) {
    o.logger.info('renderOnly is true: nothing was applied.');
    return { deployedImage: image, revision: '', serviceEndpoint: '', renderedManifests, applied: [], serving: [], issues: [] };
  }
  const skipped = objects.filter((x) => x.kind !== 'Deployment' && !services.includes(x));
  if (skipped.length) o.logger.info(`Not applied during the canary (they are on promote): ${skipped.map(describeObject).join(', ')}.`);

  const fieldManager = o.fieldManager ?? FIELD_MANAGER;
  const now = o.now ?? Date.now;
  const applied = await applyObjects(client, toApply, { namespace: ns, fieldManager, logger: o.logger });
  const abandon = async (cause: string, see: string): Promise<UserError> => {
    const removed: string[] = [];
    for (const p of plans) {
      try {
        removed.push(...(await removeCanary(client, { ...p.canary, metadata: { ...p.canary.metadata, namespace: ns } }, ns, o)));
      } catch (err) {
        return new UserError(`${cause}; removing the canary failed too (${errorMessage(err)}): reject it (action reject) once the cluster answers (${see}).`, {
          code: 'CanaryFailed',
        });
      }
    }
    return new UserError(`${cause}; the canary was removed (${removed.join(', ')}) and the stable version serves all traffic, untouched (${see}).`, {
      code: 'CanaryFailed',
    });
  };
  const workloads = applied.filter((a) => a.object.kind === 'Deployment');
  const outcomes = await waitForRollout(client, workloads, now() + o.rolloutTimeoutSeconds * 1000, o);
  const failed = outcomes.find((x) => !x.ok);
  if (failed) {
    const what = describeObject(failed.obj);
    for (const line of formatDiagnosis(what, await diagnoseWorkload(client, failed.live ?? failed.obj))) o.logger.info(line);
    throw await abandon(`The canary ${what} did not roll out: ${failed.reason}`, 'see the diagnosis above');
  }

  if (o.predictionChecks?.length) {
    for (const p of plans) {
      // checked before anything was applied: every Deployment with checks has a Service
      const svc = p.trackServices.find((s) => s.metadata?.labels?.[TRACK_LABEL] === 'canary') as KubeObject;
      const check = await predictionCheck(client, {
        namespace: ns,
        service: svc.metadata?.name ?? '',
        port: servicePort(svc),
        checks: o.predictionChecks,
        logger: o.logger,
        what: `the canary ${describeObject(p.canary)}`,
        mask: o.mask,
      });
      if (check.error) throw await abandon(check.error.message.replace(/: see the request.*$/, ''), 'see the request, answer and expectation above');
    }
  }

  // Traffic moves to the canary only now that it runs and answers as expected.
  for (const p of plans) {
    for (const s of p.splits) {
      const res = api as ApiResource;
      try {
        await client.request({
          method: 'PATCH',
          path: KubeClient.pathOf(res, ns, s.metadata?.name ?? ''),
          query: { fieldManager, force: true },
          body: JSON.stringify(s),
          contentType: 'application/apply-patch+yaml',
        });
      } catch (err) {
        throw await abandon(explainKubeError(err, `applying TrafficSplit/${s.metadata?.name ?? ''}`).message.replace(/\.$/, ''), 'nothing else changed');
      }
      o.logger.info(`Applied TrafficSplit/${s.metadata?.name ?? ''}: ${JSON.stringify((s.spec as { backends: unknown }).backends)}.`);
    }
    for (const r of p.routes) {
      try {
        await patchRoute(
          client,
          r.res,
          ns,
          r.route.metadata?.name ?? '',
          (route) => routeCanaryPatch(route, r.service, ns, weights),
          fieldManager,
          `setting the canary weights of HTTPRoute/${r.route.metadata?.name ?? ''} (namespace ${ns})`,
        );
      } catch (err) {
        throw await abandon(errorMessage(err).replace(/\.$/, ''), 'see above');
      }
      o.logger.info(`HTTPRoute/${r.route.metadata?.name ?? ''}: ${weights.stable}% to ${r.service}-stable, ${weights.canary}% to ${r.service}-canary.`);
    }
  }

  const serving: Serving[] = [];
  for (const p of plans) {
    const canaryLive = outcomes.find((x) => x.obj.metadata?.name === p.canary.metadata?.name)?.live ?? p.canary;
    const c = typeof p.canary.spec?.replicas === 'number' ? p.canary.spec.replicas : 1;
    if (method === 'pod') {
      serving.push(servingOf(p.live ?? p.stable, 'stable', { percent: share(p.stableReplicas, p.stableReplicas + c), by: 'pods', replicas: p.stableReplicas }));
      serving.push(servingOf(canaryLive, 'canary', { percent: share(c, p.stableReplicas + c), by: 'pods', replicas: c }));
    } else {
      serving.push(servingOf(p.live ?? p.stable, 'stable', { percent: weights.stable, by: 'traffic', replicas: p.stableReplicas }));
      if (p.baseline) serving.push(servingOf(p.baseline, 'baseline', { percent: weights.baseline ?? 0, by: 'traffic', replicas: c }));
      serving.push(servingOf(canaryLive, 'canary', { percent: weights.canary, by: 'traffic', replicas: c }));
    }
    if (method === 'pod' && Math.abs(share(c, p.stableReplicas + c) - o.percentage) > 5) {
      o.logger.warn(
        `The canary of Deployment/${p.stable.metadata?.name ?? ''} serves ${share(c, p.stableReplicas + c)}% of the pods, not ${o.percentage}%: with ${p.stableReplicas} stable pod(s) a pod count cannot come closer; use trafficSplitMethod gatewayApi or smi for exact shares.`,
      );
    }
  }
  const first = plans[0] as CanaryPlan;
  const primary = outcomes.find((x) => x.obj.metadata?.name === first.canary.metadata?.name);
  const svc = first.services[0];
  const svcPort = Array.isArray(svc?.spec?.ports) ? (svc.spec.ports[0] as { port?: unknown } | undefined)?.port : undefined;
  const endpoint = svc ? `${svc.metadata?.name ?? ''}.${ns}.svc.cluster.local${typeof svcPort === 'number' ? `:${svcPort}` : ''}` : '';
  return {
    deployedImage: image,
    revision: primary?.live ? String(primary.live.metadata?.annotations?.['deployment.kubernetes.io/revision'] ?? '') : '',
    serviceEndpoint: endpoint,
    renderedManifests,
    applied: applied.map((a: AppliedObject) => describeObject(a.object)),
    serving,
    issues: [],
  };
}

// ---------------------------------------------------------------- promote and reject

async function promote(o: Resolved): Promise<Omit<DeployResult, 'namespace'>> {
  const names = deploymentNames(o);
  const client = await connectClient(o);
  const canaries = await findCanaries(client, o, names);
  const first = canaries[0] as { stable: string; canary: KubeObject };
  const identity = identityOf(first.canary);
  const canaryImage = identity.image ?? '';
  if (o.image) {
    const given = parseReference(o.image, { input: 'image' });
    const running = canaryImage ? parseReference(canaryImage, { input: 'image' }) : undefined;
    if (running?.digest && given.digest && given.digest !== running.digest) {
      throw new InputError(
        'image',
        `'image' (${o.image}) is not what the canary runs (${canaryImage}): promote promotes the canary that was checked; clear 'image' or pass the canary's image. Nothing was changed.`,
      );
    }
  }
  o.logger.info(
    `Promoting the canary ${describeObject(first.canary)} (${identity.modelVersion ? `model ${identity.modelVersion}, ` : ''}${canaryImage}) to stable...`,
  );
  // The stable version takes the canary's image and model identity (as the canary's annotations recorded them).
  const po: Resolved = {
    ...o,
    image: canaryImage,
    model: { uri: identity.modelUri ?? o.model.uri, version: identity.modelVersion ?? o.model.version, sha256: identity.modelSha256 ?? o.model.sha256 },
    fetchImageAnnotations: undefined,
  };
  const { objects, image } = await renderObjects(po);
  labelTrack(objects, 'stable');
  const renderedManifests = await writeRendered(o.renderDir, objects, o.namespace);
  const fieldManager = o.fieldManager ?? FIELD_MANAGER;
  const now = o.now ?? Date.now;
  const applied = await applyObjects(client, objects, { namespace: o.namespace, fieldManager, logger: o.logger });
  const outcomes = await waitForRollout(client, applied, now() + o.rolloutTimeoutSeconds * 1000, o);
  const failed = outcomes.find((x) => !x.ok);
  if (failed) {
    const what = describeObject(failed.obj);
    for (const line of formatDiagnosis(what, await diagnoseWorkload(client, failed.live ?? failed.obj))) o.logger.info(line);
    throw await rollBack(
      client,
      failed,
      applied,
      o,
      `Promote failed: ${what} did not roll out to the canary's version: ${failed.reason}`,
      'see the diagnosis above; the canary is still in place: reject it, or fix the cause and promote again',
    );
  }
  const removed: string[] = [];
  for (const c of canaries) removed.push(...(await removeCanary(client, c.canary, o.namespace, o)));
  o.logger.info(`Removed the canary: ${removed.join(', ')}.`);
  const primary = outcomes.find((x) => x.obj.kind === 'Deployment');
  return {
    deployedImage: image,
    revision: primary?.live ? String(primary.live.metadata?.annotations?.['deployment.kubernetes.io/revision'] ?? '') : '',
    serviceEndpoint: '',
    renderedManifests,
    applied: applied.map((a) => describeObject(a.object)),
    serving: await stableServing(client, o, names),
    issues: [],
  };
}

async function reject(o: Resolved): Promise<Omit<DeployResult, 'namespace'>> {
  const names = deploymentNames(o);
  const client = await connectClient(o);
  const canaries = await findCanaries(client, o, names);
  const removed: string[] = [];
  for (const c of canaries) {
    const id = identityOf(c.canary);
    o.logger.info(`Rejecting the canary ${describeObject(c.canary)}${id.modelVersion ? ` (model ${id.modelVersion})` : ''}...`);
    removed.push(...(await removeCanary(client, c.canary, o.namespace, o)));
  }
  o.logger.info(`Removed the canary: ${removed.join(', ')}. The stable version was not changed.`);
  const serving = await stableServing(client, o, names);
  return {
    deployedImage: serving[0]?.image ?? '',
    revision: '',
    serviceEndpoint: '',
    renderedManifests: '',
    applied: [],
    serving,
    issues: [],
  };
}
