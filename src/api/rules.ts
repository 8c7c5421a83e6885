/**
 * The rules a schema (table sync config) change must pass (issue 5), as one pure function:
 * current row + request → the columns to write and whether mirrored data is invalidated.
 * Every refusal is a 4xx AirmirrorError naming the field at fault.
 */
import { AirmirrorError, badRequest } from '../errors.ts';
import { canTransition, type StoredStatus, type Table, type TableChanges } from '../bookkeeping/index.ts';
import { DETECTED_PRIMARY_KEYS, findCandidate, type IncrementalCandidate } from './candidates.ts';
import { typeFits } from './incremental-types.ts';
import type { PatchSchemaRequest } from './model.ts';

export interface PatchPlan {
  changes: TableChanges;
  /** The status change it asks of the state machine (should_sync false / true). */
  event?: 'pause' | 'resume';
  /** The change invalidates mirrored data: the next run is a full re-import. */
  resyncRequired: boolean;
  /** A Running table is being paused: the caller stops its run first. */
  stopRun: boolean;
}

export interface PatchInput {
  current: Table;
  body: PatchSchemaRequest;
  /** The table's incremental candidates from its live (or last known) schema; needed only to validate incremental_field. */
  candidates?: readonly IncrementalCandidate[];
  webhooksConfigured: boolean;
  now: number;
}

/** Whether the body names a field (null included: it clears), so "only sent fields change". */
const sent = <K extends keyof PatchSchemaRequest>(body: PatchSchemaRequest, k: K) =>
  Object.hasOwn(body, k) && body[k] !== undefined;

/** A raw request asking for CDC gets the sentence the issue asks for, before schema validation. */
export function refuseCdc(raw: unknown): void {
  if (raw && typeof raw === 'object' && (raw as Record<string, unknown>).sync_type === 'cdc') {
    throw badRequest('cdc is not available for Airtable sources', 'sync_type', 'CDC_NOT_AVAILABLE');
  }
}

