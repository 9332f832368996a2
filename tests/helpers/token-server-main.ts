/** Child-process entry of the test token server: prints its address as one JSON line, stops on SIGTERM. */
import { startTokenServer, type TokenServerOptions } from './token-server';

void (async () => {
  const server = await startTokenServer(JSON.parse(process.argv[2] ?? '{}') as TokenServerOptions);
  process.stdout.write(
    `${JSON.stringify({ url: server.url, realm: server.realm, service: server.service, issuer: server.issuer, rootCertBundlePath: server.rootCertBundlePath })}\n`,
  );
  process.on('SIGTERM', () => {
    void server.stop().then(() => process.exit(0));
  });
})();
