/** Child-process entry of the hostile registry: prints its addresses as one JSON line, stops on SIGTERM. */
import { startHostileRegistry, type HostileRegistryOptions } from './hostile-registry';

void (async () => {
  const server = await startHostileRegistry(JSON.parse(process.argv[2] ?? '{}') as HostileRegistryOptions);
  const { stop, ...info } = server;
  process.stdout.write(`${JSON.stringify(info)}\n`);
  process.on('SIGTERM', () => {
    void stop().then(() => process.exit(0));
  });
})();