export function planPatch({ current, body, candidates, webhooksConfigured, now }: PatchInput): PatchPlan {
  const status: StoredStatus = current.status ?? null;
  const changes: PatchPlan['changes'] = {};

  // Pausing is the one change allowed while Running (the state machine allows pause from Running;
  // the caller aborts the run). Anything else on a Running table would change it under the run.
  const onlyPause = Object.keys(body).every((k) => k === 'should_sync') && body.should_sync === false;
  if (status === 'Running' && !onlyPause) {
    throw new AirmirrorError(
      'SCHEMA_RUNNING',
      409,
      'This table is syncing right now; cancel the run (POST /api/schemas/{id}/cancel) or wait for it to finish, then retry',
      { details: { hint: 'cancel_or_wait' } },
    );
  }

  const next = {
    syncType: body.sync_type ?? current.syncType,
    incrementalField: sent(body, 'incremental_field') ? body.incremental_field! : current.incrementalField,
    incrementalFieldType: sent(body, 'incremental_field_type')
      ? body.incremental_field_type!
      : current.incrementalFieldType,
    primaryKeyColumns: body.primary_key_columns ?? current.primaryKeyColumns,
  };

  if (sent(body, 'sync_type')) {
    if (next.syncType === 'webhook' && !webhooksConfigured) {
      throw badRequest(
        'The webhook sync type needs AIRMIRROR_PUBLIC_URL (an address Airtable can reach) to be configured',
        'sync_type',
        'WEBHOOKS_NOT_CONFIGURED',
      );
    }
    changes.syncType = next.syncType;
  }

  if (sent(body, 'primary_key_columns')) {
    const pk = body.primary_key_columns!;
    if (pk.length !== 1 || pk[0] !== 'id') {
      throw badRequest(
        `Airtable records are identified by their record id; primary_key_columns must be ${JSON.stringify(DETECTED_PRIMARY_KEYS)}`,
        'primary_key_columns',
      );
    }
    changes.primaryKeyColumns = pk;
  }

  // incremental_field: validated whenever it is sent, or when the (new) sync type relies on the stored one.
  const usesField = next.syncType === 'incremental' || next.syncType === 'append';
  if (next.syncType === 'incremental' && !next.incrementalField) {
    throw badRequest(
      'incremental sync needs an incremental_field (a lastModifiedTime, createdTime, dateTime or autoNumber field)',
      'incremental_field',
    );
  }
  const validateField = fieldToValidate(current, body);
  if (validateField && next.incrementalField) {
    if (!candidates) {
      throw new AirmirrorError(
        'SCHEMA_UNAVAILABLE',
        503,
        "The table's Airtable schema could not be read to validate incremental_field",
      );
    }
    const c = findCandidate(candidates, next.incrementalField);
    if (!c) {
      const names = candidates.map((x) => `${x.name} (${x.id})`).join(', ') || 'none';
      throw badRequest(
        `"${next.incrementalField}" is not a lastModifiedTime, createdTime, dateTime or autoNumber field of this table; candidates: ${names}`,
        'incremental_field',
      );
    }
    const asked = body.incremental_field_type;
    if (sent(body, 'incremental_field_type') && !typeFits(asked!, c.airtable_type, c.type)) {
      throw badRequest(
        `incremental_field_type "${asked}" does not match field ${c.name} (${c.id}), which is ${c.type} (Airtable ${c.airtable_type})`,
        'incremental_field_type',
      );
    }
    // Stored as the field id (survives renames) with its live Airtable type (a retyped field is
    // caught here); the API shows the type in PostHog's words (serialize.ts).
    if (c.id !== current.incrementalField || c.airtable_type !== current.incrementalFieldType) {
      changes.incrementalField = c.id;
      changes.incrementalFieldType = c.airtable_type;
    }
    next.incrementalField = c.id;
    next.incrementalFieldType = c.airtable_type;
  } else if (sent(body, 'incremental_field')) {
    // null: cleared (allowed unless the type needs it, checked above).
    changes.incrementalField = null;
    changes.incrementalFieldType = null;
  } else if (sent(body, 'incremental_field_type') && !next.incrementalField) {
    throw badRequest('incremental_field_type needs an incremental_field', 'incremental_field_type');
  }

  // Changes that invalidate mirrored data (issue 5): the high-water mark of another field is
  // meaningless, and the append history table holds versions of a different shape/meaning.
  const fieldChanged = usesField && (next.incrementalField ?? null) !== (current.incrementalField ?? null);
  const appendToggled = (current.syncType === 'append') !== (next.syncType === 'append');
  const pkChanged = JSON.stringify(next.primaryKeyColumns) !== JSON.stringify(current.primaryKeyColumns);
  const resyncRequired = fieldChanged || appendToggled || pkChanged;
  if (resyncRequired) {
    changes.resyncRequired = true;
    changes.highWaterMark = null;
    changes.highWaterInt = null;
    // Re-import at the next scheduler pass rather than waiting a whole period.
    changes.nextRunAt = new Date(now);
  } else if (sent(body, 'sync_type') && next.syncType !== current.syncType) {
    // e.g. full_refresh → incremental with the same field: no invalid rows, but the stored
    // high-water mark may be stale (nothing advanced it during full refreshes): start over.
    changes.highWaterMark = null;
    changes.highWaterInt = null;
  }

  // Scheduling-only changes: recompute the next run from the last one with the new settings.
  if (sent(body, 'sync_frequency')) changes.syncFrequency = body.sync_frequency!;
  if (sent(body, 'sync_time_of_day')) changes.syncTimeOfDay = body.sync_time_of_day ?? null;
  if (sent(body, 'full_refresh_interval')) changes.fullRefreshInterval = body.full_refresh_interval!;
  const rescheduled = (['sync_frequency', 'sync_time_of_day', 'full_refresh_interval'] as const).some((k) =>
    sent(body, k),
  );
  if (rescheduled && !resyncRequired) changes.nextRunAt = null;

  let stopRun = false;
  let event: PatchPlan['event'];
  if (sent(body, 'should_sync')) {
    changes.shouldSync = body.should_sync;
    if (body.should_sync === false && status !== 'Paused') {
      if (!canTransition(status, 'pause'))
        throw new AirmirrorError('INVALID_STATE', 409, `cannot pause a table that is ${status}`);
      event = 'pause';
      stopRun = status === 'Running';
    } else if (body.should_sync === true && status === 'Paused') {
      event = 'resume';
      changes.nextRunAt = changes.nextRunAt ?? null;
      changes.consecutiveFailures = 0;
    }
  }

  return { changes, event, resyncRequired, stopRun };
}

/**
 * The incremental field this change must be checked against the live schema, if any: the one
 * sent, or the stored one when the new sync type relies on it. The caller fetches candidates only then.
 */
export function fieldToValidate(
  current: Pick<Table, 'syncType' | 'incrementalField'>,
  body: PatchSchemaRequest,
): string | null {
  if (sent(body, 'incremental_field')) return body.incremental_field ?? null;
  const syncType = body.sync_type ?? current.syncType;
  const usesField = syncType === 'incremental' || syncType === 'append';
  if (usesField && (sent(body, 'sync_type') || sent(body, 'incremental_field_type')))
    return current.incrementalField;
  return null;
}
