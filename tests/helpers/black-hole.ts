/**
 * A black hole for tests: a TCP server on 127.0.0.1 that accepts every
 * connection and never sends a byte (nor closes), recording what came in.
 * Whatever the client speaks (HTTP, TLS) it waits for an answer that never
 * comes. Connections are accepted by the kernel even while this process is
 * busy, so the counts are complete once the event loop runs again.
 */
import net from 'node:net';

export interface BlackHole {
  port: number;
  /** http://127.0.0.1:<port> */
  url: string;
  /** 127.0.0.1:<port> */
  host: string;
  /** Connections accepted so far. */
  readonly connections: number;
  /** Bytes received from clients so far. */
  readonly bytesReceived: number;
  stop(): Promise<void>;
}

export async function startBlackHole(): Promise<BlackHole> {
  const sockets = new Set<net.Socket>();
  let connections = 0;
  let bytesReceived = 0;
  const server = net.createServer((socket) => {
    connections++;
    sockets.add(socket);
    socket.on('data', (chunk: Buffer) => {
      bytesReceived += chunk.length;
    });
    socket.on('error', () => undefined);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as net.AddressInfo).port;
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    host: `127.0.0.1:${port}`,
    get connections() {
      return connections;
    },
    get bytesReceived() {
      return bytesReceived;
    },
    stop: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
