/**
 * Runs the fake API server and the fake ARM endpoint in their own process, for
 * task-level tests (written when the task runner blocked the test process's
 * event loop; the servers still run apart from the test, like a real cluster).
 * Config: JSON in FAKE_APISERVER_CONFIG ({ tokens, lbIngress, armToken, clusters:
 * [{ subscriptionId, resourceGroup, name, user: 'entra' | <token>, admin?: <token>, failWith? }] }).
 * Prints one JSON line { url, ca, armUrl } once listening; stops on SIGTERM.
 */
import { entraKubeconfig, FakeApiServer, FakeArm, type FakeArmCluster } from './fake-apiserver';

interface Config {
  tokens?: string[];
  lbIngress?: { ip?: string; hostname?: string };
  armToken?: string;
  clusters?: { subscriptionId: string; resourceGroup: string; name: string; user: string; admin?: string; failWith?: number }[];
}

async function main(): Promise<void> {
  const config = JSON.parse(process.env.FAKE_APISERVER_CONFIG ?? '{}') as Config;
  const server = await FakeApiServer.start({ tokens: config.tokens, lbIngress: config.lbIngress });
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
