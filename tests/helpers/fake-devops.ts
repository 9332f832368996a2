/**
 * A fake Azure DevOps organization on 127.0.0.1 that answers the documented
 * REST routes azure-devops-node-api calls, in the order it calls them:
 *
 * - `OPTIONS {org}/_apis/Location`: the Location area's resource locations
 *   (route templates and versions, what VsoClient negotiates against);
 * - `GET {org}/_apis/ResourceAreas`: where each area lives (WebApi's
 *   resource-area lookup before it builds an area client);
 * - `GET {org}/_apis/connectionData` (WebApi.connect);
 * - `OPTIONS {org}/_apis/build`: the Build area's locations (builds, tags,
 *   properties);
 * - builds: `GET {project}/_apis/build/builds` filtered by `definitions`,
 *   `statusFilter`, `resultFilter`, `tagFilters`, ordered by `queryOrder`,
 *   cut at `$top`; `GET .../builds/{id}`;
 * - tags: `GET|POST .../builds/{id}/tags` (POST body: a JSON array);
 * - properties: `GET .../builds/{id}/properties[?filter=a,b]`,
 *   `PATCH .../builds/{id}/properties` with an `application/json-patch+json`
 *   document; answered as a PropertiesCollection
 *   (`{"count":n,"value":{"name":{"$type":"System.String","$value":"..."}}}`).
 *
 * Every non-OPTIONS request needs `Authorization: Bearer <token>` of a known
 * token (401 otherwise) and an api-version (400 otherwise); a token lacks
 * permissions as configured (403 with the service's TF message). A project
 * is addressed by id or name. Requests are recorded for assertions.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export const LOCATION_AREA_ID = 'e81700f7-3be2-46de-8624-2eb35882fcaa';
export const BUILD_AREA_ID = '965220d5-5bb9-42cf-8d67-9b146df2a5a4';

export type Permission = 'ViewBuilds' | 'UpdateBuildInformation' | 'EditBuildQuality';
export const ALL_PERMISSIONS: readonly Permission[] = ['ViewBuilds', 'UpdateBuildInformation', 'EditBuildQuality'];

export interface FakeBuild {
  id: number;
  project: string;
  definitionId: number;
  status: 'inProgress' | 'completed' | 'notStarted' | 'cancelling';
  result?: 'succeeded' | 'partiallySucceeded' | 'failed' | 'canceled';
  finishTime?: string;
  queueTime?: string;
  tags: string[];
  properties: Record<string, string>;
}

export interface FakeRequest {
  method: string;
  path: string;
  query: URLSearchParams;
  authorization?: string;
  contentType?: string;
  accept?: string;
  body?: string;
}

export interface FakeDevOps {
  /** System.CollectionUri: http://127.0.0.1:<port>/<org>/ */
  collectionUri: string;
  port: number;
  builds: Map<number, FakeBuild>;
  projects: { id: string; name: string }[];
  tokens: Map<string, Set<Permission>>;
  requests: FakeRequest[];
  addBuild(b: Partial<FakeBuild> & { id: number; definitionId: number }): FakeBuild;
  stop(): Promise<void>;
}

const STATUS_BITS: Record<string, number> = { none: 0, inprogress: 1, completed: 2, cancelling: 4, postponed: 8, notstarted: 32, all: 47 };
const RESULT_BITS: Record<string, number> = { none: 0, succeeded: 2, partiallysucceeded: 4, failed: 8, canceled: 32 };

/** An enum query value as ASP.NET binds it: a number, or names separated by commas. */
function enumBits(raw: string, table: Record<string, number>): number | undefined {
  if (/^\d+$/.test(raw)) return Number(raw);
  let bits = 0;
  for (const part of raw.split(',')) {
    const v = table[part.trim().toLowerCase()];
    if (v === undefined) return undefined;
    bits |= v;
  }
  return bits;
}

function location(id: string, area: string, resourceName: string, routeTemplate: string, resourceVersion: number, maxVersion = '7.2', releasedVersion = '0.0') {
  return { id, area, resourceName, routeTemplate, resourceVersion, minVersion: '1.0', maxVersion, releasedVersion };
}

