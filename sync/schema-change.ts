/**
 * A base's schema changed (docs/DESIGN.md flow 3, docs/schema-changes.md): the mirror follows in
 * place where Postgres can, and fills again only the tables whose values must be read again.
 *
 * 1. Tables leaving the mirror (deleted in Airtable, or excluded) are dropped — only airmirror's
 *    own, with what readers built on them reported.
 * 2. Renamed tables take their new names, in one short transaction.
 * 3. Each table's columns change in place (src/mirror/alter.ts), one short transaction each;
 *    a table whose new or retyped columns need values gets `fill_pending`, and its next run (right
 *    after, in a sync) is a full sweep through the write path: change events for every row whose
 *    value the change brought. A table Postgres cannot change in place is filled again instead.
 * 4. New tables and tables with a retype no cast can make are filled beside the live ones and
 *    swapped in (rebuild.ts), readers' objects carried over, change events for changed rows.
 * 5. The whole layout is recorded with its hash, each table's warnings, and one `schema.changed`
 *    event names everything that changed and every reader object that could not be kept.
 *
 * Until step 5 the source's stored hash is a transient one: a process that stops halfway compares
 * the layout it did record with the one the base asks for at its next sync, and goes on.
 */
import type { RunCounters } from '../src/bookkeeping/runs.ts';
import { finishRun, startRun } from '../src/bookkeeping/runs.ts';
import { recordSchemaWarnings, type TableSelection } from '../src/bookkeeping/schema-state.ts';
import type { Source } from '../src/bookkeeping/sources.ts';
import type { Queryable } from '../src/db/database.ts';
import {
  alterTable,
  diffMappings,
  dropTable,
  interimTable,
  isLockConflict,
  mappingHash,
  renameTables,
  saveMapping,
  summarize,
  summaryIsEmpty,
  withLockRetry,
  writeSchemaChangedEvent,
  type LostObject,
} from '../src/mirror/index.ts';
import type { BaseMapping, TableMapping } from '../src/mirror/types.ts';
import { oneLine } from './one-line.ts';
import { refillTables, type RebuildOutcome } from './rebuild.ts';
import type { SyncClient } from './strategy.ts';
import type { SyncerEnv, TableSyncResult } from './types.ts';

export interface SchemaChangeArgs {
  source: Source;
  client: SyncClient;
  old: BaseMapping;
  next: BaseMapping;
  selection: TableSelection;
  signal: AbortSignal;
  counters: RunCounters;
}

export interface SchemaChangeOutcome {
  /** The layout recorded (next, unless a refill failed: those tables keep what they have). */
  mapping: BaseMapping;
  /** Some tables were filled again and swapped in. */
  refilled: boolean;
  /** Results of the refilled tables, per table id. */
  results: Map<string, TableSyncResult>;
  error?: string;
}

