/**
 * A statement's records sent to Airtable in batches of 10, one after another, each accepted batch
 * applied to the mirror (while the next one is on its way). A refusal stops the statement: the
 * batches before it are in Airtable and in the mirror, the refused one in neither (Airtable
 * applies a batch whole or not at all), and the error says how far it got.
 */
import {
  createRecords,
  deleteRecords,
  MAX_RECORDS_PER_WRITE,
  updateRecords,
} from '../../src/airtable/record-writes.ts';
import type { AirtableRecord } from '../../src/airtable/types.ts';
import { AirmirrorError } from '../../src/errors.ts';
import type { ColumnMapping } from '../../src/mirror/types.ts';
import type { AirtableAccess } from './airtable.ts';
import type { MirrorTarget } from './catalog.ts';
import { airtableDetail, PgError, SQLSTATE, sqlStateForAirtable } from './errors.ts';

export interface BatchItem {
  /** UPDATE/DELETE: the record; INSERT: none yet. */
  id?: string;
  /** Cell values keyed by field id. */
  fields: Record<string, unknown>;
}

export interface SendOptions {
  kind: 'insert' | 'update' | 'delete';
  target: MirrorTarget;
  items: BatchItem[];
  /** The columns written, to name the one Airtable refused. */
  columns: ColumnMapping[];
  typecast: boolean;
  access: AirtableAccess;
  cancelled(): boolean;
  apply(records: AirtableRecord[], deletedIds: string[]): Promise<void>;
  onApplyFailed(ids: string[], op: 'upsert' | 'delete', err: unknown): void;
}

export interface SendResult {
  /** Rows Airtable accepted. */
  count: number;
  /** Ids of the records written (INSERT: created, in order), in statement order. */
  ids: string[];
  deletedIds: string[];
  error?: PgError;
}

const VERB = { insert: 'insert', update: 'update', delete: 'delete' } as const;

export async function sendBatches(o: SendOptions): Promise<SendResult> {
  const { target } = o;
  const baseId = target.baseId;
  const tableId = target.table.tableId;
  const out: SendResult = { count: 0, ids: [], deletedIds: [] };
  if (o.items.length === 0) return out;
  const access = await o.access.forSource(target.sourceId);
  let applying: Promise<void> = Promise.resolve();
  const applyLater = (records: AirtableRecord[], deleted: string[]) => {
    const before = applying;
    applying = (async () => {
      await before;
      try {
        await o.apply(records, deleted);
      } catch (err) {
        if (records.length > 0)
          o.onApplyFailed(
            records.map((r) => r.id),
            'upsert',
            err,
          );
        if (deleted.length > 0) o.onApplyFailed(deleted, 'delete', err);
      }
    })();
  };

  for (let at = 0; at < o.items.length; at += MAX_RECORDS_PER_WRITE) {
    const batch = o.items.slice(at, at + MAX_RECORDS_PER_WRITE);
    try {
      const stopIfCancelled = () => {
        if (!o.cancelled()) return;
        throw new PgError(SQLSTATE.canceled, 'canceling statement due to user request', {
          detail: progress(o, at, 'before the rest was sent'),
        });
      };
      stopIfCancelled();
      await access.slot(baseId);
      stopIfCancelled(); // a cancel that came while waiting for the slot
      if (o.kind === 'delete') {
        const ids = batch.map((b) => b.id!);
        const deleted = await deleteRecords(access.client, baseId, tableId, ids);
        out.deletedIds.push(...deleted);
        out.ids.push(...deleted);
        out.count += deleted.length;
        applyLater([], deleted);
      } else {
        const records =
          o.kind === 'insert'
            ? await createRecords(
                access.client,
                baseId,
                tableId,
                batch.map((b) => ({ fields: b.fields })),
                {
                  typecast: o.typecast,
                },
              )
            : await updateRecords(
                access.client,
                baseId,
                tableId,
                batch.map((b) => ({ id: b.id!, fields: b.fields })),
                { typecast: o.typecast },
              );
        out.ids.push(...records.map((r) => r.id));
        out.count += records.length;
        applyLater(records, []);
      }
    } catch (err) {
      await applying;
      if (err instanceof PgError) return { ...out, error: err };
      if (!(err instanceof AirmirrorError)) throw err;
      // The outcome of a request that got no answer is unknown: its records are re-read later.
      if (err.code === 'TIMEOUT' || err.code === 'CONNECTION_ERROR') {
        const ids = batch.flatMap((b) => (b.id ? [b.id] : []));
        if (ids.length > 0) o.onApplyFailed(ids, o.kind === 'delete' ? 'delete' : 'upsert', err);
      }
      return { ...out, error: refusal(o, err, at, batch) };
    }
  }
  await applying;
  return out;
}

