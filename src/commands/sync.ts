import { createNodeFetch } from '../airtable/index.ts';
import { openProcessBudget } from '../airtable/process-budget.ts';
import { parseConfig } from '../config.ts';
import { createCommandLogger } from '../log.ts';
import { openCommandDatabase } from '../db/open.ts';
import { appendStrategy } from '../../sync/append.ts';
import { incrementalStrategy } from '../../sync/incremental.ts';
import { syncerFromConfig } from '../../sync/runtime.ts';
import type { SourceSyncResult } from '../../sync/syncer.ts';
import { lastRowCounts } from '../bookkeeping/index.ts';
import { sourceTokenKeyOf } from '../quota/source-token.ts';
import { loadSourceQuotaRows, resolveSourceTokenKeys } from '../quota/store.ts';
import { parseFlags, UsageError, type Command } from './args.ts';
import { ProgressDisplay } from './progress.ts';

const HELP = `usage: airmirror sync --once [--json]

One complete sync of every configured table (AIRTABLE_BASES and sources added through the API),
then exit: 0 when every table synced, 1 with the first error on one line otherwise.
Beside a running "airmirror start" on the same Postgres, bases that process owns are skipped (it
keeps them synced; each one skipped is named on stderr): a table never runs in two processes.
  --once   required: the continuous schedule runs inside "airmirror start"
  --json   print a summary as JSON on stdout`;

export const syncCommand: Command = {
  name: 'sync',
  async run(argv, env) {
    const flags = parseFlags(argv, { once: { type: 'boolean' }, json: { type: 'boolean' } }, HELP);
    if (flags.help) return 0;
    if (!flags.values.once)
      throw new UsageError(`sync runs continuously inside "airmirror start"; pass --once\n${HELP}`);
    const config = parseConfig(env);
    if (config.bases.length === 0 && !config.secretKey) {
      throw new UsageError('no bases configured: set AIRTABLE_BASES and AIRTABLE_TOKEN');
    }
    const log = await createCommandLogger({ level: config.logLevel, format: config.logFormat });
    const started = Date.now();
    const { db, close } = await openCommandDatabase(config);
    const airtableFetch = createNodeFetch();
    // The budget shared with every other process on this Postgres (a running `start` included).
    const shared = openProcessBudget({
      databaseUrl: db.url,
      perSecond: config.rateLimitPerSecond,
      preparedStatements: config.pgPreparedStatements,
      log,
    });
    try {
      // Progress goes to stderr, so `--json` on stdout stays machine-readable.
      const display = new ProgressDisplay({
        write: (s) => void process.stderr.write(s),
        tty: Boolean(process.stderr.isTTY),
        expected: await lastRowCounts(db),
      });
      const { syncer, tokenFor } = await syncerFromConfig({
        db,
        config,
        log,
        fetch: airtableFetch,
        budget: shared.budget,
        onProgress: display.onProgress,
        // Named here, not found by file name at run time (sync/optional-strategies.ts): the built
        // CLI is a bundle, where ./incremental.ts is no file to find.
        strategies: [incrementalStrategy, appendStrategy],
      });
      await syncer.start();
      const results = await syncer.syncAll().finally(() => syncer.stop());
      display.finish();
      // Which token each source uses, by key (as `start` records it): what `status` shows the
      // monthly quota by, where no process runs but this one.
      await resolveSourceTokenKeys(db, await loadSourceQuotaRows(db), (id) =>
        sourceTokenKeyOf(db, tokenFor, id),
      ).catch((err) => log.warn({ err: String(err) }, 'could not record the sources’ token keys'));
      for (const s of results) {
        if (s.skipped) process.stderr.write(`airmirror sync: skipped base ${s.baseId}: ${s.skipped}\n`);
      }
      const failures = failuresOf(results);
      if (flags.values.json) {
        process.stdout.write(
          JSON.stringify(summary(results, Date.now() - started, failures.length === 0), null, 2) + '\n',
        );
      }
      if (results.length === 0) {
        process.stderr.write('airmirror sync: no sources configured\n');
        return 1;
      }
      if (failures.length > 0) {
        process.stderr.write(`airmirror sync: ${failures.length} failure(s); first: ${failures[0]}\n`);
        return 1;
      }
      return 0;
    } finally {
      airtableFetch.close();
      await shared.close();
      await close();
    }
  },
};

function failuresOf(results: SourceSyncResult[]): string[] {
  const out: string[] = [];
  for (const s of results) {
    if (s.error && s.tables.every((t) => t.status !== 'Failed')) out.push(`${s.baseId}: ${s.error}`);
    for (const t of s.tables) {
      if (t.status === 'Failed' || t.status === 'Cancelled') {
        out.push(`${s.baseId}/${t.tableName} (${t.tableId}): ${t.error ?? t.status}`);
      }
    }
  }
  return out;
}

/** The --json summary (snake_case like the management API). */
export function summary(results: SourceSyncResult[], durationMs: number, ok: boolean) {
  return {
    ok,
    duration_ms: durationMs,
    sources: results.map((s) => ({
      source_id: s.sourceId,
      base_id: s.baseId,
      schema: s.schema,
      schema_changed: s.schemaChanged,
      rebuilt: s.rebuilt,
      error: s.error ?? null,
      skipped: s.skipped ?? null,
      tables: s.tables.map((t) => ({
        table_id: t.tableId,
        table_name: t.tableName,
        mirror_table: t.mirrorTable,
        status: t.status,
        reason: t.reason ?? null,
        error: t.error ?? null,
        rebuild: t.rebuild,
        requests: t.counters.requests,
        records_seen: t.counters.seen,
        records_inserted: t.counters.inserted,
        records_updated: t.counters.updated,
        records_unchanged: t.counters.unchanged,
        records_cached: t.counters.cached,
        records_fenced_out: t.counters.fencedOut,
        records_deleted: t.counters.deleted,
        cell_errors: t.counters.cellErrors,
        listing_restarts: t.counters.listingRestarts,
      })),
    })),
  };
}
