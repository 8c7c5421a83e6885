import { serve } from '@hono/node-server';
import type { AddressInfo } from 'node:net';

export interface HttpServer {
  /** The port it listens on (the OS's choice when asked for 0). */
  port: number;
  /** Stops listening and drops open keep-alive connections, so it never waits on idle clients. */
  close(): Promise<void>;
}

/**
 * Serves a fetch handler over Node's HTTP: the one way the product listens (`start`, tests and
 * benchmarks; the emulator has its own, sharing no code with the product). Rejects when it cannot listen (the port is taken).
 */
export function serveHttp(
  fetch: (req: Request) => Response | Promise<Response>,
  opts: { host?: string; port?: number; maxHeaderSize?: number } = {},
): Promise<HttpServer> {
  return new Promise((resolve, reject) => {
    const server = serve(
      {
        fetch,
        hostname: opts.host ?? '127.0.0.1',
        port: opts.port ?? 0,
        ...(opts.maxHeaderSize ? { serverOptions: { maxHeaderSize: opts.maxHeaderSize } } : {}),
      },
      (info: AddressInfo) =>
        resolve({
          port: info.port,
          close: () =>
            new Promise<void>((done) => {
              server.close(() => done());
              (server as unknown as { closeAllConnections?: () => void }).closeAllConnections?.();
            }),
        }),
    );
    server.once('error', reject);
  });
}
