/**
 * A tiny HTTPS stand-in for the Kubernetes API server, scripted per
 * test: each request goes to the first route whose method and path match, and
 * the route answers with a status and body, hangs (never answers), or resets
 * the connection. Unmatched requests get a 404 metav1.Status. Every request is
 * recorded. For branch-level tests of k8s modules; the behavioural fake with
 * discovery, apply and a deployment controller is tests/helpers/fake-apiserver.ts.
 */
import type http from 'node:http';
import https from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import * as yaml from 'js-yaml';
import { KubeClient } from '../../../shared/k8s/client';
import { kubeConfigFromString } from '../../../shared/k8s/kubeconfig';
import { testCertificates } from '../../helpers/fake-apiserver';

export type Answer = { status: number; body?: unknown; contentType?: string } | 'hang' | 'reset';

export interface Route {
  method?: string;
  /** Exact path, or a test on it. */
  path: string | RegExp;
  answer: Answer | ((req: Seen) => Answer);
}

export interface Seen {
  method: string;
  path: string;
  query: Record<string, string>;
  contentType?: string;
  body: string;
}

export const status = (code: number, reason: string, message: string): Answer => ({
  status: code,
  body: { kind: 'Status', apiVersion: 'v1', status: 'Failure', code, reason, message },
});

export class ScriptedApiServer {
  readonly seen: Seen[] = [];
  routes: Route[] = [];
  url = '';
  private server!: https.Server;
  private readonly sockets = new Set<Socket>();

  static async start(routes: Route[] = []): Promise<ScriptedApiServer> {
    const s = new ScriptedApiServer();
    s.routes = routes;
    const { cert, key } = testCertificates();
    s.server = https.createServer({ cert, key }, (req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => s.handle(req, res, Buffer.concat(chunks).toString('utf8')));
    });
    s.server.on('secureConnection', (sock) => {
      s.sockets.add(sock);
      sock.on('close', () => s.sockets.delete(sock));
    });
    await new Promise<void>((resolve) => s.server.listen(0, '127.0.0.1', resolve));
    s.url = `https://127.0.0.1:${(s.server.address() as AddressInfo).port}`;
    return s;
  }

  /** A KubeClient for this server (bearer token, the test CA). */
  client(options: { requestTimeoutMs?: number } = {}): KubeClient {
    const kc = yaml.dump({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'scripted', cluster: { server: this.url, 'certificate-authority-data': Buffer.from(testCertificates().ca).toString('base64') } }],
      users: [{ name: 'u', user: { token: 'scripted-token' } }],
      contexts: [{ name: 'scripted', context: { cluster: 'scripted', user: 'u' } }],
      'current-context': 'scripted',
    });
    return new KubeClient(kubeConfigFromString(kc, { input: 'kubeconfig' }), options);
  }

  requests(method: string, pathPart: string): Seen[] {
    return this.seen.filter((r) => r.method === method && r.path.includes(pathPart));
  }

  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse, body: string): void {
    const url = new URL(req.url ?? '/', 'http://x');
    const seen: Seen = {
      method: req.method ?? 'GET',
      path: url.pathname,
      query: Object.fromEntries(url.searchParams),
      contentType: req.headers['content-type'],
      body,
    };
    this.seen.push(seen);
    const route = this.routes.find((r) => (r.method ?? 'GET') === seen.method && (typeof r.path === 'string' ? r.path === seen.path : r.path.test(seen.path)));
    const answer: Answer = route
      ? typeof route.answer === 'function'
        ? route.answer(seen)
        : route.answer
      : status(404, 'NotFound', `the server could not find the requested resource (${seen.path})`);
    if (answer === 'hang') return;
    if (answer === 'reset') {
      req.socket.destroy();
      return;
    }
    const text = typeof answer.body === 'string' ? answer.body : answer.body === undefined ? '' : JSON.stringify(answer.body);
    res.writeHead(answer.status, {
      'Content-Type': answer.contentType ?? (typeof answer.body === 'string' ? 'text/plain' : 'application/json'),
      'Content-Length': Buffer.byteLength(text),
    });
    res.end(text);
  }
}

/** Discovery documents for a few groups, as routes. */
export function discoveryRoutes(groups: Record<string, { name: string; kind: string; namespaced: boolean }[]>): Route[] {
  return Object.entries(groups).map(([gv, resources]) => ({
    path: gv.includes('/') ? `/apis/${gv}` : `/api/${gv}`,
    answer: { status: 200, body: { kind: 'APIResourceList', groupVersion: gv, resources } },
  }));
}
