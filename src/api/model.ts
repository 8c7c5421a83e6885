/**
 * The management API's vocabulary: sync types, frequencies and statuses (issue 5), and the zod
 * schemas that validate requests. The same schemas generate `GET /api/openapi.json`, so the
 * documentation cannot drift from what is enforced.
 */
import { z } from 'zod';
import { SYNC_STATUSES } from '../bookkeeping/state.ts';
import { schemaNameProblem } from '../config.ts';
import { SYNC_FREQUENCIES, type SyncFrequency } from '../bookkeeping/frequency.ts';
// Incremental field types: PostHog's and Airtable's.
import { INCREMENTAL_FIELD_TYPE_INPUTS, POSTHOG_INCREMENTAL_FIELD_TYPES } from './incremental-types.ts';
import { QuotaEntry } from '../quota/schemas.ts';

export const SYNC_TYPES = ['full_refresh', 'incremental', 'append', 'webhook'] as const;
export type SyncType = (typeof SYNC_TYPES)[number];

export { SYNC_FREQUENCIES, frequencyMs, type SyncFrequency } from '../bookkeeping/frequency.ts';

/** Reconciliation intervals: every frequency except `never` (deletes are only seen by a full listing). */
export const FULL_REFRESH_INTERVALS = SYNC_FREQUENCIES.filter((f) => f !== 'never') as Exclude<
  SyncFrequency,
  'never'
>[];

// Statuses are the syncer's state machine's (src/bookkeeping/state.ts); the API only shows and pauses them.
export { SYNC_STATUSES, type SyncStatus } from '../bookkeeping/state.ts';

// ---- requests --------------------------------------------------------------------------------

const BASE_ID = /^app[A-Za-z0-9]{14}$/;
// Same rule as AIRTABLE_BASES (src/config.ts): room for `_swap` within 63 bytes, never ours.
const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,57}$/;
const TIME_OF_DAY = /^([01]\d|2[0-3]):[0-5]\d(:[0-5]\d)?$/;

export const CreateSourceRequest = z
  .strictObject({
    base_id: z.string().regex(BASE_ID, 'must be an Airtable base id (app + 14 letters or digits)'),
    token: z.string().min(1, 'must not be empty').max(1000).meta({
      description: 'Airtable personal access token; stored encrypted, never returned',
      writeOnly: true,
    }),
    schema_name: z
      .string()
      .regex(SCHEMA_NAME, 'must be a lowercase Postgres identifier of at most 58 characters')
      .superRefine((s, ctx) => {
        const problem = SCHEMA_NAME.test(s) ? schemaNameProblem(s) : undefined;
        if (problem) ctx.addIssue({ code: 'custom', message: problem });
      })
      .optional()
      .meta({ description: 'Postgres schema of the mirror tables (default "public")' }),
    name: z.string().max(200).optional(),
    description: z.string().max(2000).optional(),
    tables: z.array(z.string().min(1)).min(1).optional().meta({
      description:
        'Airtable tables to mirror, by id or name (default: all); the others are excluded (never listed) until a schema is PATCHed mirrored',
    }),
  })
  .meta({ id: 'CreateSourceRequest' });
export type CreateSourceRequest = z.infer<typeof CreateSourceRequest>;

export const PatchSchemaRequest = z
  .strictObject({
    sync_type: z.enum(SYNC_TYPES).optional(),
    incremental_field: z.string().min(1).nullable().optional().meta({
      description:
        'Field id (or name) of a lastModifiedTime, createdTime, dateTime or autoNumber field (see incremental-fields)',
    }),
    incremental_field_type: z.enum(INCREMENTAL_FIELD_TYPE_INPUTS).nullable().optional().meta({
      description:
        "PostHog's type (datetime, timestamp or date for a time field; integer or numeric for an autoNumber) or the field's Airtable type; checked against the field",
    }),
    primary_key_columns: z.array(z.string().min(1)).min(1).optional(),
    sync_frequency: z.enum(SYNC_FREQUENCIES).optional(),
    sync_time_of_day: z.string().regex(TIME_OF_DAY, 'must be HH:MM or HH:MM:SS (UTC)').nullable().optional(),
    should_sync: z.boolean().optional(),
    full_refresh_interval: z.enum(FULL_REFRESH_INTERVALS).optional(),
    mirrored: z.boolean().optional().meta({
      description:
        'false: the table is excluded from the mirror (its mirror table is dropped, it is never listed); true: mirrored again',
    }),
    excluded_fields: z.array(z.string().min(1)).optional().meta({
      description:
        'Fields (id or name) never requested (fields[]) nor stored: their columns are dropped; [] mirrors every field',
    }),
  })
  .meta({ id: 'PatchSchemaRequest' });
