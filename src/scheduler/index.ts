export {
  Scheduler,
  type SchedulerOptions,
  type ScheduledTable,
  type RunTableOptions,
  type RunOutcome,
  type SchedulerOwnership,
} from './scheduler.ts';
export { systemClock, type Clock } from './clock.ts';
export { nextRunAt, jitterMs, backoffMs, timeOfDayMs } from './schedule.ts';

import type { RunTableOptions, ScheduledTable } from './scheduler.ts';

/** The scheduler's `run` for the syncer (sync/ `createSyncer`): one table by its Airtable table id. */
export function runWithSyncer(syncer: {
  syncTable(
    sourceId: string,
    tableId: string,
    opts: { signal?: AbortSignal; full?: boolean },
  ): Promise<unknown>;
}): (table: ScheduledTable, opts: RunTableOptions) => Promise<unknown> {
  return (table, opts) => syncer.syncTable(table.sourceId, table.tableId, opts);
}
