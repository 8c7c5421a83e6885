/**
 * One error class for everything airmirror refuses or fails at. It carries a stable `code`, the
 * HTTP status it maps to, and (for API validation) the field at fault. It is turned into a
 * response at exactly one boundary per surface: `airtableErrorBody` for the proxy (which must
 * answer like Airtable does) and `apiErrorBody` for the management API.
 */
export class AirmirrorError extends Error {
  readonly code: string;
  readonly status: number;
  /** The request field at fault, for API validation errors. */
  readonly field?: string;
  /** Extra machine-readable details (never secrets). */
  readonly details?: Record<string, unknown>;

  constructor(
    code: string,
    status: number,
    message: string,
    opts: { field?: string; details?: Record<string, unknown>; cause?: unknown } = {},
  ) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'AirmirrorError';
    this.code = code;
    this.status = status;
    this.field = opts.field;
    this.details = opts.details;
  }
}

export const badRequest = (message: string, field?: string, code = 'INVALID_REQUEST') =>
  new AirmirrorError(code, 400, message, { field });
export const notFound = (message: string, code = 'NOT_FOUND') => new AirmirrorError(code, 404, message);
export const conflict = (message: string, code = 'CONFLICT', details?: Record<string, unknown>) =>
  new AirmirrorError(code, 409, message, { details });

/** Anything thrown becomes an AirmirrorError; unknown errors are 500s whose message is not exposed. */
export function asAirmirrorError(err: unknown): AirmirrorError {
  if (err instanceof AirmirrorError) return err;
  return new AirmirrorError('INTERNAL_ERROR', 500, 'Internal error', { cause: err });
}

/** The body Airtable itself would send: `{"error":{"type","message"}}`. */
export function airtableErrorBody(err: AirmirrorError): { error: { type: string; message: string } } {
  return { error: { type: err.code, message: err.message } };
}

/** The management API's error body (PostHog/DRF-shaped: type, code, detail, attr). */
export function apiErrorBody(err: AirmirrorError): {
  type: string;
  code: string;
  detail: string;
  attr: string | null;
  [k: string]: unknown;
} {
  const type =
    err.status === 400 || err.status === 422
      ? 'validation_error'
      : err.status === 401 || err.status === 403
        ? 'authentication_error'
        : err.status >= 500
          ? 'server_error'
          : 'invalid_request';
  return { type, code: err.code, detail: err.message, attr: err.field ?? null, ...(err.details ?? {}) };
}
