/**
 * The rules a schema (table sync config) change must pass (issue 5), as one pure function:
 * current row + request → the columns to write and whether mirrored data is invalidated.
 * Every refusal is a 4xx AirmirrorError naming the field at fault.
 */
import { AirmirrorError, badRequest } from '../errors.ts';
import { canTransition, transition, type StoredStatus } from '../bookkeeping/state.ts';
import { DETECTED_PRIMARY_KEYS, findCandidate, type IncrementalCandidate } from './candidates.ts';
import type { PatchSchemaRequest } from './model.ts';
import type { PatchableColumn, TableRow } from './store.ts';

export interface PatchPlan {
  changes: Partial<Record<PatchableColumn, unknown>>;
  /** The change invalidates mirrored data: the next run is a full re-import. */
  resyncRequired: boolean;
  /** A Running table is being paused: the caller stops its run first. */
  stopRun: boolean;
}

export interface PatchInput {
  current: TableRow;
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
  const status = (current.status ?? null) as StoredStatus;
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
    sync_type: body.sync_type ?? current.sync_type,
    incremental_field: sent(body, 'incremental_field') ? body.incremental_field! : current.incremental_field,
    incremental_field_type: sent(body, 'incremental_field_type')
      ? body.incremental_field_type!
      : current.incremental_field_type,
    primary_key_columns: body.primary_key_columns ?? current.primary_key_columns,
  };

  if (sent(body, 'sync_type')) {
    if (next.sync_type === 'webhook' && !webhooksConfigured) {
      throw badRequest(
        'The webhook sync type needs AIRMIRROR_PUBLIC_URL (an address Airtable can reach) to be configured',
        'sync_type',
        'WEBHOOKS_NOT_CONFIGURED',
      );
    }
    changes.sync_type = next.sync_type;
  }

  if (sent(body, 'primary_key_columns')) {
    const pk = body.primary_key_columns!;
    if (pk.length !== 1 || pk[0] !== 'id') {
      throw badRequest(
        `Airtable records are identified by their record id; primary_key_columns must be ${JSON.stringify(DETECTED_PRIMARY_KEYS)}`,
        'primary_key_columns',
      );
    }
    changes.primary_key_columns = pk;
  }

  // incremental_field: validated whenever it is sent, or when the (new) sync type relies on the stored one.
  const usesField = next.sync_type === 'incremental' || next.sync_type === 'append';
  if (next.sync_type === 'incremental' && !next.incremental_field) {
    throw badRequest(
      'incremental sync needs an incremental_field (a lastModifiedTime or createdTime field)',
      'incremental_field',
    );
  }
  const validateField = fieldToValidate(current, body);
  if (validateField && next.incremental_field) {
    if (!candidates) {
      throw new AirmirrorError(
        'SCHEMA_UNAVAILABLE',
        503,
        "The table's Airtable schema could not be read to validate incremental_field",
      );
    }
    const c = findCandidate(candidates, next.incremental_field);
    if (!c) {
      const names = candidates.map((x) => `${x.name} (${x.id})`).join(', ') || 'none';
      throw badRequest(
        `"${next.incremental_field}" is not a lastModifiedTime or createdTime field of this table; candidates: ${names}`,
        'incremental_field',
      );
    }
    if (sent(body, 'incremental_field_type') && body.incremental_field_type !== c.type) {
      throw badRequest(
        `incremental_field_type "${body.incremental_field_type}" does not match field ${c.name} (${c.id}), which is ${c.type}`,
        'incremental_field_type',
      );
    }
    // Stored as the field id (survives renames) with the live type (a retyped field is caught here).
    if (c.id !== current.incremental_field || c.type !== current.incremental_field_type) {
      changes.incremental_field = c.id;
      changes.incremental_field_type = c.type;
    }
    next.incremental_field = c.id;
    next.incremental_field_type = c.type;
  } else if (sent(body, 'incremental_field')) {
    // null: cleared (allowed unless the type needs it, checked above).
    changes.incremental_field = null;
    changes.incremental_field_type = null;
  } else if (sent(body, 'incremental_field_type') && !next.incremental_field) {
    throw badRequest('incremental_field_type needs an incremental_field', 'incremental_field_type');
  }

  // Changes that invalidate mirrored data (issue 5): the high-water mark of another field is
  // meaningless, and the append history table holds versions of a different shape/meaning.
  const fieldChanged = usesField && (next.incremental_field ?? null) !== (current.incremental_field ?? null);
  const appendToggled = (current.sync_type === 'append') !== (next.sync_type === 'append');
  const pkChanged = JSON.stringify(next.primary_key_columns) !== JSON.stringify(current.primary_key_columns);
  const resyncRequired = fieldChanged || appendToggled || pkChanged;
  if (resyncRequired) {
    changes.resync_required = true;
    changes.high_water_mark = null;
    // Re-import at the next scheduler pass rather than waiting a whole period.
    changes.next_run_at = new Date(now);
  } else if (sent(body, 'sync_type') && next.sync_type !== current.sync_type) {
    // e.g. full_refresh → incremental with the same field: no invalid rows, but the stored
    // high-water mark may be stale (nothing advanced it during full refreshes): start over.
    changes.high_water_mark = null;
  }

  // Scheduling-only changes: recompute the next run from the last one with the new settings.
  for (const k of ['sync_frequency', 'sync_time_of_day', 'full_refresh_interval'] as const) {
    if (sent(body, k)) {
      changes[k] = body[k] ?? null;
      if (!resyncRequired) changes.next_run_at = null;
    }
  }

  let stopRun = false;
  if (sent(body, 'should_sync')) {
    changes.should_sync = body.should_sync;
    if (body.should_sync === false && status !== 'Paused') {
      if (!canTransition(status, 'pause'))
        throw new AirmirrorError('INVALID_STATE', 409, `cannot pause a table that is ${status}`);
      changes.status = transition(status, 'pause');
      stopRun = status === 'Running';
    } else if (body.should_sync === true && status === 'Paused') {
      changes.status = transition(status, 'resume');
      changes.next_run_at = changes.next_run_at ?? null;
      changes.consecutive_failures = 0;
    }
  }

  return { changes, resyncRequired, stopRun };
}

/**
 * The incremental field this change must be checked against the live schema, if any: the one
 * sent, or the stored one when the new sync type relies on it. The caller fetches candidates only then.
 */
export function fieldToValidate(
  current: Pick<TableRow, 'sync_type' | 'incremental_field'>,
  body: PatchSchemaRequest,
): string | null {
  if (sent(body, 'incremental_field')) return body.incremental_field ?? null;
  const syncType = body.sync_type ?? current.sync_type;
  const usesField = syncType === 'incremental' || syncType === 'append';
  if (usesField && (sent(body, 'sync_type') || sent(body, 'incremental_field_type')))
    return current.incremental_field;
  return null;
}