export type PatchSchemaRequest = z.infer<typeof PatchSchemaRequest>;

export const ListSchemasQuery = z.strictObject({ source_id: z.string().min(1).optional() });

export const DeleteSourceQuery = z.strictObject({
  drop_data: z.enum(['true', 'false']).optional(),
});

// ---- responses (documentation only; built by serialize.ts) -----------------------------------

export const SchemaResponse = z
  .object({
    id: z.string(),
    source_id: z.string(),
    table_id: z.string(),
    name: z.string(),
    mirror_schema: z.string(),
    mirror_table: z.string(),
    sync_type: z.enum(SYNC_TYPES),
    incremental: z.boolean(),
    incremental_field: z.string().nullable(),
    incremental_field_type: z.enum(POSTHOG_INCREMENTAL_FIELD_TYPES).nullable(),
    incremental_field_airtable_type: z.string().nullable(),
    primary_key_columns: z.array(z.string()),
    sync_frequency: z.enum(SYNC_FREQUENCIES),
    sync_time_of_day: z.string().nullable(),
    should_sync: z.boolean(),
    full_refresh_interval: z.string(),
    status: z.enum(SYNC_STATUSES).nullable(),
    last_synced_at: z.string().nullable(),
    latest_error: z.string().nullable(),
    rows: z.number(),
    lag_seconds: z.number().nullable().meta({ description: 'Seconds since the last successful sync' }),
    needs_catchup: z.boolean(),
    resync_required: z.boolean(),
    high_water_mark: z.string().nullable().meta({
      description: 'The newest value seen of the incremental field: a time, or an autoNumber as a string',
    }),
    history_table: z.string().nullable(),
    next_run_at: z.string().nullable(),
    vanished_at: z.string().nullable(),
    created_at: z.string(),
    mirrored: z.boolean().meta({ description: 'false: excluded from the mirror' }),
    excluded_fields: z.array(z.string()).meta({ description: 'Field ids never requested nor stored' }),
    fill_pending: z
      .boolean()
      .meta({ description: 'New or retyped columns wait for their values: the next run is a full one' }),
    warnings: z.array(z.string()).meta({
      description: 'What schema changes could not keep (a reader object dropped) or only approximate',
    }),
  })
  .meta({ id: 'Schema' });

export const PatchSchemaResponse = SchemaResponse.extend({
  resync_required: z.boolean().meta({
    description: 'true when the change invalidates mirrored data; the next run re-imports the table',
  }),
}).meta({ id: 'PatchSchemaResponse' });

export const SourceResponse = z
  .object({
    id: z.string(),
    base_id: z.string(),
    schema_name: z.string(),
    name: z.string().nullable(),
    description: z.string().nullable(),
    has_token: z.boolean(),
    max_lag_seconds: z.number().meta({
      description:
        "Freshness target of the source's webhook tables: pings within a shorter window become one payload read (longer while the monthly quota runs short, GET /api/quota)",
    }),
    created_at: z.string(),
    updated_at: z.string(),
    schemas: z.array(SchemaResponse),
  })
  .meta({ id: 'Source' });