function progress(o: SendOptions, accepted: number, after: string): string {
  const n = o.items.length;
  if (accepted === 0) return 'Nothing was written to Airtable or to the mirror.';
  return `Airtable accepted ${accepted} of ${n} rows ${after}; those ${accepted} are in Airtable and in the mirror.`;
}

/** The column an Airtable message names (`Field "Tier" …`, a field id, or a select option sent). */
function columnNamed(o: SendOptions, message: string, batch: BatchItem[]): ColumnMapping | undefined {
  const byName = o.columns.find((c) => message.includes(`"${c.fieldName}"`) || message.includes(c.fieldId));
  if (byName) return byName;
  const option = /""(.*)""/.exec(message)?.[1];
  if (option === undefined) return undefined;
  return o.columns.find((c) =>
    batch.some((b) => {
      const v = b.fields[c.fieldId];
      return v === option || (Array.isArray(v) && v.includes(option));
    }),
  );
}

function refusal(o: SendOptions, err: AirmirrorError, at: number, batch: BatchItem[]): PgError {
  const n = o.items.length;
  const code = sqlStateForAirtable(err);
  const col = columnNamed(o, err.message, batch);
  const table = o.target.table;
  const rows = batch.length === 1 ? `row ${at + 1}` : `rows ${at + 1}–${at + batch.length}`;
  const what =
    code === SQLSTATE.invalidValue
      ? col
        ? `invalid value for column "${col.column}"`
        : 'invalid values'
      : code === SQLSTATE.undefinedColumn
        ? `column "${col?.column ?? '?'}" is not a field of Airtable table "${table.tableName}"`
        : code === SQLSTATE.insufficientPrivilege
          ? `Airtable refused the ${VERB[o.kind]}: no permission`
          : code === SQLSTATE.serializationFailure
            ? 'a row no longer exists in Airtable'
            : code === SQLSTATE.rateLimited
              ? `Airtable's rate limit for base ${o.target.baseId} is reached`
              : code === SQLSTATE.tooLarge
                ? 'the request was too large for Airtable'
                : code === SQLSTATE.airtableUnreachable
                  ? 'Airtable could not be reached'
                  : 'Airtable failed';
  const message =
    at === 0 && n <= MAX_RECORDS_PER_WRITE
      ? `${what} (Airtable refused the ${VERB[o.kind]})`
      : `Airtable accepted ${at} of ${n} rows, then refused ${rows}: ${what}`;
  const unknown =
    code === SQLSTATE.airtableUnreachable
      ? ` Whether Airtable applied ${rows} is unknown: ${o.kind === 'insert' ? 'the next sync will show' : 'they are re-read from Airtable'}.`
      : '';
  const hint =
    code === SQLSTATE.serializationFailure
      ? 'The mirror catches up with the next sync; run the statement again.'
      : code === SQLSTATE.rateLimited
        ? 'Wait and run the statement again (Airtable blocks a base for 30 s after a 429).'
        : code === SQLSTATE.invalidValue && /CHOICE/.test(err.code)
          ? 'Use an existing option, or SET airmirror.typecast = on to let Airtable create it.'
          : undefined;
  return new PgError(code, message, {
    detail: `${airtableDetail(err)}. ${progress(o, at, `before ${rows}`)}${unknown}`,
    hint,
    column: col?.column,
    table: table.table,
    schema: table.schema,
  });
}
