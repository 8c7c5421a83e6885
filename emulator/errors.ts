/**
 * An Airtable-shaped failure: the HTTP status and the error `type` Airtable would answer with.
 * Thrown anywhere in the emulator and rendered once, by the app's error handler, through
 * `airtableErrorBody`.
 */
export class AirtableError extends Error {
  constructor(
    readonly status: number,
    readonly type: string,
    message = '',
  ) {
    super(message);
    this.name = 'AirtableError';
  }
}

export function airtableError(status: number, type: string, message = ''): AirtableError {
  return new AirtableError(status, type, message);
}

/**
 * The body Airtable sends: `{"error":{"type","message"}}`, or `{"error":{"type"}}` when there is
 * no message (docs/airtable-reference.md §2.4 shows LIST_RECORDS_ITERATOR_NOT_AVAILABLE without one).
 */
export function airtableErrorBody(err: AirtableError): { error: { type: string; message?: string } } {
  return err.message ? { error: { type: err.type, message: err.message } } : { error: { type: err.type } };
}

/** Messages docs/airtable-reference.md quotes verbatim (§2.4, §2.5). */
export const MESSAGES = {
  modelNotFound:
    'Invalid permissions, or the requested model was not found. Check that both your user and your token have the required permissions, and that the model names and/or ids are correct.',
  invalidRequest: 'Invalid request: parameter validation failed. Check your request data.',
  tooManyRecords: 'You must provide an array of up to 10 record objects',
  rateLimit: 'Rate limit exceeded. Please try again later',
  // Only the start of this message is quoted (docs/airtable-reference.md §2.1).
  billing: 'API billing plan limit exceeded. Please upgrade your plan or wait until the limit resets.',
  retriable: 'Server encountered an error while processing your request, and it is safe to retry the request',
} as const;

export const modelNotFound = () =>
  airtableError(403, 'INVALID_PERMISSIONS_OR_MODEL_NOT_FOUND', MESSAGES.modelNotFound);
export const invalidRequest = (message: string = MESSAGES.invalidRequest) =>
  airtableError(422, 'INVALID_REQUEST_UNKNOWN', message);
export const unknownField = (name: string) =>
  airtableError(422, 'UNKNOWN_FIELD_NAME', `Unknown field name: ${JSON.stringify(name)}`);
export const invalidValue = (message: string) => airtableError(422, 'INVALID_VALUE_FOR_COLUMN', message);
// docs/airtable-reference.md leaves the type of the ">10 records" error unconfirmed (§1.3, §7);
// the message is quoted.
export const tooManyRecords = () => airtableError(422, 'INVALID_RECORDS', MESSAGES.tooManyRecords);
export const recordNotFound = (id: string) => airtableError(404, 'NOT_FOUND', `Could not find record ${id}`);
export const rowDoesNotExist = (id: string) =>
  airtableError(422, 'ROW_DOES_NOT_EXIST', `Record ID ${id} does not exist in this table`);
