import type { z } from 'zod';
import { badRequest, type AirmirrorError } from './errors.ts';
import { nodeIncomingOf, readBodyLimited } from './http/body.ts';

/**
 * Validates a request body (or params) against the zod schema that also documents it, and turns
 * the first problem into one 400 naming the field in `attr` — the same way for every /api group.
 * A bad list item is the list's fault (`tables`, not `tables.0`); unknown keys are refused
 * (`UNKNOWN_FIELD`), so a misspelt option never silently does nothing.
 */
export function parseRequest<S extends z.ZodType>(
  schema: S,
  input: unknown,
  opts: { requireObject?: boolean } = {},
): z.output<S> {
  if (opts.requireObject && (input === null || typeof input !== 'object' || Array.isArray(input))) {
    throw badRequest('Expected a JSON object');
  }
  const r = schema.safeParse(input);
  if (r.success) return r.data;
  throw requestError(r.error.issues[0], input);
}

function requestError(issue: z.core.$ZodIssue, input: unknown): AirmirrorError {
  if (issue.code === 'unrecognized_keys') {
    const key = issue.keys[0];
    return badRequest(`Unknown field "${key}"`, fieldOf([...issue.path, key]), 'UNKNOWN_FIELD');
  }
  const attr = fieldOf(issue.path);
  const missing =
    issue.code === 'invalid_type' &&
    attr !== undefined &&
    issue.path.length === 1 &&
    typeof input === 'object' &&
    input !== null &&
    (input as Record<string, unknown>)[attr] === undefined;
  // A schema's own message wins; zod's generic one for an absent field says less than ours.
  const generic = issue.message.startsWith('Invalid input');
  return badRequest(missing && generic ? 'This field is required' : issue.message, attr);
}

function fieldOf(path: readonly PropertyKey[]): string | undefined {
  const keys: string[] = [];
  for (const k of path) {
    if (typeof k !== 'string') break;
    keys.push(k);
  }
  return keys.join('.') || undefined;
}

/** The largest /api request body: a source with its token, a subscription, a schema's settings. */
export const MAX_API_BODY_BYTES = 1024 * 1024;

/** What the body readers need of a Hono context: the request and (on Node) `env.incoming`. */
export interface BodySource {
  req: { raw: Request };
  env: unknown;
}

/** The request body as text, refused with a 413 as soon as it passes `limit` bytes (src/http/body.ts). */
export async function readBodyText(c: BodySource, limit = MAX_API_BODY_BYTES): Promise<string> {
  const bytes = await readBodyLimited(c.req.raw, limit, nodeIncomingOf(c.env));
  if (!bytes) return '';
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw badRequest('The request body is not UTF-8', undefined, 'PARSE_ERROR');
  }
}

/**
 * A request's JSON body for the /api groups; an empty body reads as `{}` (POSTs whose settings
 * are all optional), malformed JSON is one 400 `PARSE_ERROR`, a body over `limit` a 413.
 */
export async function readJsonBody(c: BodySource, limit = MAX_API_BODY_BYTES): Promise<unknown> {
  const text = await readBodyText(c, limit);
  if (text.trim() === '') return {};
  try {
    return JSON.parse(text);
  } catch {
    throw badRequest('Malformed JSON body', undefined, 'PARSE_ERROR');
  }
}
