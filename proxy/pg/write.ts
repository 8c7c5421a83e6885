/**
 * One INSERT, UPDATE or DELETE on a mirror table, Airtable first: Postgres checks and resolves it
 * on the client's session (proxy/pg/store.ts), the typed values go back to Airtable cell values
 * (src/mirror/reverse.ts), Airtable gets them 10 records per request under the shared budget,
 * each accepted batch goes through the single write path (fence, outbox events) as it comes, and
 * only then does the client get its answer — RETURNING rows read from the mirror as applied.
 */
import type { CatchupSink } from '../../src/catchup/types.ts';
import type { WriteTarget } from '../../src/db/database.ts';
import type { Logger } from '../../src/log.ts';
import { applyDeletes, applyRecords } from '../../src/mirror/apply.ts';
import { ReverseValueError, toAirtableCell } from '../../src/mirror/reverse.ts';
import type { AirtableAccess } from './airtable.ts';
import { sendBatches, type BatchItem } from './batches.ts';
import type { MirrorTarget } from './catalog.ts';
import { notice, PgError, SQLSTATE, warning } from './errors.ts';
import { dropFirstColumn, dropFirstField, readDataRow } from './protocol.ts';
import type { Step, StepResult } from './statements.ts';
import { SETTINGS_SQL, TEXT_ARRAY_OID, type WritePlan } from './store.ts';

export interface WriteIO {
  /** Runs statements on the client's session (ending as the protocol state requires). */
  run(steps: Step[]): Promise<StepResult[]>;
  /** Transaction status of the session ('I', 'T' or 'E' as a char code). */
  status(): number;
  cancelled(): boolean;
}

export interface BoundParams {
  types: number[];
  values: (Buffer | null)[];
  formats: number[];
}

export interface WriteRequest {
  plan: WritePlan;
  target: MirrorTarget;
  params: BoundParams;
  /** The client's result formats for RETURNING ([] = text). */
  resultFormats: number[];
  /** The simple protocol answers RETURNING with a RowDescription of its own. */
  describe: boolean;
}

export interface WriteDeps {
  db: WriteTarget;
  airtable: AirtableAccess;
  catchup?: CatchupSink;
  log?: Pick<Logger, 'warn' | 'error'>;
}

export type WriteOutcome =
  | { kind: 'done'; tag: string; description?: Buffer; rows: Buffer[]; notices: Buffer[]; rowCount: number }
  | { kind: 'error'; frame: Buffer; fromPostgres: boolean; notices: Buffer[] }
  | { kind: 'skipped' };

const I = 0x49;

/** Format codes for `count` parameters as the client gave them, plus trailing text ones. */
function formatsFor(formats: number[], count: number, extra: number): number[] {
  if (formats.length === 0) return [];
  const all = formats.length === 1 ? Array(count).fill(formats[0]) : [...formats];
  while (all.length < count) all.push(0);
  return [...all, ...Array(extra).fill(0)];
}

const text = (b: Buffer | null) => (b === null ? null : b.toString('utf8'));
const arrayLiteral = (ids: string[]) => `{${ids.map((id) => `"${id.replace(/["\\]/g, '\\$&')}"`).join(',')}}`;

/**
 * A paused table is written by nothing (docs/schema-changes.md), and its mirror table no longer
 * follows Airtable: a statement on it could be neither resolved on fresh rows nor answered with
 * its rows as applied. Refused before anything is sent (docs/postgres-endpoint.md, "Paused tables").
 */
function pausedError(kind: WritePlan['kind'], target: MirrorTarget): PgError {
  const { schema, table, tableName } = target.table;
  const resume = target.schemaId
    ? `PATCH /api/schemas/${target.schemaId} with {"should_sync": true}`
    : `PATCH /api/schemas/{id} with {"should_sync": true}`;
  return new PgError(SQLSTATE.notReady, `mirror table "${schema}.${table}" is paused`, {
    schema,
    table,
    detail: `airmirror writes nothing to a paused table, and its rows no longer follow Airtable; this ${kind.toUpperCase()} was not sent to Airtable.`,
    hint: `Resume the table (${resume}) and run it again, or write Airtable table "${tableName}" through the HTTP proxy: Airtable takes it, and the mirror gets it when the table resumes.`,
  });
}

