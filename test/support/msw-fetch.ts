import { getResponse, type RequestHandler } from 'msw';
import type { FetchFn } from '../../src/airtable/fetch-helpers.ts';

export const API = 'https://api.airtable.test';
export const TOKEN = 'patAAAAAAAAAAAAAA.0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef';

export interface SeenRequest {
  method: string;
  url: URL;
  headers: Headers;
  body: string;
}

/**
 * msw handlers as an injected `fetch` (no global interception, so test files stay independent).
 * Used where the emulator can't produce the exact status/header sequence a test needs.
 * Every request is recorded; a request no handler answers fails the test loudly.
 */
export function mswFetch(...handlers: RequestHandler[]): { fetch: FetchFn; seen: SeenRequest[] } {
  const seen: SeenRequest[] = [];
  const fetch: FetchFn = async (input, init) => {
    const request = new Request(input, init);
    seen.push({
      method: request.method,
      url: new URL(request.url),
      headers: request.headers,
      body: request.body ? await request.clone().text() : '',
    });
    const res = await getResponse(handlers, request);
    if (!res) throw new Error(`no handler for ${request.method} ${request.url}`);
    return res;
  };
  return { fetch, seen };
}
