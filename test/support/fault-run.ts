/**
 * The fault scenario of issue 14, shared by the end-to-end fault test (test/e2e/faults.test.ts,
 * which asserts on it) and `npm run bench -- faults` (which reports its figures): `airmirror
 * start` as a child process mirrors the demo base while an app keeps writing through the proxy
 * and a user keeps editing "in Airtable" (the emulator's control surface), through Airtable 5xx
 * bursts and a timeout mid-listing, expired list offsets, a 429 storm, `kill -9` mid-sweep and
 * mid-rebuild (then a restart), and a Postgres restart. Then it settles and checks: every write
 * Airtable acknowledged is in the mirror, no row Airtable lacks, `airmirror verify` finds no drift,
 * and the process never exited on its own.
 */
import { startMirrorProcess, tableStatuses, waitForTables, type MirrorProcess } from './airmirror-process.ts';
import { lostWrites, ProxyWriter } from './proxy-writer.ts';
import { waitUntil } from './wait.ts';

export interface FaultReport {
  writes_attempted: number;
  writes_acknowledged: number;
  /** Acknowledged writes the mirror lacks or holds an older value of, after settling (target 0). */
  lost: number;
  /** Mirror rows Airtable does not have, by `airmirror verify` (target 0). */
  phantom_rows: number;
  /** Every difference `airmirror verify` found after settling (target 0). */
  drift_after_settling: number;
  /** From the end of the last fault until the mirror equals Airtable with every acknowledged write. */
  settle_ms: number;
  /** The longest proxy answer to a write sent while Postgres was stopped or starting again. */
  longest_proxy_answer_during_pg_restart_ms: number;
  /** Writes acknowledged while Postgres was away (they went through catch-up). */
  acknowledged_during_pg_restart: number;
  /** Exits of `airmirror start` that were not our kill -9. */
  unexpected_exits: number;
  /** Airtable edits made directly (not through the proxy). */
  direct_edits: number;
  phases: Record<string, number>;
  verify: { code: number | null; summary: unknown };
}

export interface FaultRunOptions {
  records?: number;
  /** Progress lines (the bench writes them to stderr). */
  note?: (line: string) => void;
}

