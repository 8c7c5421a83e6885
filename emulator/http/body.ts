import type { Context } from 'hono';
import { airtableError } from '../errors.ts';

/**
 * The JSON body of a write: 413 when larger than `maxBytes` (the real limit is undocumented,
 * docs/airtable-reference.md §2.2/§7, so it is configurable) and 400 when not JSON
 * (docs/airtable-reference.md §2.5).
 */
export async function readJson(c: Context, maxBytes: number): Promise<unknown> {
  const declared = Number(c.req.header('content-length') ?? NaN);
  if (declared > maxBytes) throw tooLarge();
  const text = await c.req.text();
  if (Buffer.byteLength(text) > maxBytes) throw tooLarge();
  if (text.trim() === '') return {};
  try {
    return JSON.parse(text);
  } catch {
    throw airtableError(400, 'INVALID_REQUEST_BODY', 'The request body could not be parsed as JSON');
  }
}

// ajs names the 413 REQUEST_TOO_LARGE itself; Airtable's own type is unconfirmed
// (docs/airtable-reference.md §2.5).
const tooLarge = () => airtableError(413, 'REQUEST_TOO_LARGE', 'Request Entity Too Large');

export function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
