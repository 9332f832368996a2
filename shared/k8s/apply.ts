/**
 * Server-side apply of plain objects: kinds resolved through discovery,
 * namespaced and cluster-scoped objects, the target namespace created when
 * missing, bodies sent verbatim as application/apply-patch+yaml with a field
 * manager. Everything is first applied with dryRun=All, so permission and
 * validation errors surface before anything changes: missing namespaces are
 * created only after every other check passed (objects inside them can only
 * be dry-run once they exist); if a later step fails, the error says what was
 * already applied or created.
 */
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

/** Whether a namespace exists: true, false, or undefined when the identity may not read namespaces (apply will tell). */
export async function namespaceExists(client: KubeClient, namespace: string, logger: Logger): Promise<boolean | undefined> {
  try {
    await client.request({ path: `/api/v1/namespaces/${encodeURIComponent(namespace)}` });
    return true;
  } catch (err) {
    if (err instanceof KubeApiError && err.statusCode === 403) {
      // May not read namespaces (namespace-scoped RBAC): assume it exists, apply will tell.
      logger.debug(`cannot read namespace ${namespace} (403); assuming it exists`);
      return undefined;
    }
    if (err instanceof KubeApiError && err.statusCode === 404) return false;
    throw explainKubeError(err, `reading namespace ${namespace}`);
  }
}

/** Creates a namespace; true when this call created it (false: it appeared concurrently). */
export async function createNamespace(client: KubeClient, namespace: string, logger: Logger, alreadyCreated: string[] = []): Promise<boolean> {
  try {
    await client.request({ method: 'POST', path: '/api/v1/namespaces', body: { apiVersion: 'v1', kind: 'Namespace', metadata: { name: namespace } } });
    logger.info(`Created namespace ${namespace}.`);
    return true;
  } catch (err) {
    if (err instanceof KubeApiError && err.statusCode === 409) return false; // created concurrently
    throw explainKubeError(
      err,
      `creating namespace ${namespace} (it does not exist; ${alreadyCreated.length ? `created namespace ${alreadyCreated.join(', ')} before, ` : ''}nothing else was applied)`,
    );
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
  // 2. Namespaces the objects go to, and which of them are missing.
  const namespaces = new Set(resolved.filter((r) => r.res.namespaced).map((r) => r.obj.metadata?.namespace as string));
  const createdHere = new Set(resolved.filter((r) => r.obj.kind === 'Namespace').map((r) => r.obj.metadata?.name));
  const missing = new Set<string>();
  for (const ns of namespaces) if (!createdHere.has(ns) && (await namespaceExists(client, ns, options.logger)) === false) missing.add(ns);
  // 3. Dry run (server-side validation, admission, RBAC) of everything that can be checked before anything
  //    changes: every object whose namespace exists (creating a namespace is the first change).
  const dryRun = async (entries: typeof resolved, done: string) => {
    for (const { res, obj } of entries) {
      try {
        await applyRequest(client, res, obj, fieldManager, true);
      } catch (err) {
        throw explainKubeError(err, `checking ${describeObject(obj)} with a dry run; ${done}`);
      }
    }
  };
  const checkable = resolved.filter(({ obj }) => obj.kind !== 'Namespace' && !createdHere.has(obj.metadata?.namespace));
  await dryRun(
    checkable.filter(({ obj }) => !missing.has(obj.metadata?.namespace as string)),
    'nothing was applied',
  );
  // Objects in a missing namespace can only be dry-run once it exists (the API server refuses them before).
  const created: string[] = [];
  for (const ns of missing) if (await createNamespace(client, ns, options.logger, created)) created.push(ns);
  await dryRun(
    checkable.filter(({ obj }) => missing.has(obj.metadata?.namespace as string)),
    created.length ? `nothing was applied except creating namespace ${created.join(', ')}` : 'nothing was applied',
  );
  // 4. Apply for real.
  const applied: AppliedObject[] = [];
  for (const { res, obj } of resolved) {
    try {
      const live = await applyRequest(client, res, obj, fieldManager, false);
      applied.push({ resource: res, object: obj, live });
      options.logger.info(`Applied ${describeObject(obj)}.`);
    } catch (err) {
      const objects = applied.map((a) => describeObject(a.object)).join(', ');
      const namespacesNote = created.length ? `creating namespace ${created.join(', ')}` : '';
      const done = objects
        ? `(already applied: ${objects})${namespacesNote ? ` after ${namespacesNote}` : ''}`
        : `(nothing was applied${namespacesNote ? ` except ${namespacesNote}` : ''})`;
      throw explainKubeError(err, `applying ${describeObject(obj)} ${done}`);
    }
  }
  return applied;
}
