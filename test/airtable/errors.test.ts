import { describe, expect, it } from 'vitest';
import { AirmirrorError } from '../../src/errors.ts';
import {
  airtableError,
  ListingRestartRequired,
  parseAirtableErrorBody,
  parseRetryAfter,
  scrubSecrets,
} from '../../src/airtable/errors.ts';
import { TOKEN } from '../support/msw-fetch.ts';

const json = (v: unknown) => JSON.stringify(v);

describe('airtableError: body forms of docs/airtable-reference.md §2.4', () => {
  it('object form with type and message keeps both', () => {
    const err = airtableError(
      403,
      json({
        error: { type: 'INVALID_PERMISSIONS_OR_MODEL_NOT_FOUND', message: 'Invalid permissions, or …' },
      }),
    );
    expect(err).toBeInstanceOf(AirmirrorError);
    expect(err.code).toBe('INVALID_PERMISSIONS_OR_MODEL_NOT_FOUND');
    expect(err.status).toBe(403);
    expect(err.message).toBe('Invalid permissions, or …');
    expect(err.details).toMatchObject({
      retryable: false,
      airtableType: 'INVALID_PERMISSIONS_OR_MODEL_NOT_FOUND',
    });
  });

  it('object form without message gets a message naming status and type', () => {
    const err = airtableError(404, json({ error: { type: 'NOT_FOUND' } }));
    expect(err.code).toBe('NOT_FOUND');
    expect(err.message).toBe('Airtable answered 404 NOT_FOUND');
  });

  it('string form: the bare string is the type', () => {
    const err = airtableError(404, json({ error: 'NOT_FOUND' }));
    expect(err.code).toBe('NOT_FOUND');
    expect(err.status).toBe(404);
    expect(err.details?.airtableType).toBe('NOT_FOUND');
  });

  it('non-JSON body is UNEXPECTED_ERROR with Airtable status, retryable when 5xx', () => {
    const gateway = airtableError(502, '<html>Bad Gateway</html>');
    expect(gateway.code).toBe('UNEXPECTED_ERROR');
    expect(gateway.status).toBe(502);
    expect(gateway.details?.retryable).toBe(true);
    const empty = airtableError(400, '');
    expect(empty.code).toBe('UNEXPECTED_ERROR');
    expect(empty.details?.retryable).toBe(false);
  });

  it('parser never throws on odd JSON', () => {
    expect(parseAirtableErrorBody('null')).toEqual({ type: null, message: null, json: true });
    expect(parseAirtableErrorBody('[1]')).toEqual({ type: null, message: null, json: true });
    expect(parseAirtableErrorBody(json({ error: { type: 7, message: 8 } }))).toEqual({
      type: null,
      message: null,
      json: true,
    });
  });
});

