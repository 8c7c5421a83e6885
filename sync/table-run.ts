import { finishRun, newCounters, startRun } from '../src/bookkeeping/runs.ts';
import type { Source } from '../src/bookkeeping/sources.ts';
import { IllegalTransition } from '../src/bookkeeping/state.ts';
import { changeStatus, type Table } from '../src/bookkeeping/tables.ts';
import { dueNow } from '../src/bookkeeping/ownership.ts';
import { countRows } from '../src/mirror/index.ts';
import type { TableMapping } from '../src/mirror/types.ts';
import { howStopped, recordEnd } from './record-outcome.ts';
import type { SyncClient } from './strategy.ts';
import type { SyncOptions, SyncerEnv, TableSyncResult } from './types.ts';

/** The result of a table that did not run, and why (paused, already running, vanished, unknown). */
export function skipped(
  source: Source,
  row: Pick<Table, 'tableId' | 'tableName' | 'mirrorTable'>,
  reason: string,
): TableSyncResult {
  return {
    sourceId: source.id,
    tableId: row.tableId,
    tableName: row.tableName,
    mirrorTable: row.mirrorTable,
    status: 'Skipped',
    reason,
    rebuild: false,
    counters: newCounters(),
  };
}

/**
 * One run of one table, in place (the caller holds the source's read lock): the state machine
 * moves to Running, the table's sync type runs, and the outcome is recorded — Completed with the
 * row count, Failed with the error, or Cancelled when its signal aborted.
 */
export async function runTable(
  env: SyncerEnv,
  source: Source,
  client: SyncClient,
  table: TableMapping,
  row: Table,
  opts: SyncOptions,
): Promise<TableSyncResult> {
  const { db, log } = env;
  if (!row.shouldSync || row.status === 'Paused') return skipped(source, row, 'paused');
  const { ac, done } = env.controller(opts.signal);
  const untrack = env.track([`${source.id}:${row.tableId}`, row.id, row.tableId], ac);
  const counters = newCounters();
  const base = {
    sourceId: source.id,
    tableId: row.tableId,
    tableName: row.tableName,
    mirrorTable: table.table,
    rebuild: false,
    counters,
  };
  try {
    const begun = await beginTableRun(env, source, row);
    if ('skipped' in begun) return begun.skipped;
    const { runId } = begun;
    env.runProgress.track(runId, counters);
    let swept = false;
    try {
      const strategy = env.strategies.get(row.syncType);
      if (!strategy) throw new Error(`sync type "${row.syncType}" is not available in this process`);
      if (opts.full) env.hashCache.forgetTable(row.tableId);
      const ctx = env.contextFor({
        source,
        client,
        table,
        row,
        counters,
        signal: ac.signal,
        full: opts.full ?? false,
        onSweep: () => (swept = true),
      });
      try {
        await env.counting(counters, () => strategy.run(ctx));
      } finally {
        ctx.progress?.done();
      }
      ac.signal.throwIfAborted();
      const rowCount = await countRows(db, table);
      // The outcome and the run's end in one transaction (fenced like every statement of the run).
      const what = { source: source.id, table: row.tableId, run: runId };
      const recorded = await recordEnd(env, what, async () =>
        db.tx(async (q) => {
          await changeStatus(q, source.id, row.tableId, 'succeed', {
            rowCount,
            fullRefresh: swept,
            at: new Date(env.now()),
          });
          await finishRun(q, runId, 'completed', counters, undefined, log);
        }),
      );
      env.runProgress.untrack(runId);
      if (!recorded) {
        // The base's new owner ended it as interrupted (its rows are written; it runs again).
        const error = 'interrupted: another process took the base over';
        return { ...base, status: 'Failed', error, runId, interrupted: true };
      }
      return { ...base, status: 'Completed', runId };
    } catch (err) {
      // One policy for every run (record-outcome.ts): stopped, or the base lost (to another
      // process, or with the ownership session in a Postgres restart), is an interruption —
      // Failed and due now, so the next owner runs it at once; a cancel on purpose is Cancelled.
      const stop = howStopped(ac.signal, err);
      const interrupted = stop.kind === 'interrupted';
      const cancelled = stop.kind === 'cancelled';
      const message = stop.message;
      if (!cancelled) log.warn({ source: source.id, table: row.tableId, err: message }, 'table sync failed');
      env.runProgress.untrack(runId);
      await recordEnd(env, { source: source.id, table: row.tableId, run: runId }, () =>
        db.tx(async (q) => {
          if (interrupted) {
            await changeStatus(q, source.id, row.tableId, 'interrupt', { error: message, ifAllowed: true });
            // Owed: due now for whoever owns the base next (this process too).
            await q.query(dueNow(source.id, row.tableId));
          } else {
            await changeStatus(q, source.id, row.tableId, cancelled ? 'cancel' : 'fail', { error: message });
          }
          await finishRun(q, runId, cancelled ? 'cancelled' : 'failed', counters, message, log);
        }),
      );
      return { ...base, status: cancelled ? 'Cancelled' : 'Failed', error: message, runId, interrupted };
    }
  } finally {
    untrack();
    done();
  }
}

/**
 * A table's run begins: its state moves to Running and a run is recorded. A table whose state
 * cannot start (already running, paused…) is skipped, with the reason.
 */
async function beginTableRun(
  env: SyncerEnv,
  source: Source,
  row: Table,
): Promise<{ runId: string } | { skipped: TableSyncResult }> {
  // The start and its run row in one transaction: on a base's lease database, it begins only
  // while this process owns the base, and the state machine refuses a second start (Running).
  try {
    const runId = await env.db.tx(async (q) => {
      await changeStatus(q, source.id, row.tableId, 'start');
      return startRun(q, {
        sourceId: source.id,
        tableId: row.tableId,
        tableName: row.tableName,
        kind: row.syncType,
      });
    });
    return { runId };
  } catch (err) {
    if (err instanceof IllegalTransition)
      return { skipped: skipped(source, row, `not started: ${err.message}`) };
    throw err;
  }
}

/** A source-level failure (e.g. the schema could not be read) fails each table it concerns. */
export async function failTables(
  env: SyncerEnv,
  source: Source,
  rows: Table[],
  message: string,
): Promise<TableSyncResult[]> {
  const out: TableSyncResult[] = [];
  for (const row of rows) {
    if (!row.shouldSync || row.status === 'Paused') {
      out.push(skipped(source, row, 'paused'));
      continue;
    }
    const begun = await beginTableRun(env, source, row);
    if ('skipped' in begun) {
      out.push(begun.skipped);
      continue;
    }
    const { runId } = begun;
    await recordEnd(env, { source: source.id, table: row.tableId, run: runId }, () =>
      env.db.tx(async (q) => {
        await changeStatus(q, source.id, row.tableId, 'fail', { error: message });
        await finishRun(q, runId, 'failed', newCounters(), message, env.log);
      }),
    );
    out.push({
      sourceId: source.id,
      tableId: row.tableId,
      tableName: row.tableName,
      mirrorTable: row.mirrorTable,
      status: 'Failed',
      error: message,
      rebuild: false,
      counters: newCounters(),
      runId,
    });
  }
  return out;
}
