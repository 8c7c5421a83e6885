import { serve } from '@hono/node-server';
import type { AddressInfo } from 'node:net';
import type { Emulator } from './index.ts';

export interface EmulatorServer {
  /** e.g. http://127.0.0.1:54321 — use as airtable.js `endpointUrl`. */
  url: string;
  close(): Promise<void>;
}

/**
 * Serve the emulator over real HTTP on 127.0.0.1 (port 0 = a free port); rejects when it cannot
 * listen. Node's default header limit (16 KiB) would refuse long URLs before the emulator sees
 * them, so it is raised: the emulator itself enforces Airtable's 16,000-character URL limit
 * (docs/airtable-reference.md §1.1).
 */
export function startEmulatorServer(
  emulator: Emulator,
  opts: { port?: number; host?: string } = {},
): Promise<EmulatorServer> {
  const host = opts.host ?? '127.0.0.1';
  return new Promise((resolve, reject) => {
    const server = serve(
      {
        fetch: emulator.app.fetch,
        hostname: host,
        port: opts.port ?? 0,
        serverOptions: { maxHeaderSize: 64 * 1024 },
      },
      (info: AddressInfo) =>
        resolve({
          url: `http://${host}:${info.port}`,
          close: () =>
            new Promise<void>((done) => {
              emulator.control.clearFaults(); // releases requests a 'hang' fault holds
              server.close(() => done());
              // Idle keep-alive connections would otherwise hold close() open.
              (server as unknown as { closeAllConnections?: () => void }).closeAllConnections?.();
            }),
        }),
    );
    server.once('error', reject);
  });
}
