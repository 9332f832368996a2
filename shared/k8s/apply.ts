/**
 * Server-side apply of plain objects: kinds resolved through discovery,
 * namespaced and cluster-scoped objects, the target namespace created when
 * missing, bodies sent verbatim as application/apply-patch+yaml with a field
 * manager. Everything is first applied with dryRun=All, so permission and
 * validation errors surface before anything changes; if a real apply still
 * fails, the error says what was already applied.
 */
import { UserError } from '../errors';
import type { Logger } from '../log';
import { KubeApiError, KubeClient, type ApiResource } from './client';
import { explainKubeError } from './explain';
import { describeObject, type KubeObject } from './types';

export const FIELD_MANAGER = 'deploy-to-aks';

export interface AppliedObject {
  resource: ApiResource;
  /** The object as sent (namespace filled in). */
  object: KubeObject;
  /** The object as the server returned it. */
  live: KubeObject;
}

export interface ApplyOptions {
  namespace: string;
  fieldManager?: string;
  logger: Logger;
}

export async function ensureNamespace(client: KubeClient, namespace: string, logger: Logger): Promise<void> {
  try {
    await client.request({ path: `/api/v1/namespaces/${encodeURIComponent(namespace)}` });
    return;
  } catch (err) {
    if (err instanceof KubeApiError && err.statusCode === 403) {
      // May not read namespaces (namespace-scoped RBAC): assume it exists, apply will tell.
      logger.debug(`cannot read namespace ${namespace} (403); assuming it exists`);
      return;
    }
    if (!(err instanceof KubeApiError && err.statusCode === 404)) throw explainKubeError(err, `reading namespace ${namespace}`);
  }
  try {
    await client.request({ method: 'POST', path: '/api/v1/namespaces', body: { apiVersion: 'v1', kind: 'Namespace', metadata: { name: namespace } } });
    logger.info(`Created namespace ${namespace}.`);
  } catch (err) {
    if (err instanceof KubeApiError && err.statusCode === 409) return; // created concurrently
    throw explainKubeError(err, `creating namespace ${namespace} (it does not exist)`);
  }
}

function applyRequest(client: KubeClient, res: ApiResource, obj: KubeObject, fieldManager: string, dryRun: boolean): Promise<KubeObject> {
  return client.request<KubeObject>({
    method: 'PATCH',
    path: KubeClient.pathOf(res, obj.metadata?.namespace, obj.metadata?.name ?? ''),
    query: { fieldManager, force: true, ...(dryRun ? { dryRun: 'All' } : {}) },
    // JSON is YAML: the body is the object exactly as rendered.
    body: JSON.stringify(obj),
    contentType: 'application/apply-patch+yaml',
  });
}

export async function applyObjects(client: KubeClient, objects: KubeObject[], options: ApplyOptions): Promise<AppliedObject[]> {
  const fieldManager = options.fieldManager ?? FIELD_MANAGER;
  // 1. Resolve every kind first: an unknown kind fails before anything is applied.
  const resolved: { res: ApiResource; obj: KubeObject }[] = [];
  for (const obj of objects) {
    let res: ApiResource;
    try {
      res = await client.resolve(obj.apiVersion ?? '', obj.kind ?? '');
    } catch (err) {
      throw explainKubeError(err, `resolving ${describeObject(obj)}; nothing was applied`);
    }
    const copy: KubeObject = { ...obj, metadata: { ...(obj.metadata ?? {}) } };
    if (res.namespaced) {
      copy.metadata = { ...copy.metadata, namespace: obj.metadata?.namespace ?? options.namespace };
    } else if (copy.metadata) {
      delete copy.metadata.namespace;
    }
    resolved.push({ res, obj: copy });
  }
  // 2. Namespaces the objects go to.
  const namespaces = new Set(resolved.filter((r) => r.res.namespaced).map((r) => r.obj.metadata?.namespace as string));
  const createdHere = new Set(resolved.filter((r) => r.obj.kind === 'Namespace').map((r) => r.obj.metadata?.name));
  for (const ns of namespaces) if (!createdHere.has(ns)) await ensureNamespace(client, ns, options.logger);
  // 3. Dry run everything (server-side validation, admission, RBAC).
  for (const { res, obj } of resolved) {
    if (obj.kind === 'Namespace' || createdHere.has(obj.metadata?.namespace)) continue;
    try {
      await applyRequest(client, res, obj, fieldManager, true);
    } catch (err) {
      throw explainKubeError(err, `checking ${describeObject(obj)} with a dry run; nothing was applied`);
    }
  }
  // 4. Apply for real.
  const applied: AppliedObject[] = [];
  for (const { res, obj } of resolved) {
    try {
      const live = await applyRequest(client, res, obj, fieldManager, false);
      applied.push({ resource: res, object: obj, live });
      options.logger.info(`Applied ${describeObject(obj)}.`);
    } catch (err) {
      const done = applied.length ? `already applied: ${applied.map((a) => describeObject(a.object)).join(', ')}` : 'nothing was applied';
      const e = explainKubeError(err, `applying ${describeObject(obj)} (${done})`);
      throw new UserError(e.message, { code: e.code, cause: err });
    }
  }
  return applied;
}
