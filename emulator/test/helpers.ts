import { createHmac } from 'node:crypto';
import { setupServer } from 'msw/node';
import { afterAll, afterEach, beforeAll } from 'vitest';
import { createEmulator, EMULATOR_TOKEN, type Emulator, type EmulatorOptions } from '../index.ts';
import { emulatorHandler } from '../msw.ts';

// Bodies are asserted field by field in the tests; typing every Airtable answer here adds nothing.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Json = any;

export const API = 'https://api.airtable.com/v0';
export const AUTH = { authorization: `Bearer ${EMULATOR_TOKEN}` };

/** fetch against the in-process emulator (msw) with the emulator token; JSON in and out. */
export async function call(
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = AUTH,
): Promise<{ status: number; body: Json }> {
  const res = await fetch(API + path, {
    method,
    headers: body === undefined ? headers : { ...headers, 'content-type': 'application/json' },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    // non-JSON bodies (502 pages) stay text
  }
  return { status: res.status, body: parsed };
}

export const T0 = Date.parse('2025-06-01T12:00:00.000Z');

/**
 * An emulator answering `https://api.airtable.com` in process (msw). Call once at module level
 * of a test file: it registers beforeAll/afterEach/afterAll; afterEach also drops queued faults.
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

/**
 * The `X-Airtable-Content-MAC` a ping must carry, computed here with node:crypto, independently
 * of the emulator's Web Crypto signer: HMAC-SHA256 of the raw body, keyed with the base64-decoded
 * secret, as lowercase hex after `hmac-sha256=`.
 */
export function expectedMac(macSecretBase64: string, rawBody: string | Uint8Array): string {
  const key = Buffer.from(macSecretBase64, 'base64');
  return 'hmac-sha256=' + createHmac('sha256', key).update(rawBody).digest('hex');
}
