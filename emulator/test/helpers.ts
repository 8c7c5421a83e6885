import { EMULATOR_TOKEN } from '../index.ts';

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
