/**
 * Per-table sync status, shared by `GET /api/status` and `airmirror status` (docs/DESIGN.md: CLI contract):
 * sync type, status, last_synced_at, rows, lag, latest_error, needs_catchup.
 */
import {
  listTables,
  processViews,
  runningRuns,
  type ProcessView,
  type RunningRun,
  type Table,
} from '../bookkeeping/index.ts';
import { sourceStatusRows, syncStatusRows, type SourceStatusRow } from '../bookkeeping/status-view.ts';
import type { Queryable } from '../db/database.ts';
import { webhookHealth } from '../webhooks/store.ts';
import { lagSeconds } from './serialize.ts';

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
  /** false: excluded from the mirror by the operator (no mirror table, never listed). */
  mirrored: boolean;
  last_synced_at: string | null;
  /** Current rows of the mirror table (kept by the write path), as `airmirror.sync_status` shows. */
  rows: number;
  /**
   * Seconds since the mirror table was last known to match Airtable: its last successful run, or
   * for a webhook table whose hook is active, the last payloads applied, whichever is later.
   */
  lag_seconds: number | null;
  latest_error: string | null;
  /** What schema changes could not keep or only approximate (a reader's view dropped, …). */
  warnings: string[];
  needs_catchup: boolean;
  next_run_at: string | null;
  /** Set while the table's status is Running. */
  progress: SyncProgress | null;
  /** For a table of the `webhook` sync type: its base's Airtable webhook, as last seen. */
  webhook: WebhookHealth | null;
  /** The process that owns the table's base now (docs/ownership.md); null while none does. */
  owner: BaseOwner | null;
}

/** Who works on a base: the process holding it, and how fresh its heartbeat is. */
export interface BaseOwner {
  process_id: string;
  host: string;
  pid: number;
  /** `start` (a running airmirror start) or `once` (sync --once). */
  role: string;
  heartbeat_age_seconds: number;
}

/** One airmirror process on this Postgres (alive, or gone but not yet forgotten). */
export interface ProcessStatus extends BaseOwner {
  started_at: string;
  heartbeat_at: string;
  alive: boolean;
  stopping: boolean;
  /** Sources (bases) it holds now. */
  bases: string[];
}

/** The processes as `status` shows them. */
export async function processStatuses(q: Queryable): Promise<ProcessStatus[]> {
  return (await processViews(q)).map(processStatus);
}

function processStatus(p: ProcessView): ProcessStatus {
  return {
    process_id: p.processId,
    host: p.host,
    pid: p.pid,
    role: p.role,
    heartbeat_age_seconds: p.heartbeatAgeSeconds,
    started_at: p.startedAt.toISOString(),
    heartbeat_at: p.heartbeatAt.toISOString(),
    alive: p.alive,
    stopping: p.stopping,
    bases: p.bases,
  };
}

/** What an operator needs to know of a base's Airtable webhook (no secret, no id). */
export interface WebhookHealth {
  /** `active`, or why it is not (e.g. `failed`): then `last_error` says what happened. */
  status: string;
  last_ping_at: string | null;
  last_error: string | null;
  expiration_time: string | null;
}

/** A source's base-schema reads: while they fail, the error, since when, and the next try. */
export interface SourceStatus {
  source_id: string;
  base_id: string;
  schema: string;
  schema_checked_at: string | null;
  schema_error: string | null;
  schema_failing_since: string | null;
  schema_failures: number;
  schema_retry_at: string | null;
}

const iso = (d: Date | null) => (d ? d.toISOString() : null);

export async function sourceStatuses(q: Queryable, sourceId?: string): Promise<SourceStatus[]> {
  return (await sourceStatusRows(q, sourceId)).map((s: SourceStatusRow) => ({
    source_id: s.sourceId,
    base_id: s.baseId,
    schema: s.schema,
    schema_checked_at: iso(s.schemaCheckedAt),
    schema_error: s.schemaError,
    schema_failing_since: iso(s.schemaFailingSince),
    schema_failures: s.schemaFailures,
    schema_retry_at: iso(s.schemaRetryAt),
  }));
}