export async function runFaultScenario(opts: FaultRunOptions = {}): Promise<FaultReport> {
  const note = opts.note ?? (() => undefined);
  const m = await startMirrorProcess({
    records: opts.records ?? 2_000,
    logLevel: 'warn',
    // Airtable's own limit is off in the emulator except during the storm; ours is raised so the
    // writer and the syncs do not queue behind each other for the whole run.
    env: { AIRMIRROR_UPSTREAM_TIMEOUT_MS: '3000', AIRMIRROR_RATE_LIMIT: '20' },
  });
  const phases: Record<string, number> = {};
  const t00 = Date.now();
  const step = (what: string) => note(`  ${((Date.now() - t00) / 1000).toFixed(1)} s: ${what}`);
  const timed = async (name: string, fn: () => Promise<void>) => {
    const t0 = Date.now();
    step(`phase ${name}`);
    await fn();
    phases[name] = Date.now() - t0;
  };
  const writer = new ProxyWriter({ proxyUrl: m.proxyUrl, baseId: m.baseId, token: m.token, gapMs: 40 });
  const editor = new DirectEditor(m);
  try {
    await timed('first sync', () => allCompleted(m, 'the first sync'));
    editor.orders = (
      await m.query<{ id: string }>(`SELECT id FROM ${m.schema}.orders ORDER BY id LIMIT 200`)
    ).map((r) => r.id);
    writer.start();
    editor.start();

    // The syncer lists by table id: faults match the path of Orders' records.
    const orders = `/${(await tableStatuses(m)).get('Orders')!.tableId}`;
    await timed('5xx burst mid-listing', async () => {
      const pages = await reload(m, 'Orders');
      await pages(2);
      m.emulator.control.fail({ kind: 'status', status: 503, count: 3, match: { path: orders } });
      m.emulator.control.fail({ kind: 'status', status: 502, count: 2, match: { path: orders } });
      await settled(m, 'Orders');
      expect(m.emulator.control.pendingFaults() === 0, 'the 5xx burst hit the listing');
    });

    await timed('timeout mid-listing', async () => {
      const pages = await reload(m, 'Orders');
      await pages(2);
      m.emulator.control.fail({ kind: 'hang', count: 1, match: { path: orders } });
      await settled(m, 'Orders');
      expect(m.emulator.control.pendingFaults() === 0, 'the hang hit the listing');
    });

    await timed('expired list offsets', async () => {
      const pages = await reload(m, 'Orders');
      await pages(2);
      m.emulator.control.expireOffsets();
      await settled(m, 'Orders');
      const [run] = await m.query<{ listing_restarts: number }>(
        `SELECT r.listing_restarts FROM airmirror.sync_runs r JOIN airmirror.tables t
           ON t.source_id = r.source_id AND t.table_id = r.table_id
          WHERE t.table_name = 'Orders' ORDER BY r.started_at DESC LIMIT 1`,
      );
      expect(Number(run?.listing_restarts) > 0, 'the listing to restart after its offset expired');
    });

    await timed('429 storm, then kill -9 mid-sweep', async () => {
      // Airtable now allows 2 requests/s per base: the writer's and the sweep's requests get
      // 429s, and the shared budget holds the base off for Airtable's 30 s penalty, the sweep in
      // the middle of its listing.
      m.emulator.control.setRateLimit(2, 30_000);
      await reload(m, 'Orders');
      // One is enough: the budget then holds every request of the base back for the penalty.
      await waitUntil(() => m.emulator.control.calls().some((c) => c.status === 429), {
        what: 'the 429 storm',
        timeoutMs: 30_000,
      }).catch((err: Error) => {
        throw new Error(
          `${err.message}; the last calls: ${recentCalls(m)}; writes: ${writer.attempts.length}`,
        );
      });
      // The sweep under the penalty must be mid-listing at the kill whatever the machine's load
      // (it may have ended, or failed, before the first 429): its next listing request hangs,
      // and a sync is asked again until one is running with that request in flight.
      const mark = m.emulator.control.calls({ method: 'GET', path: orders }).length;
      m.emulator.control.fail({ kind: 'hang', count: 3, match: { path: orders } });
      const hanging = () =>
        m.emulator.control
          .calls({ method: 'GET', path: orders })
          .slice(mark)
          .some((c) => c.status === null);
      await waitUntil(
        async () => {
          const st = (await tableStatuses(m)).get('Orders');
          if (st?.status === 'Running' && hanging()) return true;
          // One request per look (a 409 means a run is on its way: look again).
          if (st && st.status !== 'Running') await askSync(m, 'Orders');
          return false;
        },
        // Airtable's penalty (30 s) passes before the sweep's next request goes out.
        { what: 'an Orders sweep mid-listing under the penalty', timeoutMs: 60_000, intervalMs: 200 },
      );
      expect((await tableStatuses(m)).get('Orders')?.status === 'Running', 'Orders running at the kill');
      await m.kill9();
      m.emulator.control.setRateLimit(false);
      m.emulator.control.clearFaults();
      step('killed mid-sweep');
      await m.restart();
      step('restarted');
      await allCompleted(m, 'the syncs after the restart');
    });

    await timed('kill -9 mid-rebuild', async () => {
      // A field retyped so its values must be read again (a number becoming a single select):
      // the next sync fills Orders again through the swap schema (a new field would be added in
      // place, docs/schema-changes.md). Nobody writes Quantity meanwhile.
      m.emulator.control.changeFieldType(m.baseId, 'Orders', 'Quantity', 'singleSelect');
      const pages = await reload(m, 'Orders');
      await pages(3);
      const swap = await m.query(`SELECT 1 FROM pg_namespace WHERE nspname = $1`, [`${m.schema}_swap`]);
      expect(swap.length === 1, 'the swap schema exists at the kill');
      await m.kill9();
      step('killed mid-rebuild');
      await m.restart();
      step('restarted');
      await allCompleted(m, 'the rebuild after the restart');
    });

    const restartWindow = { from: 0, to: 0 };
    // Counted as the figure is below: writes that started once Postgres was going away (a write
    // already in flight then, acknowledged after, is not one of them).
    const acknowledgedSince = (from: number) =>
      writer.attempts.filter((a) => a.start >= from && a.status >= 200 && a.status < 300).length;
    await timed('Postgres restart', async () => {
      restartWindow.from = Date.now();
      await m.postgres.stop();
      await waitUntil(() => acknowledgedSince(restartWindow.from) >= 10, {
        what: 'writes acknowledged while Postgres is away',
        timeoutMs: 30_000,
      });
      await m.postgres.start();
      restartWindow.to = Date.now();
    });
    const acknowledgedDuringRestart = writer.attempts.filter(
      (a) =>
        a.start >= restartWindow.from && a.start <= restartWindow.to && a.status >= 200 && a.status < 300,
    ).length;
    const longest = Math.max(
      0,
      ...writer.attempts
        .filter((a) => a.start >= restartWindow.from && a.start <= restartWindow.to)
        .map((a) => a.end - a.start),
    );

    // Settle: the app and the user stop; every table is synced once more after their last edit
    // (as the schedule would, sooner); the catch-up brings in what the proxy could not apply.
    const lastFault = Date.now();
    await writer.stop();
    await editor.stop();
    let settledAt = 0;
    await timed('settle', async () => {
      for (const name of ['Customers', 'Orders', 'Products']) await reloadAndSettle(m, name, true);
      await waitUntil(
        async () => {
          const l = lostWrites(writer.expected(), await customerNotes(m));
          return l.missing.length + l.stale.length + l.undeleted.length === 0;
        },
        {
          what: 'every acknowledged write in the mirror',
          timeoutMs: 60_000,
          intervalMs: 200,
          retryErrors: true,
        },
      );
      settledAt = Date.now();
    });

    const l = lostWrites(writer.expected(), await customerNotes(m));
    const verify = await m.command(['verify', '--json']);
    const report = parseVerify(verify.stdout);
    return {
      writes_attempted: writer.attempts.length,
      writes_acknowledged: writer.acknowledged,
      lost: l.missing.length + l.stale.length + l.undeleted.length,
      phantom_rows: report.extra,
      drift_after_settling: report.drift,
      settle_ms: settledAt - lastFault,
      longest_proxy_answer_during_pg_restart_ms: longest,
      acknowledged_during_pg_restart: acknowledgedDuringRestart,
      unexpected_exits: m.unexpectedExits.length,
      direct_edits: editor.edits,
      phases,
      verify: { code: verify.code, summary: report.tables },
    };
  } finally {
    await writer.stop();
    await editor.stop();
    await m.stop();
  }
}

