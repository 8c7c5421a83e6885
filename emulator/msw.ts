import { http, type HttpHandler } from 'msw';
import type { Emulator } from './index.ts';

/** The origin the in-process emulator stands in for. */
export const AIRTABLE_ORIGIN = 'https://api.airtable.com';

/**
 * An msw handler that answers every request for `https://api.airtable.com/...` with the emulator,
 * in process: `setupServer(emulatorHandler(emulator)).listen({ onUnhandledRequest: 'bypass' })`
 * makes any client (airmirror, the official `airtable` package, plain fetch) talk to it unchanged.
 * msw is a development dependency: only tests and benchmarks import this file.
 */
export function emulatorHandler(emulator: Emulator): HttpHandler {
  return http.all(/^https:\/\/api\.airtable\.com\//, ({ request }) =>
    emulator.app.fetch(request as unknown as Parameters<typeof emulator.app.fetch>[0]),
  );
}
