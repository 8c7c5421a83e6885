import { serve } from '@hono/node-server';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export interface HttpServer {
  /** The port it listens on (the OS's choice when asked for 0). */
  port: number;
  /** Stops listening and drops open keep-alive connections, so it never waits on idle clients. */
  close(): Promise<void>;
}

type FetchHandler = (req: Request, env?: unknown) => Response | Promise<Response>;

/**
 * Serves a fetch handler over Node's HTTP: the one way the product listens (`start`, tests and
 * benchmarks; the emulator has its own, sharing no code with the product). Rejects when it cannot listen (the port is taken).
 */
export function serveHttp(
  fetch: FetchHandler,
  opts: { host?: string; port?: number; maxHeaderSize?: number } = {},
): Promise<HttpServer> {
  return new Promise((resolve, reject) => {
    const server = serve(
      {
        fetch: closeUnreadBodies(fetch),
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
    // CONNECT never reaches the fetch handler (Node emits it apart): a tunnel is not something
    // airmirror offers, so it is refused like TRACE, in plain HTTP.
    server.on('connect', (_req: IncomingMessage, socket: Socket) => {
      socket.on('error', () => undefined);
      socket.end(
        'HTTP/1.1 405 Method Not Allowed\r\nAllow: GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS\r\nConnection: close\r\nContent-Length: 0\r\n\r\n',
      );
    });
  });
}

/**
 * An answer given before the request's body was read to its end (a 413 past a limit, a 401 or
 * 415 that never looked at it) closes the connection: whatever the client still sends is dropped
 * with the socket instead of being read and thrown away, however large it is.
 */
function closeUnreadBodies(fetch: FetchHandler): FetchHandler {
  return async (req, env) => {
    const res = await fetch(req, env);
    const node = env as { incoming?: IncomingMessage; outgoing?: ServerResponse } | undefined;
    if (node?.incoming && node.outgoing && !node.incoming.complete && !node.outgoing.headersSent) {
      node.outgoing.setHeader('connection', 'close');
    }
    return res;
  };
}
