/**
 * Runs the fake API server and the fake ARM endpoint in their own process, for
 * task-level tests (written when the task runner blocked the test process's
 * event loop; the servers still run apart from the test, like a real cluster).
 * Config: JSON in FAKE_APISERVER_CONFIG ({ tokens, lbIngress, armToken, clusters:
 * [{ subscriptionId, resourceGroup, name, user: 'entra' | <token>, admin?: <token>, failWith? }], apis?,
 * predictions?: { path, byImage: { <image>: <JSON body> } } } (the service proxy answers a request to
 * `path` with the body for the image every ready pod behind the Service runs, else 503 as a broken
 * model server would).
 * Prints one JSON line { url, ca, armUrl } once listening; stops on SIGTERM.
 */
import { entraKubeconfig, FakeApiServer, FakeArm, type FakeApiServerOptions, type FakeArmCluster } from './fake-apiserver';

interface Config {
  tokens?: string[];
  lbIngress?: { ip?: string; hostname?: string };
  armToken?: string;
  clusters?: { subscriptionId: string; resourceGroup: string; name: string; user: string; admin?: string; failWith?: number }[];
  apis?: FakeApiServerOptions['apis'];
  predictions?: { path: string; byImage: Record<string, unknown> };
}

async function main(): Promise<void> {
  const config = JSON.parse(process.env.FAKE_APISERVER_CONFIG ?? '{}') as Config;
  const predictions = config.predictions;
  const server = await FakeApiServer.start({
    tokens: config.tokens,
    lbIngress: config.lbIngress,
    apis: config.apis,
    proxyAnswer: (r) => {
      if (!predictions || r.path !== predictions.path) return { status: 200, body: '{"status":"ok"}' };
      const images = new Set(r.images);
      const answer = images.size === 1 ? predictions.byImage[[...images][0] as string] : undefined;
      return answer === undefined ? { status: 503, body: 'model not loaded', contentType: 'text/plain' } : { status: 200, body: JSON.stringify(answer) };
    },
  });
  const clusters: FakeArmCluster[] = (config.clusters ?? []).map((c) => ({
    subscriptionId: c.subscriptionId,
    resourceGroup: c.resourceGroup,
    name: c.name,
    userKubeconfig: c.user === 'entra' ? entraKubeconfig(server) : server.kubeconfig(c.user),
    adminKubeconfig: c.admin ? server.kubeconfig(c.admin) : undefined,
    failWith: c.failWith,
  }));
  const arm = await new FakeArm(clusters, config.armToken ?? 'arm-token').start();
  const stop = () => {
    void Promise.all([server.stop(), arm.stop()]).finally(() => process.exit(0));
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  process.stdout.write(`${JSON.stringify({ url: server.url, ca: server.ca, armUrl: arm.url })}\n`);
}

void main();