/** A scenario precondition: the run is only meaningful if the fault hit what it meant to hit. */
function expect(ok: boolean, what: string): void {
  if (!ok) throw new Error(`fault scenario: expected ${what}`);
}

async function allCompleted(m: MirrorProcess, what: string): Promise<void> {
  await waitForTables(m, what, (s) => [...s.values()].every((t) => t.status === 'Completed'), 90_000);
}

/**
 * Asks for a sync of `table` and resolves with a wait for its n-th listing page: the call log
 * counts the GETs of the table's records since the request.
 */
async function reload(m: MirrorProcess, table: string): Promise<(pages: number) => Promise<void>> {
  const path = `/${(await tableStatuses(m)).get(table)!.tableId}`;
  const before = m.emulator.control.calls({ method: 'GET', path }).length;
  await requestSync(m, table);
  return (pages) =>
    waitUntil(() => m.emulator.control.calls({ method: 'GET', path }).length >= before + pages, {
      what: `${pages} pages of ${table}`,
      timeoutMs: 30_000,
      intervalMs: 5,
    }).then(() => undefined);
}

/** Asks for a sync of `table` once: started (202), or one is already on its way (409). */
async function askSync(m: MirrorProcess, table: string): Promise<'started' | 'busy'> {
  const id = (await tableStatuses(m)).get(table)!.id;
  const r = await m.api('POST', `/schemas/${id}/reload`);
  if (r.status === 202) return 'started';
  if (r.status === 409) return 'busy';
  throw new Error(`reload ${table}: ${r.status} ${JSON.stringify(r.json)}`);
}

async function requestSync(m: MirrorProcess, table: string): Promise<void> {
  const id = (await tableStatuses(m)).get(table)!.id;
  await waitUntil(
    async () => {
      const r = await m.api('POST', `/schemas/${id}/reload`);
      if (r.status === 202) return true;
      if (r.status === 409) return false; // running: ask again when it is done
      throw new Error(`reload ${table}: ${r.status} ${JSON.stringify(r.json)}`);
    },
    { what: `a sync of ${table} to start`, timeoutMs: 90_000, intervalMs: 100 },
  );
}

async function settled(m: MirrorProcess, table: string): Promise<string> {
  let status = '';
  await waitForTables(
    m,
    `${table} to finish`,
    (s) => {
      status = s.get(table)?.status ?? '';
      return status !== 'Running';
    },
    90_000,
  );
  return status;
}

