/**
 * The Airtable shapes the emulator answers with, declared here from the API's documentation
 * (docs/airtable-reference.md) and not borrowed from airmirror's client: a test double that
 * shared its types with the code under test would agree with that code's mistakes.
 */

/** Every field type of docs/airtable-reference.md §3.3. */
export const FIELD_TYPES = [
  'singleLineText',
  'multilineText',
  'richText',
  'email',
  'url',
  'phoneNumber',
  'number',
  'percent',
  'currency',
  'rating',
  'duration',
  'checkbox',
  'date',
  'dateTime',
  'singleSelect',
  'multipleSelects',
  'singleCollaborator',
  'multipleCollaborators',
  'multipleRecordLinks',
  'multipleAttachments',
  'barcode',
  'button',
  'autoNumber',
  'createdTime',
  'lastModifiedTime',
  'createdBy',
  'lastModifiedBy',
  'formula',
  'rollup',
  'count',
  'multipleLookupValues',
  'externalSyncSource',
  'aiText',
  'manualSort',
] as const;

/** A docs/airtable-reference.md §3.3 type, or any other string (fields created through the control surface may use one). */
export type FieldType = (typeof FIELD_TYPES)[number] | (string & {});

/** A field in the meta API (docs/airtable-reference.md §3.2); `options` is absent for types without options. */
export interface AirtableField {
  id: string;
  name: string;
  type: FieldType;
  description?: string;
  options?:
    | (Record<string, unknown> & {
        result?: { type: FieldType; options?: Record<string, unknown> | null } | null;
      })
    | null;
}

export interface AirtableView {
  id: string;
  name: string;
  type: string;
  visibleFieldIds?: string[];
}

export interface AirtableTable {
  id: string;
  name: string;
  description?: string;
  primaryFieldId: string;
  fields: AirtableField[];
  views: AirtableView[];
}

/** A record as the records API returns it (docs/airtable-reference.md §1.1, §1.2): empty cells omitted. */
export interface AirtableRecord {
  id: string;
  createdTime: string;
  fields: Record<string, unknown>;
  commentCount?: number;
}

export interface ListRecordsResponse {
  records: AirtableRecord[];
  offset?: string;
}

/** A webhook's specification (docs/airtable-reference.md §4.2). */
export interface WebhookSpecification {
  options: {
    filters: {
      dataTypes: Array<'tableData' | 'tableFields' | 'tableMetadata'>;
      recordChangeScope?: string;
      changeTypes?: Array<'add' | 'remove' | 'update'>;
      fromSources?: string[];
      sourceOptions?: Record<string, unknown>;
      watchDataInFieldIds?: string[];
      watchSchemasOfFieldIds?: string[];
    };
    includes?: {
      includeCellValuesInFieldIds?: string[] | 'all';
      includePreviousCellValues?: boolean;
      includePreviousFieldDefinitions?: boolean;
    };
  };
}

/** The answer to webhook creation (docs/airtable-reference.md §4.2): the MAC secret is shown only here. */
export interface CreateWebhookResponse {
  id: string;
  macSecretBase64: string;
  expirationTime: string | null;
}

/** One webhook in the list-webhooks answer (docs/airtable-reference.md §4.3). */
export interface WebhookInfo {
  id: string;
  areNotificationsEnabled: boolean;
  cursorForNextPayload: number;
  isHookEnabled: boolean;
  lastSuccessfulNotificationTime: string | null;
  notificationUrl: string | null;
  expirationTime: string | null;
  lastNotificationResult: Record<string, unknown> | null;
  specification: WebhookSpecification;
}

export interface WebhookCellValues {
  cellValuesByFieldId: Record<string, unknown>;
}

/** The changes of one table inside a payload (docs/airtable-reference.md §4.7). */
export interface WebhookTableChanges {
  changedMetadata?: { current: Record<string, unknown>; previous?: Record<string, unknown> };
  createdFieldsById?: Record<string, { name: string; type: string }>;
  changedFieldsById?: Record<
    string,
    { current: Record<string, unknown>; previous?: Record<string, unknown> }
  >;
  destroyedFieldIds?: string[];
  createdRecordsById?: Record<string, { createdTime: string; cellValuesByFieldId: Record<string, unknown> }>;
  changedRecordsById?: Record<
    string,
    { current: WebhookCellValues; previous?: WebhookCellValues; unchanged?: WebhookCellValues }
  >;
  destroyedRecordIds?: string[];
  changedViewsById?: Record<string, unknown>;
}

/** One payload (docs/airtable-reference.md §4.7); `error`/`code` mark the payload of a hook that became invalid. */
export interface WebhookPayload {
  timestamp: string;
  baseTransactionNumber: number;
  payloadFormat: 'v0';
  actionMetadata: { source: string; sourceMetadata?: Record<string, unknown> };
  changedTablesById?: Record<string, WebhookTableChanges>;
  createdTablesById?: Record<string, unknown>;
  destroyedTableIds?: string[];
  error?: boolean;
  code?: string;
}

/** The list-payloads answer (docs/airtable-reference.md §4.5). */
export interface ListPayloadsResponse {
  payloads: WebhookPayload[];
  cursor: number;
  mightHaveMore: boolean;
}
