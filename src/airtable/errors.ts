import { AirmirrorError } from '../errors.ts';

/**
 * The one mapper from Airtable's failures to AirmirrorError (docs/airtable-reference.md §2.4, §2.5). `code` is
 * Airtable's own `error.type` when the body has one, so callers can match on the documented
 * types; `status` is Airtable's status; `details.retryable` says whether sending the same request
 * again can help.
 */

export const BILLING_LIMIT_TYPE = 'PUBLIC_API_BILLING_LIMIT_EXCEEDED';
export const RATE_LIMIT_TYPE = 'RATE_LIMIT_REACHED';
export const ITERATOR_EXPIRED_TYPE = 'LIST_RECORDS_ITERATOR_NOT_AVAILABLE';

export interface ParsedAirtableError {
  /** `error.type` (object form) or the bare `error` string (string form); null when absent. */
  type: string | null;
  message: string | null;
  /** False when the body was not JSON at all. */
  json: boolean;
}

/** Accepts every body form of docs/airtable-reference.md §2.4; never throws. */
export function parseAirtableErrorBody(bodyText: string): ParsedAirtableError {
  let body: unknown;
  try {
    body = JSON.parse(bodyText);
  } catch {
    return { type: null, message: null, json: false };
  }
  const error = body && typeof body === 'object' ? (body as { error?: unknown }).error : undefined;
  if (typeof error === 'string') return { type: error, message: null, json: true };
  if (error && typeof error === 'object') {
    const { type, message } = error as { type?: unknown; message?: unknown };
    return {
      type: typeof type === 'string' ? type : null,
      message: typeof message === 'string' ? message : null,
      json: true,
    };
  }
  return { type: null, message: null, json: true };
}

/** airtable.js's status → type mapping (docs/airtable-reference.md §2.5), used when the body names no type. */
export function statusErrorType(status: number): string {
  switch (status) {
    case 401:
      return 'AUTHENTICATION_REQUIRED';
    case 403:
      return 'NOT_AUTHORIZED';
    case 404:
      return 'NOT_FOUND';
    case 413:
      return 'REQUEST_TOO_LARGE';
    case 422:
      return 'UNPROCESSABLE_ENTITY';
    case 429:
      return 'TOO_MANY_REQUESTS';
    case 500:
      return 'SERVER_ERROR';
    case 503:
      return 'SERVICE_UNAVAILABLE';
    default:
      return 'UNEXPECTED_ERROR';
  }
}

/**
 * Whether retrying can help: 5xx (502/503 are documented as safe to retry, docs/airtable-reference.md §2.5) and 429 — except
 * the billing 429, which keeps failing until the monthly quota resets (docs/airtable-reference.md §2.1).
 */
export function isRetryableStatus(status: number, type: string | null): boolean {
  if (status >= 500) return true;
  if (status === 429) return type !== BILLING_LIMIT_TYPE;
  return false;
}

/** Thrown when Airtable's list iterator expired (422 LIST_RECORDS_ITERATOR_NOT_AVAILABLE, docs/airtable-reference.md §1.1).
 * The only remedy is to restart the listing from page 1 and discard what the pages so far said. */
export class ListingRestartRequired extends AirmirrorError {
  constructor(message: string, details: Record<string, unknown> = {}) {
    super(ITERATOR_EXPIRED_TYPE, 422, message, { details: { retryable: false, ...details } });
    this.name = 'ListingRestartRequired';
  }
}

export interface AirtableErrorOptions {
  /** Strings that must never appear in the message (the token); replaced by `[redacted]`. */
  secrets?: readonly string[];
  now?: () => number;
}