/** The newest run of `table` (0 when none): a sync asked for later has a larger id. */
async function lastRunId(m: MirrorProcess, table: string): Promise<number> {
  const [r] = await m.query<{ id: string | null }>(
    `SELECT max(r.id::bigint)::text AS id FROM airmirror.sync_runs r JOIN airmirror.tables t
       ON t.source_id = r.source_id AND t.table_id = r.table_id WHERE t.table_name = $1`,
    [table],
  );
  return Number(r?.id ?? 0);
}

/**
 * Asks for a sync of `table` and waits for a run that began after the request to end: a reload
 * is answered 202 before its run starts, so the table's status alone may still be the previous
 * run's. Resolves with that run's status.
 */
async function syncedAfterRequest(m: MirrorProcess, table: string): Promise<string> {
  const before = await lastRunId(m, table);
  await requestSync(m, table);
  let status = '';
  await waitUntil(
    async () => {
      const [r] = await m.query<{ status: string }>(
        `SELECT r.status FROM airmirror.sync_runs r JOIN airmirror.tables t
           ON t.source_id = r.source_id AND t.table_id = r.table_id
          WHERE t.table_name = $1 AND r.id::bigint > $2 ORDER BY r.id::bigint DESC LIMIT 1`,
        [table, before],
      );
      status = r?.status ?? '';
      return status !== '' && status !== 'running';
    },
    {
      what: `a sync of ${table} asked for now to end`,
      timeoutMs: 90_000,
      intervalMs: 100,
      retryErrors: true,
    },
  );
  return status;
}

/** Syncs `table` until a run asked for now completes (a failed one, e.g. the fault's, is asked again). */
async function reloadAndSettle(m: MirrorProcess, table: string, fresh = false): Promise<void> {
  if (!fresh && (await syncedAfterRequest(m, table)) === 'completed') return;
  await waitUntil(async () => (await syncedAfterRequest(m, table)) === 'completed', {
    what: `a completed sync of ${table}`,
    timeoutMs: 90_000,
    intervalMs: 100,
  });
}

/** The emulator's last calls, for a failed precondition's message. */
function recentCalls(m: MirrorProcess): string {
  return m.emulator.control
    .calls()
    .slice(-15)
    .map((c) => `${c.method} ${c.path} ${c.status}`)
    .join(' | ');
}

async function customerNotes(m: MirrorProcess): Promise<Map<string, string | null>> {
  const rows = await m.query<{ id: string; notes: string | null }>(
    `SELECT id, notes FROM ${m.schema}.customers`,
  );
  return new Map(rows.map((r) => [r.id, r.notes]));
}

function parseVerify(stdout: string): { drift: number; extra: number; tables: unknown } {
  const json = JSON.parse(stdout) as {
    drift: number;
    sources: Array<{
      tables: Array<{ tableName: string; missing: number; extra: number; different: number }>;
    }>;
  };
  const tables = json.sources.flatMap((s) => s.tables);
  return {
    drift: json.drift,
    extra: tables.reduce((n, t) => n + t.extra, 0),
    tables: tables.map((t) => ({
      table: t.tableName,
      missing: t.missing,
      extra: t.extra,
      different: t.different,
    })),
  };
}

/** A user editing the base in Airtable itself: Orders' notes, Products created and deleted. */
class DirectEditor {
  orders: string[] = [];
  edits = 0;
  private products: string[] = [];
  private timer?: ReturnType<typeof setInterval>;

  constructor(private readonly m: MirrorProcess) {}

  start(): void {
    this.timer = setInterval(() => this.edit(), 200);
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
  }

  private edit(): void {
    const c = this.m.emulator.control;
    const n = ++this.edits;
    if (n % 3 === 0 && this.orders.length > 0) {
      c.updateRecords(this.m.baseId, 'Orders', [
        { id: this.orders[n % this.orders.length], fields: { Notes: `direct ${n}` } },
      ]);
    } else if (n % 5 === 1 && this.products.length > 2) {
      c.deleteRecords(this.m.baseId, 'Products', [this.products.shift()!]);
    } else {
      const [rec] = c.createRecords(this.m.baseId, 'Products', [
        { fields: { Name: `Direct product ${n}` } },
      ]) as Array<{
        id: string;
      }>;
      this.products.push(rec.id);
    }
  }
}
