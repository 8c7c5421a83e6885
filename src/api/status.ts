/**
 * Per-table sync status, shared by `GET /api/status` and `airmirror status` (DESIGN: CLI contract):
 * sync type, status, last_synced_at, rows, lag, latest_error, needs_catchup.
 */
import type { Queryable } from '../db/database.ts';
import { sql } from '../db/sql.ts';
import { lagSeconds } from './serialize.ts';
import { all, listTables, type TableRow } from './store.ts';

/** How far a running sync of a table has got (its counters, written every few seconds). */
export interface SyncProgress {
  started_at: string;
  /** Records listed from Airtable so far. */
  records_seen: number;
  /** Rows before this run: a rough total to compare with (0 on a first sync). */
  expected_rows: number;
}

export interface TableStatus {
  source_id: string;
  base_id: string;
  /** The table's configuration (`/api/schemas/{id}`); null while its first sync is building it. */
  schema_id: string | null;
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
  /** Set while the table's status is Running. */
  progress: SyncProgress | null;
  /** For a table of the `webhook` sync type: its base's Airtable webhook, as last seen. */
  webhook: WebhookHealth | null;
}

/** What an operator needs to know of a base's Airtable webhook (no secret, no id). */
export interface WebhookHealth {
  /** `active`, or why it is not (e.g. `failed`): then `last_error` says what happened. */
  status: string;
  last_ping_at: string | null;
  last_error: string | null;
  expiration_time: string | null;
}

function webhooksOf(sourceId?: string) {
  return sql(
    `SELECT source_id, status, last_ping_at, last_error, expiration_time FROM airmirror.webhooks
      ${sourceId === undefined ? '' : 'WHERE source_id = $1'}`,
    sourceId === undefined ? [] : [sourceId],
  );
}

/**
 * The latest running run of each table (migration 008 indexes exactly these rows), with its
 * source's schema and base, for tables that have no airmirror.tables row yet.
 */
function runningRuns(sourceId?: string) {
  return sql(
    `SELECT DISTINCT ON (r.source_id, r.table_id) r.source_id, r.table_id, r.table_name, r.kind,
            r.started_at, r.records_seen, s.base_id, s.schema_name
       FROM airmirror.sync_runs r JOIN airmirror.sources s ON s.id = r.source_id
      WHERE r.status = 'running' AND r.table_id IS NOT NULL ${sourceId === undefined ? '' : 'AND r.source_id = $1'}
      ORDER BY r.source_id, r.table_id, r.id DESC`,
    sourceId === undefined ? [] : [sourceId],
  );
}

interface WebhookRow {
  source_id: string;
  status: string;
  last_ping_at: Date | null;
  last_error: string | null;
  expiration_time: Date | null;
}

interface RunningRun {
  source_id: string;
  table_id: string;
  table_name: string | null;
  kind: string;
  started_at: Date;
  records_seen: number;
  base_id: string;
  schema_name: string;
}

export async function tableStatuses(q: Queryable, now: number, sourceId?: string): Promise<TableStatus[]> {
  const [rows, running, webhooks] = await Promise.all([
    all<TableRow>(q, listTables(sourceId)),
    all<RunningRun>(q, runningRuns(sourceId)),
    all<WebhookRow>(q, webhooksOf(sourceId)),
  ]);
  const tableKey = (t: { source_id: string; table_id: string }) => `${t.source_id}/${t.table_id}`;
  const runs = new Map(running.map((r) => [tableKey(r), r]));
  const progressOf = (run: RunningRun | undefined, expected: number): SyncProgress | null =>
    run
      ? { started_at: run.started_at.toISOString(), records_seen: run.records_seen, expected_rows: expected }
      : null;
  const hooks = new Map(webhooks.map((w) => [w.source_id, w]));
  const webhookOf = (t: TableRow): WebhookHealth | null => {
    if (t.sync_type !== 'webhook') return null;
    const w = hooks.get(t.source_id);
    if (!w) return { status: 'not registered', last_ping_at: null, last_error: null, expiration_time: null };
    return {
      status: w.status,
      last_ping_at: w.last_ping_at?.toISOString() ?? null,
      last_error: w.last_error,
      expiration_time: w.expiration_time?.toISOString() ?? null,
    };
  };
  const known = new Set(rows.map(tableKey));
  // A first sync builds its tables out of sight (the swap schema); until it promotes them they
  // have no airmirror.tables row, but they are running and shown so, with their progress.
  const building: TableStatus[] = [...runs.values()]
    .filter((r) => !known.has(tableKey(r)))
    .map((r) => ({
      source_id: r.source_id,
      base_id: r.base_id,
      schema_id: null,
      table: r.table_name ?? r.table_id,
      // Its mirror table is named when the first sync promotes it (naming needs the whole base).
      mirror_table: `${r.schema_name}.<first sync of ${r.table_name ?? r.table_id}>`,
      sync_type: r.kind,
      status: 'Running',
      should_sync: true,
      last_synced_at: null,
      rows: 0,
      lag_seconds: null,
      latest_error: null,
      needs_catchup: false,
      next_run_at: null,
      progress: progressOf(r, 0),
      webhook: null,
    }));
  return rows
    .filter((t) => t.vanished_at == null)
    .map((t): TableStatus => ({
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
      progress: t.status === 'Running' ? progressOf(runs.get(tableKey(t)), Number(t.row_count)) : null,
      webhook: webhookOf(t),
    }))
    .concat(building);
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
    r.should_sync ? statusCell(r) : 'Paused',
    r.last_synced_at ?? '-',
    String(r.rows),
    formatLag(r.lag_seconds),
    r.needs_catchup ? 'yes' : 'no',
    errorCell(r),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i])))
      .join('  ')
      .trimEnd();
  return [line(head), ...body.map(line)].join('\n') + '\n';
}

/** "Running 12,300/100,036" (or "Running 12,300 listed" on a first sync) while a sync runs. */
function statusCell(r: TableStatus): string {
  const status = r.status ?? 'Pending';
  const p = r.progress;
  if (!p) return status;
  const seen = p.records_seen.toLocaleString('en-US');
  return p.expected_rows > 0
    ? `${status} ${seen}/${p.expected_rows.toLocaleString('en-US')}`
    : `${status} ${seen} listed`;
}

/** The table's latest error; for a webhook table whose webhook is not active, that first. */
function errorCell(r: TableStatus): string {
  const hook = r.webhook && r.webhook.status !== 'active' ? r.webhook : undefined;
  const parts = [
    hook ? `webhook ${hook.status}${hook.last_error ? `: ${hook.last_error}` : ''}` : '',
    r.latest_error ?? '',
  ];
  return parts.filter(Boolean).join('; ').replace(/\s+/g, ' ').slice(0, 120);
}
