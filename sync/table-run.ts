import { finishRun, newCounters, startRun } from '../src/bookkeeping/runs.ts';
import type { Source } from '../src/bookkeeping/sources.ts';
import { IllegalTransition } from '../src/bookkeeping/state.ts';
import { applyTableEvent, type Table } from '../src/bookkeeping/tables.ts';
import { countRows } from '../src/mirror/index.ts';
import type { TableMapping } from '../src/mirror/types.ts';
import { oneLine } from './one-line.ts';
import { recordEnd } from './record-outcome.ts';
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
      await applyTableEvent(db, source.id, row.tableId, 'succeed', {
        rowCount,
        fullRefresh: swept,
        at: new Date(env.now()),
      });
      await finishRun(db, runId, 'completed', counters, undefined, log);
      env.runProgress.untrack(runId);
      return { ...base, status: 'Completed', runId };
    } catch (err) {
      const cancelled = ac.signal.aborted;
      const message = cancelled ? 'cancelled' : oneLine(err);
      if (!cancelled) log.warn({ source: source.id, table: row.tableId, err: message }, 'table sync failed');
      await recordEnd(env, { source: source.id, table: row.tableId, run: runId }, async () => {
        await applyTableEvent(db, source.id, row.tableId, cancelled ? 'cancel' : 'fail', { error: message });
        await finishRun(db, runId, cancelled ? 'cancelled' : 'failed', counters, message, log);
      });
      env.runProgress.untrack(runId);
      return { ...base, status: cancelled ? 'Cancelled' : 'Failed', error: message, runId };
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
  try {
    await applyTableEvent(env.db, source.id, row.tableId, 'start');
  } catch (err) {
    if (err instanceof IllegalTransition)
      return { skipped: skipped(source, row, `not started: ${err.message}`) };
    throw err;
  }
  try {
    const runId = await startRun(env.db, {
      sourceId: source.id,
      tableId: row.tableId,
      tableName: row.tableName,
      kind: row.syncType,
    });
    return { runId };
  } catch (err) {
    // The table is Running already: it must not stay so because its run could not be recorded.
    await recordEnd(env, { source: source.id, table: row.tableId }, () =>
      applyTableEvent(env.db, source.id, row.tableId, 'fail', { error: oneLine(err) }),
    );
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
    await recordEnd(env, { source: source.id, table: row.tableId, run: runId }, async () => {
      await applyTableEvent(env.db, source.id, row.tableId, 'fail', { error: message });
      await finishRun(env.db, runId, 'failed', newCounters(), message, env.log);
    });
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
