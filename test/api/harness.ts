import { Writable } from 'node:stream';
import { createAirtableClient, createRateBudget } from '../../src/airtable/index.ts';
import { createApi, type ApiDeps } from '../../src/api/index.ts';
import { createSecretBox } from '../../src/crypto/secrets.ts';
import type { Database } from '../../src/db/database.ts';
import { createEmulator, DEMO_BASE_ID, EMULATOR_TOKEN, type Emulator } from '../../emulator/index.ts';
import { createLogger } from '../../src/log.ts';

export { DEMO_BASE_ID, EMULATOR_TOKEN };
export const SECRET_KEY = 'test secret key 0123456789';
export const ADMIN_TOKEN = 'admin-token-for-tests-0123456789';

/** The emulator answering in-process: every request for api.airtable.com goes to its app.fetch. */
export function emulatorFetch(emulator: Emulator): typeof fetch {
  return (input, init) => Promise.resolve(emulator.app.fetch(new Request(input, init)));
}

/** A logger whose lines are kept, to assert secrets never reach them. */
export function memoryLogger() {
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk, _enc, cb) {
      lines.push(String(chunk));
      cb();
    },
  });
  return { log: createLogger({ level: 'debug', destination }), text: () => lines.join('') };
}

export function buildApi(db: Database, overrides: Partial<ApiDeps> = {}) {
  const emulator = createEmulator();
  const fetchFn = emulatorFetch(emulator);
  const budget = createRateBudget({ perSecond: 1000 });
  const logs = memoryLogger();
  const secrets = createSecretBox(SECRET_KEY);
  const deps: ApiDeps = {
    db,
    secrets,
    adminToken: ADMIN_TOKEN,
    airtable: (_source, token) =>
      createAirtableClient({
        apiUrl: 'https://api.airtable.com',
        token: token ?? EMULATOR_TOKEN,
        fetch: fetchFn,
        budget,
        maxAttempts: 1,
      }),
    log: logs.log,
    ...overrides,
  };
  const app = createApi(deps);
  const call = async (method: string, path: string, body?: unknown, headers: Record<string, string> = {}) => {
    const res = await app.request(`/api${path}`.replace(/^\/api/, ''), {
      method,
      headers: {
        authorization: `Bearer ${ADMIN_TOKEN}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        ...headers,
      },
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    });
    const text = await res.text();
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    const json: any = text ? JSON.parse(text) : undefined;
    return { status: res.status, json, text, headers: res.headers };
  };
  return { app, call, emulator, fetch: fetchFn, budget, logs, secrets, deps };
}
