/**
 * A hostile registry for credential tests: just enough of the distribution API
 * for a push (ping, HEAD blob, POST/PATCH/PUT uploads, manifest PUT with
 * Docker-Content-Digest), with Basic, Bearer or ACR-like token auth, that
 * answers with upload Locations, redirects and token realms on ANOTHER origin.
 *
 * Listeners, all on 127.0.0.1:
 * - registry: the registry's own origin (plain http: a loopback registry).
 * - foreign:  a second origin. It records every request (method, URL, headers,
 *   body) and plays the storage an upload may be sent to; the tests assert from
 *   its side that no credential ever reached it.
 * - proxy:    an HTTP proxy that makes names resolve here: `registryName`
 *   (https, via CONNECT, or http) is the registry, any other name the foreign
 *   side. This is how the tests get an https registry and non-loopback hosts.
 * - aux:      a managed-identity token endpoint (App Service protocol) handing
 *   out `entraToken`, and `/records` for the test to read what happened.
 *
 * Runs in its own process, apart from the test (as a real registry would):
 * see {@link startHostileRegistryProcess}.
 */
import { execFileSync, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface HostileRegistryOptions {
  /** How the registry wants to be signed in to. */
  auth: 'basic' | 'bearer' | 'acr';
  username?: string;
  password?: string;
  /** ACR: the Entra token /oauth2/exchange accepts (also what the aux managed-identity endpoint hands out). */
  entraToken?: string;
  /**
   * Templates for URLs the registry hands out; `{registry}` and `{foreign}` are
   * replaced by the origins of those listeners, `{id}` by the upload id.
   * realm: the Bearer realm (default `{registry}/token`, ACR `{registry}/oauth2/token`).
   */
  realm?: string;
  /** Location of a started upload (default `/v2/<repo>/blobs/uploads/{id}` on the registry). */
  uploadLocation?: string;
  /** When set, HEAD/GET of a blob answers 307 to this (`{digest}` replaced). */
  blobRedirect?: string;
  /** Manifest PUTs for these tags are refused with 403 DENIED. */
  refuseTags?: string[];
  /** The foreign side answers everything with 401 and a Bearer challenge naming its own realm. */
  foreignChallenges?: boolean;
  /** Host name the proxy treats as the registry (https via CONNECT, or http). */
  registryName?: string;
}

export interface RecordedRequest {
  listener: 'registry' | 'foreign';
  method: string;
  url: string;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

export interface HostileRegistryInfo {
  /** host:port of the registry listener (a loopback registry). */
  registry: string;
  /** Origin of the foreign listener. */
  foreign: string;
  /** http://127.0.0.1:<port> of the proxy. */
  proxy: string;
  /** Managed-identity endpoint (IDENTITY_ENDPOINT). */
  identityEndpoint: string;
  /** PEM file of the CA the proxy's TLS names are signed with (NODE_EXTRA_CA_CERTS). */
  caFile: string;
  /** Tokens the registry issued: they must not reach the foreign listener either. */
  refreshToken: string;
  accessToken: string;
  records: string;
}

export interface HostileRegistry extends HostileRegistryInfo {
  stop(): Promise<void>;
}

interface Upload {
  repo: string;
  chunks: Buffer[];
}

function makeCert(dir: string): { key: string; cert: string; caFile: string } {
  const key = join(dir, 'key.pem');
  const cert = join(dir, 'cert.pem');
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-keyout',
      key,
      '-out',
      cert,
      '-days',
      '1',
      '-subj',
      '/CN=hostile',
      '-addext',
      'subjectAltName=DNS:registry.invalid,DNS:storage.invalid,DNS:auth.invalid',
    ],
    { stdio: 'ignore' },
  );
  return { key: readFileSync(key, 'utf8'), cert: readFileSync(cert, 'utf8'), caFile: cert };
}

async function listen(server: net.Server): Promise<number> {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return (server.address() as AddressInfo).port;
}