export const IncrementalFieldsResponse = z
  .object({
    incremental_fields: z.array(
      z.object({
        field: z.string().meta({ description: 'The field id: what incremental_field takes' }),
        field_type: z.enum(POSTHOG_INCREMENTAL_FIELD_TYPES),
        label: z.string(),
        type: z.enum(POSTHOG_INCREMENTAL_FIELD_TYPES),
        id: z.string(),
        name: z.string(),
        airtable_type: z.string(),
      }),
    ),
    incremental_available: z.boolean(),
    append_available: z.boolean(),
    full_refresh_available: z.boolean(),
    cdc_available: z.literal(false),
    supports_webhooks: z.boolean(),
    detected_primary_keys: z.array(z.string()),
    available_columns: z.array(
      z.object({
        field: z.string(),
        label: z.string(),
        type: z
          .string()
          .meta({ description: 'The Airtable type (recordId, createdTime for the record itself)' }),
        nullable: z.boolean(),
        field_id: z.string().nullable(),
        name: z.string(),
        column: z.string().nullable(),
      }),
    ),
  })
  .meta({ id: 'IncrementalFields' });

/** A process on this Postgres, as status shows it (docs/ownership.md). */
const BaseOwner = z.object({
  process_id: z.string(),
  host: z.string(),
  pid: z.number(),
  role: z.string().meta({ description: 'start (airmirror start) or once (sync --once)' }),
  heartbeat_age_seconds: z.number(),
});

export const StatusResponse = z
  .object({
    tables: z.array(
      z.object({
        source_id: z.string(),
        base_id: z.string(),
        schema_id: z
          .string()
          .nullable()
          .meta({ description: "The table's configuration; null while its first sync is building it" }),
        table: z.string(),
        mirror_table: z.string(),
        sync_type: z.string(),
        status: z.string().nullable(),
        should_sync: z.boolean(),
        mirrored: z.boolean().meta({ description: 'false: excluded from the mirror' }),
        last_synced_at: z.string().nullable(),
        rows: z.number().meta({ description: 'Current rows of the mirror table' }),
        lag_seconds: z.number().nullable().meta({
          description:
            'Seconds since the table was last known to match Airtable (its last run; for a webhook table also its last payloads applied)',
        }),
        latest_error: z.string().nullable(),
        warnings: z
          .array(z.string())
          .meta({ description: 'What schema changes could not keep or only approximate' }),
        needs_catchup: z.boolean(),
        next_run_at: z.string().nullable(),
        progress: z
          .object({
            started_at: z.string(),
            records_seen: z.number().meta({ description: 'Records listed from Airtable so far' }),
            expected_rows: z.number().meta({ description: 'Rows before this run (0 on a first sync)' }),
          })
          .nullable()
          .meta({ description: 'How far a running sync has got; null unless the status is Running' }),
        webhook: z
          .object({
            status: z.string(),
            last_ping_at: z.string().nullable(),
            last_error: z.string().nullable(),
            expiration_time: z.string().nullable(),
          })
          .nullable()
          .meta({ description: "For a table of the webhook sync type: its base's Airtable webhook" }),
        owner: BaseOwner.nullable().meta({
          description: "The process that owns the table's base now; null while none does",
        }),
      }),
    ),
    processes: z.array(
      BaseOwner.extend({
        started_at: z.string(),
        heartbeat_at: z.string(),
        alive: z.boolean().meta({ description: 'Its ownership session is connected' }),
        stopping: z.boolean(),
        bases: z.array(z.string()).meta({ description: 'Sources (bases) it holds now' }),
      }),
    ),
    sources: z.array(
      z
        .object({
          source_id: z.string(),
          base_id: z.string(),
          schema: z.string(),
          schema_checked_at: z
            .string()
            .nullable()
            .meta({ description: 'Last successful read of the base schema' }),
          schema_error: z
            .string()
            .nullable()
            .meta({ description: 'Set while the base schema cannot be read' }),
          schema_failing_since: z.string().nullable(),
          schema_failures: z.number().meta({ description: 'Failed reads in a row' }),
          schema_retry_at: z.string().nullable().meta({ description: 'When the read is tried again' }),
        })
        .meta({ description: "A source's base-schema reads, retried with backoff while they fail" }),
    ),
    quota: z.array(QuotaEntry).meta({
      description: 'The monthly Airtable call quota of every token key (as GET /api/quota shows it)',
    }),
  })
  .meta({ id: 'Status' });

export const ErrorResponse = z
  .object({ type: z.string(), code: z.string(), detail: z.string(), attr: z.string().nullable() })
  .meta({ id: 'Error' });

// ---- applying them -------------------------------------------------------------------------------

export { parseRequest } from '../validation.ts';
