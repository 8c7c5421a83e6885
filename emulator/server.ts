import { serveHttp } from '../src/serve-http.ts';
import type { Emulator } from './index.ts';

export interface EmulatorServer {
  /** e.g. http://127.0.0.1:54321 — use as airtable.js `endpointUrl`. */
  url: string;
  close(): Promise<void>;
}

/**
 * Serve the emulator over real HTTP on 127.0.0.1 (port 0 = a free port). Node's default header
 * limit (16 KiB) would refuse long URLs before the emulator sees them, so it is raised: the
 * emulator itself enforces Airtable's 16,000-character URL limit (reference §1.1).
 */
export async function startEmulatorServer(
  emulator: Emulator,
  opts: { port?: number; host?: string } = {},
): Promise<EmulatorServer> {
  const host = opts.host ?? '127.0.0.1';
  const server = await serveHttp(emulator.app.fetch, { host, port: opts.port, maxHeaderSize: 64 * 1024 });
  return {
    url: `http://${host}:${server.port}`,
    close: () => {
      emulator.control.clearFaults(); // releases requests a 'hang' fault holds
      return server.close();
    },
  };
}