export async function tableStatuses(q: Queryable, now: number, sourceId?: string): Promise<TableStatus[]> {
  const [rows, running, webhooks, views, processes] = await Promise.all([
    listTables(q, sourceId),
    runningRuns(q, sourceId),
    webhookHealth(q, sourceId),
    syncStatusRows(q, sourceId),
    processViews(q),
  ]);
  const viewOf = new Map(views.map((v) => [`${v.sourceId}/${v.tableId}`, v]));
  const owners = new Map<string, BaseOwner>();
  for (const p of processes) {
    const { process_id, host, pid, role, heartbeat_age_seconds } = processStatus(p);
    for (const base of p.bases) owners.set(base, { process_id, host, pid, role, heartbeat_age_seconds });
  }
  const tableKey = (t: { sourceId: string; tableId: string }) => `${t.sourceId}/${t.tableId}`;
  const runs = new Map(running.map((r) => [tableKey(r), r]));
  const progressOf = (run: RunningRun | undefined, expected: number): SyncProgress | null =>
    run
      ? { started_at: run.startedAt.toISOString(), records_seen: run.recordsSeen, expected_rows: expected }
      : null;
  const hooks = new Map(webhooks.map((w) => [w.source_id, w]));
  const webhookOf = (t: Table): WebhookHealth | null => {
    if (t.syncType !== 'webhook') return null;
    const w = hooks.get(t.sourceId);
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
      source_id: r.sourceId,
      base_id: r.baseId,
      schema_id: null,
      table: r.tableName ?? r.tableId,
      // Its mirror table is named when the first sync promotes it (naming needs the whole base).
      mirror_table: `${r.schemaName}.<first sync of ${r.tableName ?? r.tableId}>`,
      sync_type: r.kind,
      status: 'Running',
      should_sync: true,
      mirrored: true,
      last_synced_at: null,
      rows: 0,
      lag_seconds: null,
      latest_error: null,
      warnings: [],
      needs_catchup: false,
      next_run_at: null,
      progress: progressOf(r, 0),
      webhook: null,
      owner: owners.get(r.sourceId) ?? null,
    }));
  return rows
    .filter((t) => t.vanishedAt == null)
    .map((t): TableStatus => {
      const view = viewOf.get(tableKey(t));
      return {
        source_id: t.sourceId,
        base_id: t.baseId,
        schema_id: t.id,
        table: t.tableName,
        mirror_table: `${t.schemaName}.${t.mirrorTable}`,
        sync_type: t.syncType,
        status: t.status,
        should_sync: t.shouldSync,
        mirrored: t.mirrored,
        last_synced_at: t.lastSyncedAt ? t.lastSyncedAt.toISOString() : null,
        rows: view?.rows ?? t.rowCount,
        lag_seconds: lagSeconds(view ? view.freshAt : t.lastSyncedAt, now),
        latest_error: t.latestError,
        warnings: (view?.warnings ?? t.schemaWarnings).map((w) => w.message),
        needs_catchup: t.needsCatchup,
        next_run_at: t.nextRunAt ? t.nextRunAt.toISOString() : null,
        progress: t.status === 'Running' ? progressOf(runs.get(tableKey(t)), t.rowCount) : null,
        webhook: webhookOf(t),
        owner: owners.get(t.sourceId) ?? null,
      };
    })
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

/** A plain-text table for terminals: one line per table, errors on the line itself; then sources whose schema reads fail. */
export function formatStatusTable(rows: TableStatus[], sources: SourceStatus[] = []): string {
  const failing = sources
    .filter((s) => s.schema_error)
    .map(
      (s) =>
        `source ${s.source_id} (${s.schema}): ${s.schema_error} — failing since ${s.schema_failing_since}` +
        `, ${s.schema_failures} tries, next ${s.schema_retry_at ?? 'soon'}\n`,
    )
    .join('');
  if (rows.length === 0) return `no tables configured\n${failing}`;
  const head = ['TABLE', 'SYNC TYPE', 'STATUS', 'LAST SYNCED', 'ROWS', 'LAG', 'CATCH-UP', 'OWNER', 'ERROR'];
  const body = rows.map((r) => [
    r.mirror_table,
    r.sync_type,
    !r.mirrored ? 'Excluded' : r.should_sync ? statusCell(r) : 'Paused',
    r.last_synced_at ?? '-',
    String(r.rows),
    formatLag(r.lag_seconds),
    r.needs_catchup ? 'yes' : 'no',
    r.owner ? `${r.owner.host}/${r.owner.pid} (${formatAge(r.owner.heartbeat_age_seconds)})` : '-',
    errorCell(r),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i])))
      .join('  ')
      .trimEnd();
  return [line(head), ...body.map(line)].join('\n') + '\n' + failing;
}

/** The processes below the tables: which one holds which bases, and how fresh its heartbeat is. */
export function formatProcesses(processes: ProcessStatus[]): string {
  if (processes.length === 0) return '';
  const lines = processes.map((p) => {
    const state = p.alive ? (p.stopping ? 'stopping' : 'alive') : 'gone';
    const bases = p.bases.length > 0 ? p.bases.join(', ') : 'no bases';
    return `  ${p.host}/${p.pid}  ${p.role}  ${state}  heartbeat ${formatAge(p.heartbeat_age_seconds)} ago  ${bases}  (process ${p.process_id})`;
  });
  return ['', 'PROCESSES', ...lines].join('\n') + '\n';
}

/** "0.8s", "12s", "3m" … for heartbeat ages. */
function formatAge(seconds: number): string {
  return seconds < 10 ? `${seconds.toFixed(1)}s` : formatLag(Math.round(seconds));
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
    r.warnings.length > 0
      ? `${r.warnings.length} warning${r.warnings.length > 1 ? 's' : ''}: ${r.warnings.at(-1)}`
      : '',
  ];
  return parts.filter(Boolean).join('; ').replace(/\s+/g, ' ').slice(0, 120);
}
