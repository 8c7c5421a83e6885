import { DEFAULT_MONTHLY_CALL_BUDGET, DEFAULT_QUOTA_APP_SHARE_PERCENT, parseConfig } from '../config.ts';
import type { Queryable } from '../db/database.ts';
import {
  formatProcesses,
  formatStatusTable,
  processStatuses,
  sourceStatuses,
  tableStatuses,
} from '../api/status.ts';
import { openCommandDatabase } from '../db/open.ts';
// The quota's report and its text, not src/quota/index.ts: that also brings the quota's routes
// (hono, zod), which would cost this short-lived command a good part of its start-up.
import { formatQuota, serializeReport } from '../quota/json.ts';
import { storedQuotaReport, type QuotaSettings } from '../quota/report.ts';
import { quotaSettingsOf } from '../quota/service.ts';
import { parseFlags, type Command } from './args.ts';

const HELP = `usage: airmirror status [--json]

Shows every mirrored table: sync type, status, last synced, rows, lag, whether it waits for a
catch-up of proxy writes, which process owns its base (host/pid, heartbeat age), and its latest
error (for a webhook table, its base's Airtable webhook if that is not active); a running sync
shows how many records it has listed so far (against the rows before it), and its warnings (what
a schema change could not keep); then the sources whose
base schema cannot be read, since when. Reads the mirror's Postgres (DATABASE_URL, or the
embedded one); it does not call Airtable.
Below the tables, every airmirror process on this Postgres and the bases it holds; then the
monthly Airtable call quota of every token key (never the token): calls this month, the
projection, the budget and the apps' share (AIRMIRROR_MONTHLY_CALL_BUDGET,
AIRMIRROR_QUOTA_APP_SHARE or PUT /api/quota/{token_key}), whether background work is spaced out
and how, and a pause with the date it ends.
  --json   print {"tables": [...], "sources": [...], "processes": [...], "quota": [...]} as JSON on stdout`;

/** The command's core, shared with tests: writes the report and resolves with the exit code. */
export async function printStatus(
  q: Queryable,
  opts: { json: boolean; now?: number; write?: (s: string) => void; quota?: QuotaSettings },
): Promise<number> {
  const write = opts.write ?? ((s: string) => void process.stdout.write(s));
  const now = opts.now ?? Date.now();
  const tables = await tableStatuses(q, now);
  const sources = await sourceStatuses(q);
  const processes = await processStatuses(q);
  const settings =
    opts.quota ??
    quotaSettingsOf({
      demo: false,
      quota: { monthlyCalls: DEFAULT_MONTHLY_CALL_BUDGET, appSharePercent: DEFAULT_QUOTA_APP_SHARE_PERCENT },
    });
  const quota = serializeReport(await storedQuotaReport(q, settings, now));
  write(
    opts.json
      ? JSON.stringify({ tables, sources, processes, quota }, null, 2) + '\n'
      : formatStatusTable(tables, sources) + formatProcesses(processes) + formatQuota(quota),
  );
  return 0;
}

export const statusCommand: Command = {
  name: 'status',
  async run(argv, env) {
    const flags = parseFlags(argv, { json: { type: 'boolean' } }, HELP);
    if (flags.help) return 0;
    const config = parseConfig(env);
    // One connection: its few reads queue on it rather than each opening (and authenticating) one.
    const { db, close } = await openCommandDatabase(config, { max: 1 });
    try {
      return await printStatus(db, { json: flags.values.json === true, quota: quotaSettingsOf(config) });
    } finally {
      await close();
    }
  },
};
