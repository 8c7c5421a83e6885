import { setupServer } from 'msw/node';
import { afterAll, afterEach, beforeAll } from 'vitest';
import { createEmulator, type Emulator, type EmulatorOptions } from '../../emulator/index.ts';
import { AIRTABLE_ORIGIN, emulatorHandler } from '../../emulator/msw.ts';

export { startEmulatorServer } from '../../emulator/server.ts';
export { EMULATOR_TOKEN, DEMO_BASE_ID, DEMO_TABLES } from '../../emulator/index.ts';

/** Where the in-process emulator answers (the real Airtable origin, intercepted by msw). */
export const EMULATOR_URL = AIRTABLE_ORIGIN;

/**
 * An emulator reachable in-process at `https://api.airtable.com`: an msw server forwards every
 * request for that host to `emulator.app.fetch`. Everything else (Postgres, localhost HTTP)
 * is left alone. Call once, at module level of a test file (it registers beforeAll/afterEach/afterAll;
 * afterEach also drops queued faults).
 */
export function useEmulator(opts?: EmulatorOptions): Emulator {
  const emulator = createEmulator(opts);
  const server = setupServer(emulatorHandler(emulator));
  beforeAll(() => server.listen({ onUnhandledRequest: 'bypass' }));
  afterEach(() => {
    server.resetHandlers();
    emulator.control.clearFaults();
  });
  afterAll(() => server.close());
  return emulator;
}
