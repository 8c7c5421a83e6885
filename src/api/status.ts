/**
 * Per-table sync status, shared by `GET /api/status` and `airmirror status` (DESIGN: CLI contract):
 * sync type, status, last_synced_at, rows, lag, latest_error, needs_catchup.
 */
import type { Queryable } from '../db/database.ts';
import { lagSeconds } from './serialize.ts';
import { all, listTables, type TableRow } from './store.ts';

export interface TableStatus {
  source_id: string;
  base_id: string;
  schema_id: string;
  table: string;
  mirror_table: string;
  sync_type: string;
  status: string | null;
  should_sync: boolean;
  last_synced_at: string | null;
  rows: number;
  lag_seconds: number | null;
  latest_error: string | null;
  needs_catchup: boolean;
  next_run_at: string | null;
}

export async function tableStatuses(q: Queryable, now: number, sourceId?: string): Promise<TableStatus[]> {
  const rows = await all<TableRow>(q, listTables(sourceId));
  return rows
    .filter((t) => t.vanished_at == null)
    .map((t) => ({
      source_id: t.source_id,
      base_id: t.base_id,
      schema_id: t.id,
      table: t.table_name,
      mirror_table: `${t.schema_name}.${t.mirror_table}`,
      sync_type: t.sync_type,
      status: t.status,
      should_sync: t.should_sync,
      last_synced_at: t.last_synced_at ? t.last_synced_at.toISOString() : null,
      rows: Number(t.row_count),
      lag_seconds: lagSeconds(t.last_synced_at, now),
      latest_error: t.latest_error,
      needs_catchup: t.needs_catchup,
      next_run_at: t.next_run_at ? t.next_run_at.toISOString() : null,
    }));
}

/** "3h 12m" style, for the CLI table. */
export function formatLag(seconds: number | null): string {
  if (seconds === null) return '-';
  if (seconds < 60) return `${seconds}s`;
  const m = Math.floor(seconds / 60);
  if (m < 60) return `${m}m`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h}h ${m % 60}m`;
  return `${Math.floor(h / 24)}d ${h % 24}h`;
}

/** A plain-text table for terminals: one line per table, errors on the line itself. */
export function formatStatusTable(rows: TableStatus[]): string {
  if (rows.length === 0) return 'no tables configured\n';
  const head = ['TABLE', 'SYNC TYPE', 'STATUS', 'LAST SYNCED', 'ROWS', 'LAG', 'CATCH-UP', 'ERROR'];
  const body = rows.map((r) => [
    r.mirror_table,
    r.sync_type,
    r.should_sync ? (r.status ?? 'Pending') : 'Paused',
    r.last_synced_at ?? '-',
    String(r.rows),
    formatLag(r.lag_seconds),
    r.needs_catchup ? 'yes' : 'no',
    (r.latest_error ?? '').replace(/\s+/g, ' ').slice(0, 120),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i])))
      .join('  ')
      .trimEnd();
  return [line(head), ...body.map(line)].join('\n') + '\n';
}