describe('airtableError: catalogue of docs/airtable-reference.md §2.5', () => {
  // [status, type, retryable]
  const rows: Array<[number, string, boolean]> = [
    [401, 'AUTHENTICATION_REQUIRED', false],
    [401, 'UNAUTHORIZED', false],
    [403, 'INVALID_PERMISSIONS_OR_MODEL_NOT_FOUND', false],
    [403, 'INVALID_PERMISSIONS', false],
    [404, 'NOT_FOUND', false],
    [404, 'TABLE_NOT_FOUND', false],
    [422, 'INVALID_REQUEST_UNKNOWN', false],
    [422, 'INVALID_OFFSET_VALUE', false],
    [422, 'UNKNOWN_FIELD_NAME', false],
    [422, 'INVALID_VALUE_FOR_COLUMN', false],
    [422, 'INVALID_MULTIPLE_CHOICE_OPTIONS', false],
    [422, 'ROW_DOES_NOT_EXIST', false],
    [422, 'INVALID_FILTER_BY_FORMULA', false],
    [429, 'RATE_LIMIT_REACHED', true],
    [429, 'PUBLIC_API_BILLING_LIMIT_EXCEEDED', false],
    [503, 'RETRIABLE_ERROR', true],
  ];
  it.each(rows)('%i %s → code = type, retryable %s', (status, type, retryable) => {
    const err = airtableError(status, json({ error: { type, message: 'm' } }));
    expect(err.code).toBe(type);
    expect(err.status).toBe(status);
    expect(err.details?.retryable).toBe(retryable);
  });

  it('422 LIST_RECORDS_ITERATOR_NOT_AVAILABLE (docs body, no message) is a ListingRestartRequired', () => {
    const err = airtableError(422, json({ error: { type: 'LIST_RECORDS_ITERATOR_NOT_AVAILABLE' } }));
    expect(err).toBeInstanceOf(ListingRestartRequired);
    expect(err).toBeInstanceOf(AirmirrorError);
    expect(err.code).toBe('LIST_RECORDS_ITERATOR_NOT_AVAILABLE');
    expect(err.status).toBe(422);
    expect(err.details?.retryable).toBe(false);
  });

  // JSON bodies that name no type fall back to airtable.js's status mapping.
  const ajs: Array<[number, string, boolean]> = [
    [400, 'UNEXPECTED_ERROR', false],
    [401, 'AUTHENTICATION_REQUIRED', false],
    [403, 'NOT_AUTHORIZED', false],
    [404, 'NOT_FOUND', false],
    [413, 'REQUEST_TOO_LARGE', false],
    [422, 'UNPROCESSABLE_ENTITY', false],
    [429, 'TOO_MANY_REQUESTS', true],
    [500, 'SERVER_ERROR', true],
    [502, 'UNEXPECTED_ERROR', true],
    [503, 'SERVICE_UNAVAILABLE', true],
  ];
  it.each(ajs)('%i with a typeless JSON body → %s (retryable %s)', (status, code, retryable) => {
    const err = airtableError(status, json({ message: 'no error key' }));
    expect(err.code).toBe(code);
    expect(err.status).toBe(status);
    expect(err.details?.retryable).toBe(retryable);
  });

  it('records Retry-After in details', () => {
    const now = Date.UTC(2026, 0, 1);
    const h = new Headers({ 'retry-after': '12' });
    expect(airtableError(503, '', h).details?.retryAfterMs).toBe(12_000);
    const date = new Headers({ 'retry-after': new Date(now + 4000).toUTCString() });
    expect(airtableError(429, '', date, { now: () => now }).details?.retryAfterMs).toBe(4000);
  });
});

describe('secrets never reach the message', () => {
  it('removes the token if Airtable echoes it, and bearer headers and PAT shapes generally', () => {
    const err = airtableError(
      401,
      json({
        error: { type: 'UNAUTHORIZED', message: `bad token ${TOKEN} in Authorization: Bearer abc.def` },
      }),
      undefined,
      { secrets: [TOKEN] },
    );
    expect(err.message).not.toContain(TOKEN);
    expect(err.message).not.toContain('abc.def');
    expect(err.message).toContain('[redacted]');
    expect(JSON.stringify(err.details)).not.toContain(TOKEN);
  });

  it('scrubs an arbitrary secret string and any PAT-shaped string', () => {
    expect(scrubSecrets('x s3cr3t y', ['s3cr3t'])).toBe('x [redacted] y');
    expect(scrubSecrets(`tok ${'patABCDEFGHIJKLMN'}.ff00 end`)).toBe('tok [redacted] end');
  });
});

describe('parseRetryAfter', () => {
  const now = Date.UTC(2026, 0, 1, 12);
  it('reads delta-seconds', () => {
    expect(parseRetryAfter('30', now)).toBe(30_000);
    expect(parseRetryAfter(' 1.5 ', now)).toBe(1500);
  });
  it('reads an HTTP date, never negative', () => {
    expect(parseRetryAfter(new Date(now + 90_000).toUTCString(), now)).toBe(90_000);
    expect(parseRetryAfter(new Date(now - 90_000).toUTCString(), now)).toBe(0);
  });
  it('ignores garbage', () => {
    expect(parseRetryAfter('soon', now)).toBeUndefined();
    expect(parseRetryAfter('-5', now)).toBeUndefined();
  });
});