const LOCATION_LOCATIONS = [
  location(LOCATION_AREA_ID, 'Location', 'ResourceAreas', '_apis/{resource}/{areaId}', 1),
  location('00d9565f-ed9c-4a06-9a50-00e7896ccab4', 'Location', 'ConnectionData', '_apis/{resource}', 1),
];
const BUILD_LOCATIONS = [
  location('0cd358e1-9217-4d94-8269-1c1ee6f93dcf', 'build', 'builds', '{project}/_apis/{area}/{resource}/{buildId}', 7, '7.2', '7.1'),
  location('6e6114b2-8161-44c8-8f6c-c5505782427f', 'build', 'tags', '{project}/_apis/{area}/builds/{buildId}/{resource}/{*tag}', 3, '7.2', '7.1'),
  location('0a6312e9-0627-49b7-8083-7d74a64849c9', 'build', 'properties', '{project}/_apis/{area}/builds/{buildId}/{resource}', 1),
];

export async function startFakeDevOps(
  options: {
    org?: string;
    projects?: { id: string; name: string }[];
    /** Where ResourceAreas says the Build area lives (default: this server), for a hostile answer. */
    buildAreaUrl?: string;
  } = {},
): Promise<FakeDevOps> {
  const org = options.org ?? 'contoso';
  const projects = options.projects ?? [{ id: '6c2b0933-3600-42ae-bf8b-93d4f7e8a000', name: 'Models' }];
  const builds = new Map<number, FakeBuild>();
  const tokens = new Map<string, Set<Permission>>();
  const requests: FakeRequest[] = [];
  let base = '';

  const send = (res: http.ServerResponse, status: number, body?: unknown) => {
    const text = body === undefined ? '' : JSON.stringify(body);
    res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text) });
    res.end(text);
  };
  const fail = (res: http.ServerResponse, status: number, message: string, typeKey = 'VssServiceException') =>
    send(res, status, {
      $id: '1',
      innerException: null,
      message,
      typeName: `Microsoft.VisualStudio.Services.WebApi.${typeKey}`,
      typeKey,
      errorCode: 0,
      eventId: 3000,
    });

  const projectOf = (key: string) => projects.find((p) => p.id.toLowerCase() === key.toLowerCase() || p.name.toLowerCase() === key.toLowerCase());
  const buildJson = (b: FakeBuild) => {
    const p = projectOf(b.project) ?? { id: b.project, name: b.project };
    return {
      id: b.id,
      buildNumber: `2026.${b.id}`,
      status: b.status,
      result: b.result,
      queueTime: b.queueTime,
      finishTime: b.finishTime,
      definition: { id: b.definitionId, name: `pipeline-${b.definitionId}`, project: p },
      project: p,
      tags: [...b.tags].sort(),
      url: `${base}${p.id}/_apis/build/Builds/${b.id}`,
    };
  };
  const properties = (b: FakeBuild, filter?: string[]) => {
    const value: Record<string, { $type: string; $value: string }> = {};
    for (const [k, v] of Object.entries(b.properties)) {
      if (filter && !filter.some((f) => f.toLowerCase() === k.toLowerCase())) continue;
      value[k] = { $type: 'System.String', $value: v };
    }
    return { count: Object.keys(value).length, value };
  };

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://127.0.0.1');
      const body = Buffer.concat(chunks).toString('utf8');
      const record: FakeRequest = {
        method: req.method ?? '',
        path: decodeURIComponent(url.pathname),
        query: url.searchParams,
        authorization: req.headers.authorization,
        contentType: req.headers['content-type'],
        accept: req.headers.accept,
        body: body || undefined,
      };
      requests.push(record);
      const prefix = `/${org}/`;
      if (!url.pathname.startsWith(prefix)) return fail(res, 404, `The resource cannot be found: ${url.pathname}`);
      const rest = url.pathname.slice(prefix.length).split('/').map(decodeURIComponent);

      if (req.method === 'OPTIONS') {
        if (rest.length === 2 && rest[0] === '_apis' && rest[1].toLowerCase() === 'location')
          return send(res, 200, { count: LOCATION_LOCATIONS.length, value: LOCATION_LOCATIONS });
        if (rest.length === 2 && rest[0] === '_apis' && rest[1].toLowerCase() === 'build')
          return send(res, 200, { count: BUILD_LOCATIONS.length, value: BUILD_LOCATIONS });
        return send(res, 200, { count: 0, value: [] });
      }

      // Authentication: a known bearer token.
      const m = /^Bearer (.+)$/.exec(req.headers.authorization ?? '');
      const perms = m ? tokens.get(m[1]) : undefined;
      if (!perms) {
        res.setHeader('www-authenticate', 'Bearer authorization_uri=https://login.microsoftonline.com/common');
        return fail(res, 401, 'TF400813: The user is not authorized to access this resource.', 'UnauthorizedRequestException');
      }
      const apiVersion = url.searchParams.get('api-version') ?? /api-version=([^;,\s]+)/.exec(req.headers.accept ?? '')?.[1];
      const need = (p: Permission, what: string): boolean => {
        if (perms.has(p)) return true;
        fail(
          res,
          403,
          `TF215106: Access denied. Build Service needs ${p.replace(/([a-z])([A-Z])/g, '$1 $2')} permissions to ${what}.`,
          'AccessDeniedException',
        );
        return false;
      };

      if (rest[0] === '_apis' && rest[1]?.toLowerCase() === 'connectiondata' && req.method === 'GET') {
        return send(res, 200, {
          authenticatedUser: { id: '00000000-0000-0000-0000-00000000b1d5', providerDisplayName: 'Models Build Service (contoso)' },
          instanceId: '00000000-0000-0000-0000-0000000000aa',
          locationServiceData: {
            serviceOwner: '00025394-6065-48ca-87d9-7f5672854ef7',
            defaultAccessMappingMoniker: 'PublicAccessMapping',
            lastChangeId: 1,
            accessMappings: [{ displayName: 'Public Access Mapping', moniker: 'PublicAccessMapping', accessPoint: base }],
          },
        });
      }
      if (!apiVersion)
        return fail(
          res,
          400,
          'No api-version was supplied for the "' +
            req.method +
            '" request. The version must be supplied either as part of the Accept header or as a query parameter.',
          'VssVersionNotSpecifiedException',
        );
      if (rest[0] === '_apis' && rest[1]?.toLowerCase() === 'resourceareas' && req.method === 'GET') {
        const areas = [
          { id: BUILD_AREA_ID, name: 'build', locationUrl: options.buildAreaUrl ?? base },
          { id: LOCATION_AREA_ID, name: 'Location', locationUrl: base },
        ];
        return send(res, 200, { count: areas.length, value: areas });
      }

      // {project}/_apis/build/builds[/{id}[/tags|/properties]]
      if (rest.length >= 4 && rest[1] === '_apis' && rest[2].toLowerCase() === 'build' && rest[3].toLowerCase() === 'builds') {
        const project = projectOf(rest[0]);
        if (!project)
          return fail(
            res,
            404,
            `TF200016: The following project does not exist: ${rest[0]}. Verify that the name of the project is correct and that the project exists on the specified Azure DevOps Server.`,
            'ProjectDoesNotExistWithNameException',
          );
        const inProject = (b: FakeBuild) => projectOf(b.project)?.id === project.id;
        if (rest.length === 4 || (rest.length === 5 && rest[4] === '')) {
          if (req.method !== 'GET') return fail(res, 405, 'Method not allowed.');
          if (!need('ViewBuilds', 'list builds')) return;
          const q = url.searchParams;
          let list = [...builds.values()].filter(inProject);
          const defs = q.get('definitions');
          if (defs) {
            const ids = defs.split(',').map(Number);
            list = list.filter((b) => ids.includes(b.definitionId));
          }
          const status = q.get('statusFilter');
          if (status) {
            const bits = enumBits(status, STATUS_BITS);
            if (bits === undefined) return fail(res, 400, `The value '${status}' is not valid for statusFilter.`);
            list = list.filter((b) => (STATUS_BITS[b.status.toLowerCase()] & bits) !== 0);
          }
          const result = q.get('resultFilter');
          if (result) {
            const bits = enumBits(result, RESULT_BITS);
            if (bits === undefined) return fail(res, 400, `The value '${result}' is not valid for resultFilter.`);
            list = list.filter((b) => b.result !== undefined && (RESULT_BITS[b.result.toLowerCase()] & bits) !== 0);
          }
          const tagFilters = q.get('tagFilters');
          if (tagFilters) {
            const wanted = tagFilters.split(',').map((t) => t.toLowerCase());
            list = list.filter((b) => wanted.every((t) => b.tags.some((x) => x.toLowerCase() === t)));
          }
          const order = (q.get('queryOrder') ?? 'queueTimeDescending').toLowerCase();
          const time = (s?: string) => (s ? Date.parse(s) : 0);
          if (order === '3' || order === 'finishtimedescending') list.sort((a, b) => time(b.finishTime) - time(a.finishTime));
          else if (order === '2' || order === 'finishtimeascending') list.sort((a, b) => time(a.finishTime) - time(b.finishTime));
          else list.sort((a, b) => time(b.queueTime) - time(a.queueTime) || b.id - a.id);
          const top = q.get('$top');
          if (top) list = list.slice(0, Number(top));
          return send(res, 200, { count: list.length, value: list.map(buildJson) });
        }
        const build = builds.get(Number(rest[4]));
        if (!build || !inProject(build)) return fail(res, 404, `The requested build ${rest[4]} could not be found.`, 'BuildNotFoundException');
        if (rest.length === 5) {
          if (!need('ViewBuilds', 'view builds')) return;
          return send(res, 200, buildJson(build));
        }
        const sub = rest[5].toLowerCase();
        if (sub === 'tags' && rest.length === 6) {
          if (req.method === 'GET') {
            if (!need('ViewBuilds', 'view builds')) return;
            return send(res, 200, { count: build.tags.length, value: [...build.tags].sort() });
          }
          if (req.method === 'POST') {
            if (!need('EditBuildQuality', 'add tags')) return;
            let tags: unknown;
            try {
              tags = JSON.parse(body);
            } catch {
              return fail(res, 400, 'The request body is not valid JSON.');
            }
            if (!Array.isArray(tags) || !tags.every((t) => typeof t === 'string')) return fail(res, 400, 'Value cannot be null. Parameter name: tags');
            for (const t of tags as string[]) if (!build.tags.some((x) => x.toLowerCase() === t.toLowerCase())) build.tags.push(t);
            return send(res, 200, { count: build.tags.length, value: [...build.tags].sort() });
          }
          return fail(res, 405, 'Method not allowed.');
        }
        if (sub === 'properties' && rest.length === 6) {
          if (req.method === 'GET') {
            if (!need('ViewBuilds', 'view builds')) return;
            const filter = url.searchParams.get('filter')?.split(',').filter(Boolean);
            return send(res, 200, properties(build, filter));
          }
          if (req.method === 'PATCH') {
            if (!(req.headers['content-type'] ?? '').toLowerCase().startsWith('application/json-patch+json')) {
              return fail(res, 415, 'The request content type is not supported: use application/json-patch+json.');
            }
            if (!need('UpdateBuildInformation', 'update build properties')) return;
            let doc: unknown;
            try {
              doc = JSON.parse(body);
            } catch {
              return fail(res, 400, 'The request body is not valid JSON.');
            }
            if (!Array.isArray(doc)) return fail(res, 400, 'A JSON patch document (an array of operations) is required.');
            for (const op of doc as { op?: string; path?: string; value?: unknown }[]) {
              const name = (op.path ?? '').replace(/^\//, '');
              if (!name) return fail(res, 400, 'Each operation needs a path.');
              if (op.op === 'add' || op.op === 'replace') build.properties[name] = typeof op.value === 'string' ? op.value : JSON.stringify(op.value);
              else if (op.op === 'remove') delete build.properties[name];
              else return fail(res, 400, `Operation '${op.op}' is not supported.`);
            }
            return send(res, 200, properties(build));
          }
          return fail(res, 405, 'Method not allowed.');
        }
      }
      return fail(res, 404, `The resource cannot be found: ${url.pathname}`);
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  base = `http://127.0.0.1:${port}/${org}/`;
  return {
    collectionUri: base,
    port,
    builds,
    projects,
    tokens,
    requests,
    addBuild(b) {
      const full: FakeBuild = { project: projects[0].id, status: 'completed', result: 'succeeded', tags: [], properties: {}, ...b };
      full.finishTime ??= full.status === 'completed' ? new Date(Date.UTC(2026, 0, 1) + full.id * 60_000).toISOString() : undefined;
      full.queueTime ??= new Date(Date.UTC(2026, 0, 1) + full.id * 60_000 - 30_000).toISOString();
      builds.set(full.id, full);
      return full;
    },
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
