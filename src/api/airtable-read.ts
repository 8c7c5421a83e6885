import { AirmirrorError, asAirmirrorError, badRequest } from '../errors.ts';
import type { BaseSchemaReader } from './deps.ts';

/**
 * Reads a base schema; Airtable's refusals become errors about the request (token, base_id) when
 * the caller is checking new credentials, and 502s otherwise. Messages never carry the token.
 */
export async function readSchema(reader: BaseSchemaReader, baseId: string, checkingCredentials = false) {
  try {
    return await reader.getBaseSchema(baseId);
  } catch (err) {
    const e = asAirmirrorError(err);
    if (checkingCredentials && (e.status === 401 || e.code === 'AUTHENTICATION_REQUIRED')) {
      throw badRequest(`Airtable refused the token (${e.code})`, 'token', 'INVALID_TOKEN');
    }
    if (checkingCredentials && (e.status === 403 || e.status === 404)) {
      throw badRequest(
        `Airtable did not give this token access to base ${baseId} (${e.code})`,
        'base_id',
        'BASE_NOT_ACCESSIBLE',
      );
    }
    if (e.status >= 500 || e.code === 'INTERNAL_ERROR') {
      throw new AirmirrorError('AIRTABLE_UNAVAILABLE', 502, `Airtable could not be read (${e.code})`, {
        cause: err,
      });
    }
    throw new AirmirrorError('AIRTABLE_ERROR', 502, `Airtable answered ${e.status} ${e.code}`, {
      cause: err,
    });
  }
}
