/**
 * Shapes of the Airtable Web API as the reference (docs/airtable-reference.md) describes
 * them. Shared by the client, the mirror, the proxy and the emulator, so all four agree.
 */

/** Every field type in docs/airtable-reference.md §3.3. Unknown future types arrive as plain strings. */
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

export type KnownFieldType = (typeof FIELD_TYPES)[number];
export type FieldType = KnownFieldType | (string & {});

/** A nested field config, as in `options.result` of formula/rollup/lookup/createdTime. */
export interface FieldConfig {
  type: FieldType;
  options?: Record<string, unknown> | null;
}

/** Field model (docs/airtable-reference.md §3.2). `options` is omitted for types without options. */
export interface AirtableField {
  id: string;
  name: string;
  type: FieldType;
  description?: string;
  options?: (Record<string, unknown> & { result?: FieldConfig | null }) | null;
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

export interface BaseSchema {
  tables: AirtableTable[];
}

/** A cell value as the records API returns it with cellFormat=json. */
export type CellValue = unknown;

export interface AirtableRecord {
  id: string;
  createdTime: string;
  /** Keyed by field name, or by field id with returnFieldsByFieldId. Empty cells are omitted. */
  fields: Record<string, CellValue>;
  commentCount?: number;
}

export interface ListRecordsResponse {
  records: AirtableRecord[];
  offset?: string;
}

export interface DeletedRecord {
  id: string;
  deleted: true;
}

/** `{"error":{"type","message"}}`, `{"error":{"type"}}` or `{"error":"NOT_FOUND"}` (docs/airtable-reference.md §2.4). */
export type AirtableErrorBody = { error: { type: string; message?: string } } | { error: string };

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

export interface CreateWebhookResponse {
  id: string;
  macSecretBase64: string;
  expirationTime: string | null;
}

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

export interface ListPayloadsResponse {
  payloads: WebhookPayload[];
  cursor: number;
  mightHaveMore: boolean;
}

export interface WebhookPing {
  base: { id: string };
  webhook: { id: string };
  timestamp: string;
}

/** One base in the list-bases response (docs/airtable-reference.md §3.1). */
export interface AirtableBaseInfo {
  id: string;
  name: string;
  permissionLevel: 'none' | 'read' | 'comment' | 'edit' | 'create' | (string & {});
}

export interface ListBasesResponse {
  bases: AirtableBaseInfo[];
  offset?: string;
}

/** `GET /v0/meta/whoami` (docs/airtable-reference.md §2.3). */
export interface WhoAmIResponse {
  id: string;
  scopes?: string[];
  email?: string;
}

export interface ListWebhooksResponse {
  webhooks: WebhookInfo[];
}

export interface RefreshWebhookResponse {
  expirationTime: string | null;
}