export async function applySchemaChange(
  env: SyncerEnv,
  args: SchemaChangeArgs,
): Promise<SchemaChangeOutcome> {
  const { db, log } = env;
  const { source, old, next } = args;
  const schema = source.schemaName;
  const plan = diffMappings(old, next);
  const changing = `changing:${next.hash}`;
  const lockRetry = {
    signal: args.signal,
    onRetry: (attempt: number) => log.debug({ attempt }, 'schema change waits for its locks'),
  };
  const runId = await startRun(db, { sourceId: source.id, kind: 'schema', schemaHash: next.hash });
  const lost = new Map<string, LostObject[]>();
  const addLost = (tableId: string, l: LostObject[]) => {
    if (l.length > 0) lost.set(tableId, [...(lost.get(tableId) ?? []), ...l]);
  };
  // The layout each table really has as the steps go (what is recorded at the end).
  const layout = new Map<string, TableMapping>(old.tables.map((t) => [t.tableId, t]));
  const refill = new Set(plan.tables.filter((p) => p.refill).map((p) => p.tableId));
  let error: string | undefined;
  try {
    for (const r of plan.removed) {
      addLost(
        r.old.tableId,
        await withLockRetry(
          () =>
            dropTable(db, {
              sourceId: source.id,
              schema,
              table: r.old,
              excluded: r.excluded,
              hash: changing,
            }),
          lockRetry,
        ),
      );
      layout.delete(r.old.tableId);
    }
    const renames = plan.tables
      .filter((p) => p.renamed)
      .map((p) => ({ tableId: p.tableId, from: p.old!.table, to: p.next!.table }));
    await withLockRetry(() => renameTables(db, schema, renames), lockRetry);
    for (const r of renames) layout.set(r.tableId, { ...layout.get(r.tableId)!, table: r.to });
    const positions = new Map(next.tables.map((t, i) => [t.tableId, i + 1]));
    for (const p of plan.tables) {
      if (!p.old || !p.inPlace) continue;
      try {
        addLost(
          p.tableId,
          await withLockRetry(
            () =>
              alterTable(db, {
                sourceId: source.id,
                schema,
                plan: p,
                position: positions.get(p.tableId)!,
                hash: changing,
              }),
            lockRetry,
          ),
        );
        layout.set(p.tableId, interimTable(p));
      } catch (err) {
        if (isLockConflict(err) || args.signal.aborted) throw err;
        // Postgres would not make this change in place (a reader's object on the column that
        // airmirror may not drop, an index the new type cannot have…): fill the table again.
        log.warn(
          { source: source.id, table: p.tableId, err: oneLine(err) },
          'change in place refused; filling the table again',
        );
        refill.add(p.tableId);
      }
    }
  } catch (err) {
    error = args.signal.aborted ? 'cancelled' : `schema change failed: ${oneLine(err)}`;
  }

  let refilled: RebuildOutcome | undefined;
  if (!error && refill.size > 0) {
    refilled = await refillTables(env, {
      source,
      client: args.client,
      next,
      tableIds: [...refill],
      live: new Map([...refill].filter((id) => layout.has(id)).map((id) => [id, layout.get(id)!])),
      whole: false,
      hash: changing,
      events: true,
      paused: args.selection.paused,
      signal: args.signal,
      counters: args.counters,
    });
    if (refilled.rebuilt) {
      for (const id of refill) {
        const t = next.tables.find((x) => x.tableId === id)!;
        // A paused table already mirrored was not filled again (written by nothing).
        if (!args.selection.paused.has(id) || !layout.has(id)) layout.set(id, t);
      }
    } else {
      error = refilled.error;
    }
  }

  // What the mirror has now, in the base's order; equal to `next` unless a step failed.
  const tables = next.tables
    .filter((t) => layout.has(t.tableId))
    .map((t) => ({ ...layout.get(t.tableId)!, warnings: t.warnings, deferred: t.deferred }));
  const recorded: BaseMapping = {
    schema,
    tables,
    excludedTables: next.excludedTables,
    hash: mappingHash(tables, next.excludedTables),
  };
  // What was done (a step that failed is not announced: the next sync does it, and says so).
  const summary = summarize(diffMappings(old, recorded));
  const promoteLost = refilled?.lost ?? [];
  for (const id of refilled?.rebuilt ? refill : []) lost.set(id, [...(lost.get(id) ?? []), ...promoteLost]);
  const reported = new Set<LostObject>();
  for (const [tableId, list] of lost) {
    for (const o of list) {
      if (reported.has(o)) continue;
      reported.add(o);
      summary.reader_objects.push({ kind: o.kind, name: o.name, dropped: o.dropped, reason: o.reason });
      log.warn(
        { source: source.id, table: tableId, object: o.name, kind: o.kind, reason: o.reason },
        o.dropped
          ? 'schema change: a reader object could not be kept and was dropped'
          : 'schema change: a reader object lost part of what it had',
      );
    }
  }
  const at = new Date(env.now());
  await db.tx(async (q) => {
    await saveMapping(q, source.id, recorded);
    await recordWarnings(q, source.id, next, lost, at);
    if (!summaryIsEmpty(summary)) await writeSchemaChangedEvent(q, { sourceId: source.id, schema, summary });
  });
  await finishRun(
    db,
    runId,
    error ? (args.signal.aborted ? 'cancelled' : 'failed') : 'completed',
    args.counters,
    error,
    log,
  );
  log.info(
    {
      source: source.id,
      tables_added: summary.tables.added.length,
      tables_renamed: summary.tables.renamed.length,
      tables_dropped: summary.tables.dropped.length,
      columns_added: summary.columns.added.length,
      columns_renamed: summary.columns.renamed.length,
      columns_retyped: summary.columns.retyped.length,
      columns_dropped: summary.columns.dropped.length,
      refilled: [...refill],
      reader_objects_lost: summary.reader_objects.length,
      ...(error ? { error } : {}),
    },
    'base schema change applied',
  );
  return {
    mapping: recorded,
    refilled: refilled?.rebuilt ?? false,
    results: refilled?.results ?? new Map(),
    error,
  };
}

/**
 * Each table's warnings after a schema step: what its mapping could only approximate, changes it
 * defers while paused, and the reader objects this step could not keep.
 */
export async function recordWarnings(
  q: Queryable,
  sourceId: string,
  next: BaseMapping,
  lost: ReadonlyMap<string, readonly LostObject[]>,
  at: Date,
): Promise<void> {
  for (const t of next.tables) {
    await recordSchemaWarnings(
      q,
      sourceId,
      t.tableId,
      {
        mapping: t.warnings ?? [],
        deferred: t.deferred ?? [],
        dropped: (lost.get(t.tableId) ?? []).map(
          (o) => `${o.kind} ${o.name}: ${o.dropped ? 'dropped' : 'kept'} (${o.reason})`,
        ),
      },
      at,
    );
  }
}