function readBody(req: http.IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

export async function startHostileRegistry(options: HostileRegistryOptions): Promise<HostileRegistry> {
  const dir = mkdtempSync(join(tmpdir(), 'hostile-registry-'));
  const tls = makeCert(dir);
  const records: RecordedRequest[] = [];
  const uploads = new Map<string, Upload>();
  const blobs = new Map<string, number>();
  const refreshToken = `refresh-${randomBytes(12).toString('hex')}`;
  const accessToken = `access-${randomBytes(12).toString('hex')}`;
  const origins = { registry: '', foreign: '' };
  const registryName = options.registryName ?? 'registry.invalid';

  const fill = (template: string, id = '', digest = ''): string =>
    template.replace('{registry}', origins.registry).replace('{foreign}', origins.foreign).replace('{id}', id).replace('{digest}', digest);
  const realm = () => fill(options.realm ?? (options.auth === 'acr' ? '{registry}/oauth2/token' : '{registry}/token'));
  const challenge = () => (options.auth === 'basic' ? 'Basic realm="hostile"' : `Bearer realm="${realm()}",service="hostile"`);
  const basic = `Basic ${Buffer.from(`${options.username ?? ''}:${options.password ?? ''}`).toString('base64')}`;
  const authorised = (req: http.IncomingMessage) => req.headers.authorization === (options.auth === 'basic' ? basic : `Bearer ${accessToken}`);
  const json = (res: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
    res.writeHead(status, { 'Content-Type': 'application/json', ...headers });
    res.end(JSON.stringify(body));
  };
  const denied = (res: http.ServerResponse) =>
    json(res, 401, { errors: [{ code: 'UNAUTHORIZED', message: 'authentication required' }] }, { 'WWW-Authenticate': challenge() });

  /** Upload session requests (on whichever listener the Location named). */
  const uploadRequest = (req: http.IncomingMessage, res: http.ServerResponse, url: URL, id: string, body: Buffer, own: string) => {
    const up = uploads.get(id);
    if (!up) return json(res, 404, { errors: [{ code: 'BLOB_UPLOAD_UNKNOWN', message: 'unknown upload' }] });
    const size = () => up.chunks.reduce((n, c) => n + c.length, 0);
    const here = `${own}${url.pathname}${url.search}`;
    if (req.method === 'GET') {
      res.writeHead(204, { Location: here, Range: `0-${Math.max(0, size() - 1)}` });
      return res.end();
    }
    if (req.method === 'PATCH') {
      up.chunks.push(body);
      res.writeHead(202, { Location: here, Range: `0-${size() - 1}` });
      return res.end();
    }
    if (req.method === 'PUT') {
      up.chunks.push(body);
      const all = Buffer.concat(up.chunks);
      const digest = `sha256:${createHash('sha256').update(all).digest('hex')}`;
      if (url.searchParams.get('digest') !== digest) return json(res, 400, { errors: [{ code: 'DIGEST_INVALID', message: 'digest mismatch' }] });
      blobs.set(digest, all.length);
      uploads.delete(id);
      res.writeHead(201, { 'Docker-Content-Digest': digest, Location: `/v2/${up.repo}/blobs/${digest}` });
      return res.end();
    }
    return json(res, 405, { errors: [{ code: 'UNSUPPORTED', message: 'method' }] });
  };

  const registryHandler = async (req: http.IncomingMessage, res: http.ServerResponse, own: string) => {
    const body = await readBody(req);
    const url = new URL(req.url ?? '/', own);
    records.push({ listener: 'registry', method: req.method ?? '', url: url.toString(), headers: req.headers, body: body.toString('latin1').slice(0, 4096) });
    const form = new URLSearchParams(body.toString('utf8'));
    // Token endpoints.
    if (options.auth === 'bearer' && url.pathname === '/token') {
      if (req.headers.authorization !== basic) return json(res, 401, { errors: [{ code: 'UNAUTHORIZED', message: 'bad credentials' }] });
      return json(res, 200, { token: accessToken, expires_in: 300 });
    }
    if (options.auth === 'acr' && url.pathname === '/oauth2/exchange' && req.method === 'POST') {
      if (form.get('access_token') !== options.entraToken) return json(res, 401, { errors: [{ code: 'UNAUTHORIZED', message: 'bad entra token' }] });
      return json(res, 200, { refresh_token: refreshToken });
    }
    if (options.auth === 'acr' && url.pathname === '/oauth2/token' && req.method === 'POST') {
      if (form.get('refresh_token') !== refreshToken) return json(res, 401, { errors: [{ code: 'UNAUTHORIZED', message: 'bad refresh token' }] });
      return json(res, 200, { access_token: accessToken, expires_in: 300 });
    }
    if (!url.pathname.startsWith('/v2/')) return json(res, 404, {});
    if (!authorised(req)) return denied(res);
    if (url.pathname === '/v2/') return json(res, 200, {}, { 'Docker-Distribution-API-Version': 'registry/2.0' });
    const blob = /^\/v2\/(.+)\/blobs\/(sha256:[0-9a-f]{64})$/.exec(url.pathname);
    if (blob && (req.method === 'HEAD' || req.method === 'GET')) {
      if (options.blobRedirect) {
        res.writeHead(307, { Location: fill(options.blobRedirect, '', blob[2] as string) });
        return res.end();
      }
      const size = blobs.get(blob[2] as string);
      if (size === undefined) {
        res.writeHead(404);
        return res.end();
      }
      res.writeHead(200, { 'Content-Length': String(size), 'Docker-Content-Digest': blob[2] as string });
      return res.end();
    }
    const start = /^\/v2\/(.+)\/blobs\/uploads\/$/.exec(url.pathname);
    if (start && req.method === 'POST') {
      const id = randomBytes(8).toString('hex');
      uploads.set(id, { repo: start[1] as string, chunks: [] });
      const location = options.uploadLocation ? fill(options.uploadLocation, id) : `/v2/${start[1]}/blobs/uploads/${id}?_state=${id}`;
      res.writeHead(202, { Location: location, Range: '0-0', 'Docker-Upload-UUID': id });
      return res.end();
    }
    const session = /^\/v2\/.+\/blobs\/uploads\/([0-9a-f]+)$/.exec(url.pathname);
    if (session) return uploadRequest(req, res, url, session[1] as string, body, own);
    const manifest = /^\/v2\/(.+)\/manifests\/([^/]+)$/.exec(url.pathname);
    if (manifest && req.method === 'PUT') {
      if (options.refuseTags?.includes(manifest[2] as string))
        return json(res, 403, { errors: [{ code: 'DENIED', message: `tag ${manifest[2]} is immutable` }] });
      const digest = `sha256:${createHash('sha256').update(body).digest('hex')}`;
      res.writeHead(201, { 'Docker-Content-Digest': digest, Location: `/v2/${manifest[1]}/manifests/${digest}` });
      return res.end();
    }
    return json(res, 404, { errors: [{ code: 'NAME_UNKNOWN', message: 'not here' }] });
  };

  const foreignHandler = async (req: http.IncomingMessage, res: http.ServerResponse, own: string) => {
    const body = await readBody(req);
    const url = new URL(req.url ?? '/', own);
    records.push({ listener: 'foreign', method: req.method ?? '', url: url.toString(), headers: req.headers, body: body.toString('latin1').slice(0, 65536) });
    if (options.foreignChallenges)
      return json(
        res,
        401,
        { errors: [{ code: 'UNAUTHORIZED', message: 'sign in here' }] },
        { 'WWW-Authenticate': `Bearer realm="${own}/token",service="foreign"` },
      );
    const session = /\/uploads\/([0-9a-f]+)$/.exec(url.pathname);
    if (session) return uploadRequest(req, res, url, session[1] as string, body, own);
    // Anything else (token requests, blob redirects): a plain 404.
    return json(res, 404, { errors: [{ code: 'NOT_FOUND', message: 'nothing here' }] });
  };

  const registryServer = http.createServer((req, res) => void registryHandler(req, res, origins.registry));
  const foreignServer = http.createServer((req, res) => void foreignHandler(req, res, origins.foreign));
  // TLS for names reached through the proxy: the Host header picks the side.
  const tlsServer = https.createServer({ key: tls.key, cert: tls.cert }, (req, res) => {
    const host = req.headers.host ?? '';
    const own = `https://${host}`;
    if (host.split(':')[0] === registryName) void registryHandler(req, res, own);
    else void foreignHandler(req, res, own);
  });
  const proxyServer = http.createServer((req, res) => {
    // Absolute-form requests for plain-http names.
    const target = new URL(req.url ?? '/');
    const own = `${target.protocol}//${target.host}`;
    req.url = `${target.pathname}${target.search}`;
    if (target.hostname === registryName) void registryHandler(req, res, own);
    else void foreignHandler(req, res, own);
  });
  proxyServer.on('connect', (_req: http.IncomingMessage, socket: net.Socket, head: Buffer) => {
    socket.write('HTTP/1.1 200 Connection Established\r\n\r\n');
    if (head.length) socket.unshift(head);
    tlsServer.emit('connection', socket);
  });
  const auxServer = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://aux');
    if (url.pathname === '/msi') {
      if (req.headers['x-identity-header'] !== 'hostile') return json(res, 401, { error: 'bad header' });
      return json(res, 200, {
        access_token: options.entraToken ?? 'none',
        expires_on: String(Math.floor(Date.now() / 1000) + 3600),
        resource: url.searchParams.get('resource'),
        token_type: 'Bearer',
      });
    }
    if (url.pathname === '/records') return json(res, 200, records);
    return json(res, 404, {});
  });

  const registryPort = await listen(registryServer);
  const foreignPort = await listen(foreignServer);
  const proxyPort = await listen(proxyServer);
  const auxPort = await listen(auxServer);
  origins.registry = `http://127.0.0.1:${registryPort}`;
  origins.foreign = `http://127.0.0.1:${foreignPort}`;
  const all = [registryServer, foreignServer, proxyServer, auxServer, tlsServer];
  return {
    registry: `127.0.0.1:${registryPort}`,
    foreign: origins.foreign,
    proxy: `http://127.0.0.1:${proxyPort}`,
    identityEndpoint: `http://127.0.0.1:${auxPort}/msi`,
    caFile: tls.caFile,
    refreshToken,
    accessToken,
    records: `http://127.0.0.1:${auxPort}/records`,
    stop: async () => {
      for (const s of all) {
        s.closeAllConnections();
        s.close();
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface HostileRegistryProcess extends HostileRegistryInfo {
  /** Every request the listeners received so far. */
  recorded(): Promise<RecordedRequest[]>;
  stop(): Promise<void>;
}

/** Starts the hostile registry in a child process. */
export async function startHostileRegistryProcess(options: HostileRegistryOptions): Promise<HostileRegistryProcess> {
  const child = spawn(process.execPath, ['--require', 'tsx/cjs', join(__dirname, 'hostile-registry-main.ts'), JSON.stringify(options)], {
    stdio: ['ignore', 'pipe', 'inherit'],
    cwd: join(__dirname, '..', '..'),
  });
  const info = await new Promise<HostileRegistryInfo>((resolve, reject) => {
    let buf = '';
    child.stdout?.on('data', (d: Buffer) => {
      buf += d.toString();
      const nl = buf.indexOf('\n');
      if (nl >= 0) resolve(JSON.parse(buf.slice(0, nl)) as HostileRegistryInfo);
    });
    child.once('exit', (code) => reject(new Error(`hostile registry process exited with ${code}`)));
  });
  const pid = child.pid as number;
  return {
    ...info,
    recorded: async () => (await (await fetch(info.records)).json()) as RecordedRequest[],
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        process.kill(pid, 'SIGTERM');
        await exited;
      }
    },
  };
}