/** Maps one non-2xx Airtable answer to an AirmirrorError (a ListingRestartRequired for docs/airtable-reference.md §1.1). */
export function airtableError(
  status: number,
  bodyText: string,
  headers?: Headers,
  opts: AirtableErrorOptions = {},
): AirmirrorError {
  const parsed = parseAirtableErrorBody(bodyText);
  const code = parsed.type ?? (parsed.json ? statusErrorType(status) : 'UNEXPECTED_ERROR');
  const message = scrubSecrets(
    parsed.message ??
      (parsed.json
        ? `Airtable answered ${status} ${code}`
        : `Airtable answered ${status} with a non-JSON body`),
    opts.secrets,
  );
  const retryAfter = headers?.get('retry-after');
  const retryAfterMs = retryAfter ? parseRetryAfter(retryAfter, opts.now?.() ?? Date.now()) : undefined;
  const details: Record<string, unknown> = {
    retryable: isRetryableStatus(status, parsed.type),
    airtableType: parsed.type,
  };
  if (retryAfterMs !== undefined) details.retryAfterMs = retryAfterMs;
  if (code === ITERATOR_EXPIRED_TYPE) return new ListingRestartRequired(message, details);
  return new AirmirrorError(code, status, message, { details });
}

/** Airtable did not answer within the time limit (the request may or may not have been applied). */
export function timeoutError(ms: number): AirmirrorError {
  return new AirmirrorError('TIMEOUT', 504, `Airtable did not answer within ${ms} ms`, {
    details: { retryable: true },
  });
}

/**
 * The connection failed (DNS, reset, cut body); ajs calls this CONNECTION_ERROR (docs/airtable-reference.md §2.5). The
 * original error is not kept as `cause` (loggers print causes, and an injected fetch's error text
 * is not ours to trust): a scrubbed one-line reason goes into `details.reason` instead.
 */
export function connectionError(cause: unknown, secrets: readonly string[] = []): AirmirrorError {
  return new AirmirrorError('CONNECTION_ERROR', 502, 'Could not reach Airtable', {
    details: { retryable: true, reason: scrubSecrets(describeFailure(cause), secrets) },
  });
}

function describeFailure(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  // undici's "fetch failed" hides the useful part (ECONNREFUSED, UND_ERR_SOCKET…) in its cause.
  const inner = err.cause as { code?: unknown; message?: unknown } | undefined;
  const code = inner && typeof inner.code === 'string' ? ` (${inner.code})` : '';
  return `${err.name}: ${err.message}${code}`.slice(0, 300);
}

/** True for errors worth another attempt: retryable AirmirrorErrors and raw network failures. */
export function isRetryableError(err: unknown): boolean {
  if (err instanceof AirmirrorError) return err.details?.retryable === true;
  return !isAbortError(err);
}

export function isAbortError(err: unknown): boolean {
  return err instanceof Error && (err.name === 'AbortError' || err.name === 'TimeoutError');
}

/**
 * `Retry-After` as milliseconds: delta-seconds or an HTTP date (RFC 9110 §10.2.3). Undefined when
 * unparsable; never negative.
 */
export function parseRetryAfter(value: string, now: number): number | undefined {
  const trimmed = value.trim();
  if (/^\d+(\.\d+)?$/.test(trimmed)) return Math.round(Number(trimmed) * 1000);
  // An HTTP date always names a weekday/month; Date.parse alone would read '-5' as a year.
  const date = /[a-z]{3}/i.test(trimmed) ? Date.parse(trimmed) : NaN;
  if (Number.isNaN(date)) return undefined;
  return Math.max(0, date - now);
}

// Token shapes that must not leak even if Airtable echoes them: PATs (docs/airtable-reference.md §2.3) and bearer headers.
const TOKEN_PATTERNS = [/pat[A-Za-z0-9]{14}\.[A-Za-z0-9]+/g, /Bearer\s+\S+/gi];

export function scrubSecrets(text: string, secrets: readonly string[] = []): string {
  let out = text;
  for (const secret of secrets) if (secret) out = out.split(secret).join('[redacted]');
  for (const pattern of TOKEN_PATTERNS) out = out.replace(pattern, '[redacted]');
  return out;
}
