/**
 * The endpoint's errors as Postgres errors: a SQLSTATE a client can act on, a message naming the
 * column, Airtable's own error type and message in the detail. The mapping is documented in
 * docs/postgres-endpoint.md ("Errors").
 */
import type { AirmirrorError } from '../../src/errors.ts';
import { errorResponse, noticeResponse, type PgNoticeFields } from './protocol.ts';

export class PgError extends Error {
  readonly sqlState: string;
  readonly detail?: string;
  readonly hint?: string;
  readonly column?: string;
  readonly table?: string;
  readonly schema?: string;
  constructor(
    sqlState: string,
    message: string,
    extra: { detail?: string; hint?: string; column?: string; table?: string; schema?: string } = {},
  ) {
    super(message);
    this.name = 'PgError';
    this.sqlState = sqlState;
    Object.assign(this, extra);
  }

  fields(): PgNoticeFields {
    return {
      severity: 'ERROR',
      code: this.sqlState,
      message: this.message,
      detail: this.detail,
      hint: this.hint,
      column: this.column,
      table: this.table,
      schema: this.schema,
    };
  }

  frame(): Buffer {
    return errorResponse(this.fields());
  }
}

export const SQLSTATE = {
  generatedAlways: '428C9',
  invalidValue: '22023',
  datetimeOverflow: '22008',
  undefinedColumn: '42703',
  insufficientPrivilege: '42501',
  serializationFailure: '40001',
  rateLimited: '53400',
  airtableUnreachable: '58030',
  airtableFailed: '58000',
  tooLarge: '54000',
  activeTransaction: '25001',
  readOnlyTransaction: '25006',
  notSupported: '0A000',
  canceled: '57014',
  notReady: '55000',
  internal: 'XX000',
} as const;

export function notice(message: string, extra: Partial<PgNoticeFields> = {}): Buffer {
  return noticeResponse({ severity: 'NOTICE', code: '00000', message, ...extra });
}

export function warning(message: string, extra: Partial<PgNoticeFields> = {}): Buffer {
  return noticeResponse({ severity: 'WARNING', code: '01000', message, ...extra });
}

/** How Airtable refused (or failed) a request, for the error's SQLSTATE. */
export function sqlStateForAirtable(err: AirmirrorError): string {
  const type = err.code;
  if (type === 'UNKNOWN_FIELD_NAME') return SQLSTATE.undefinedColumn;
  if (type === 'ROW_DOES_NOT_EXIST' || (err.status === 404 && type !== 'TABLE_NOT_FOUND')) {
    return SQLSTATE.serializationFailure;
  }
  if (err.status === 401 || err.status === 403) return SQLSTATE.insufficientPrivilege;
  if (err.status === 429) return SQLSTATE.rateLimited;
  if (err.status === 413) return SQLSTATE.tooLarge;
  if (type === 'TIMEOUT' || type === 'CONNECTION_ERROR') return SQLSTATE.airtableUnreachable;
  if (err.status >= 500) return SQLSTATE.airtableFailed;
  return SQLSTATE.invalidValue;
}

/** Airtable's error type and message, as the detail of a Postgres error. */
export function airtableDetail(err: AirmirrorError): string {
  const reason = typeof err.details?.reason === 'string' ? ` (${err.details.reason})` : '';
  return `Airtable: ${err.code}: ${err.message}${reason}`;
}