export async function executeWrite(io: WriteIO, deps: WriteDeps, req: WriteRequest): Promise<WriteOutcome> {
  const { plan, target, params } = req;
  const n = plan.paramCount;
  const types = Array.from({ length: n }, (_, i) => params.types[i] ?? 0);
  const clientStep = (sqlText: string, extra: Partial<Step> = {}): Step => ({
    text: sqlText,
    paramTypes: types,
    params: params.values.slice(0, n),
    paramFormats: formatsFor(params.formats, n, 0),
    resultFormats: [],
    keep: true,
    ...extra,
  });
  const returningStep = (ids: string[]): Step => ({
    text: plan.returning!,
    paramTypes: [...types, TEXT_ARRAY_OID],
    params: [...params.values.slice(0, n), Buffer.from(arrayLiteral(ids))],
    paramFormats: formatsFor(params.formats, n, 1),
    resultFormats: req.resultFormats,
    describe: req.describe,
    keep: true,
  });
  const deleteFormats = req.resultFormats.length > 1 ? [0, ...req.resultFormats] : req.resultFormats;

  // 1. Postgres' say, in one round trip: settings, the check, the rows, and the RETURNING read
  //    (with no ids: only checked and described, so it cannot fail after Airtable accepted).
  const steps: Step[] = [
    { text: SETTINGS_SQL, paramTypes: [], params: [], paramFormats: [], resultFormats: [], keep: true },
    clientStep(plan.check),
  ];
  if (plan.resolve) {
    steps.push(
      clientStep(
        plan.resolve,
        plan.deleteReturning ? { resultFormats: deleteFormats, describe: req.describe } : {},
      ),
    );
  }
  if (plan.returning) steps.push(returningStep([]));
  const results = await io.run(steps);
  for (const r of results) {
    if (r.error) return { kind: 'error', frame: r.error, fromPostgres: true, notices: [] };
  }
  if (results.some((r) => r.skipped)) return { kind: 'skipped' };

  const [mode, typecast, readOnly, isolation] = readDataRow(results[0].rows[0]).map(text);
  const notices: Buffer[] = [];
  const table = target.table;
  const where = { table: table.table, schema: table.schema };
  if (readOnly === 'on') {
    throw new PgError(
      SQLSTATE.readOnlyTransaction,
      `cannot execute ${plan.kind.toUpperCase()} in a read-only transaction`,
    );
  }
  if (target.paused) throw pausedError(plan.kind, target);
  const inBlock = io.status() !== I;
  if (inBlock) {
    if ((mode ?? '') !== 'apply') {
      throw new PgError(
        SQLSTATE.activeTransaction,
        `a write to mirror table "${table.table}" cannot wait for COMMIT`,
        {
          ...where,
          detail: 'It goes to Airtable first, and Airtable cannot roll back; nothing was sent.',
          hint: "Run it outside BEGIN … COMMIT, or SET airmirror.transaction_writes = 'apply' to send it to Airtable at once (a ROLLBACK will not undo it).",
        },
      );
    }
    if (isolation !== 'read committed') {
      throw new PgError(
        SQLSTATE.activeTransaction,
        `writes to mirror tables inside a transaction need READ COMMITTED`,
        {
          ...where,
          detail: `This transaction is ${isolation}: it would not see the rows Airtable wrote.`,
        },
      );
    }
  }

  // 2. The rows and their Airtable cell values.
  const resolved = plan.resolve ? results[2] : undefined;
  const items: BatchItem[] = [];
  const deleteRows = new Map<string, Buffer>();
  if (plan.kind === 'delete') {
    for (const row of resolved!.rows) {
      const id = text(readDataRow(row)[0])!;
      if (deleteRows.has(id)) continue;
      deleteRows.set(id, row);
      items.push({ id, fields: {} });
    }
  } else if (!plan.resolve) {
    items.push({ fields: {} }); // INSERT … DEFAULT VALUES
  } else {
    const seen = new Set<string>();
    for (const row of resolved!.rows) {
      const values = Object.values(JSON.parse(text(readDataRow(row)[0])!) as Record<string, unknown>);
      const id = plan.kind === 'update' ? (values.shift() as string) : undefined;
      if (id !== undefined) {
        if (seen.has(id)) continue; // UPDATE … FROM: a row joined twice is updated once
        seen.add(id);
      }
      const fields: Record<string, unknown> = {};
      try {
        plan.columns.forEach((col, i) => {
          const cell = toAirtableCell(col, values[i]);
          // A new record's empty cells are left out (they are empty anyway).
          if (
            id === undefined &&
            (cell === null || cell === false || (Array.isArray(cell) && cell.length === 0))
          )
            return;
          fields[col.fieldId] = cell;
        });
      } catch (err) {
        if (err instanceof ReverseValueError) {
          throw new PgError(err.sqlState, `invalid value for column "${err.column}"`, {
            ...where,
            column: err.column,
            detail: `${err.reason}; nothing was sent to Airtable.`,
          });
        }
        throw err;
      }
      items.push({ id, fields });
    }
  }

  // 3. Airtable, 10 at a time; each accepted batch applied through the single write path. Rows
  //    of an UPDATE or DELETE go in record-id order (Postgres gives them in none), so a statement
  //    that fails part-way fails the same way every time; an INSERT keeps its own order.
  if (plan.kind !== 'insert') items.sort((a, b) => (a.id! < b.id! ? -1 : a.id! > b.id! ? 1 : 0));
  const applyOpts = { origin: 'sql' as const, sourceId: target.sourceId, stampFence: true };
  const sent = await sendBatches({
    kind: plan.kind,
    target,
    items,
    columns: plan.columns,
    typecast: typecast === 'on',
    access: deps.airtable,
    cancelled: io.cancelled,
    apply: async (records, deletedIds) => {
      if (records.length > 0) await applyRecords(deps.db, table, records, { ...applyOpts, keyedBy: 'id' });
      if (deletedIds.length > 0) await applyDeletes(deps.db, table, deletedIds, applyOpts);
    },
    onApplyFailed: (ids, op, err) => {
      deps.log?.warn(
        { table: table.table, err: err instanceof Error ? err.message : String(err) },
        'pg endpoint: mirror apply failed; queued for catch-up',
      );
      const queuedAt = new Date().toISOString();
      deps.catchup?.enqueue(
        ids.map((recordId) => ({ baseId: target.baseId, tableRef: table.tableId, recordId, op, queuedAt })),
      );
      notices.push(
        warning(
          `the mirror could not apply ${ids.length} row(s) Airtable accepted; they are queued for catch-up`,
          where,
        ),
      );
    },
  });
  if (sent.error) throw sent.error;
  const count = sent.count;
  if (inBlock && count > 0) {
    notices.push(
      notice(
        `${count} row(s) of "${table.table}" were written to Airtable now; a ROLLBACK will not undo them`,
        where,
      ),
    );
  }

  // 4. The answer: RETURNING rows as the mirror holds them now (DELETE: as they were).
  const tag = plan.kind === 'insert' ? `INSERT 0 ${count}` : `${plan.kind.toUpperCase()} ${count}`;
  if (plan.kind === 'delete') {
    if (!plan.deleteReturning) return { kind: 'done', tag, rows: [], notices, rowCount: count };
    const gone = new Set(sent.deletedIds);
    const rows = [...deleteRows].filter(([id]) => gone.has(id)).map(([, row]) => dropFirstColumn(row));
    const description = resolved!.description ? dropFirstField(resolved!.description) : undefined;
    return { kind: 'done', tag, description, rows, notices, rowCount: count };
  }
  if (!plan.returning) return { kind: 'done', tag, rows: [], notices, rowCount: count };
  const [back] = await io.run([returningStep(sent.ids)]);
  if (back.error) return { kind: 'error', frame: back.error, fromPostgres: true, notices };
  const description = results[results.length - 1].description;
  return { kind: 'done', tag, description, rows: back.rows, notices, rowCount: count };
}
