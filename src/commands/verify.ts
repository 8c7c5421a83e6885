import { createAirtableClient, createNodeFetch, createRateBudget } from '../airtable/index.ts';
import { parseConfig } from '../config.ts';
import { openCommandDatabase } from '../db/open.ts';
import { ensureSourcesFromConfig, listSources, tokenResolver } from '../bookkeeping/index.ts';
import { verifySource, type VerifyReport } from '../../sync/verify.ts';
import { parseFlags, UsageError, type Command } from './args.ts';

const HELP = `usage: airmirror verify [--json]

Lists every mirrored table in Airtable and compares it with the mirror record by record (values
converted as the mirror stores them). Reports missing, extra and different records with examples.
Exit 0 when there is no drift, 1 when there is.
  --json   print the report as JSON on stdout`;

export const verifyCommand: Command = {
  name: 'verify',
  async run(argv, env) {
    const flags = parseFlags(argv, { json: { type: 'boolean' } }, HELP);
    if (flags.help) return 0;
    const config = parseConfig(env);
    if (config.bases.length === 0 && !config.secretKey) {
      throw new UsageError('no bases configured: set AIRTABLE_BASES and AIRTABLE_TOKEN');
    }
    const { db, close } = await openCommandDatabase(config);
    const airtableFetch = createNodeFetch();
    try {
      const { tokens } = await ensureSourcesFromConfig(db, config);
      const tokenFor = tokenResolver({ tokens, secretKey: config.secretKey });
      const budget = createRateBudget({ perSecond: config.rateLimitPerSecond });
      const reports: VerifyReport[] = [];
      for (const source of await listSources(db)) {
        const client = createAirtableClient({
          apiUrl: config.airtableApiUrl,
          token: await tokenFor(source),
          fetch: airtableFetch,
          budget,
          timeoutMs: config.upstreamTimeoutMs,
        });
        reports.push(await verifySource({ db, client }, source.id));
      }
      const drift = reports.reduce((n, r) => n + r.drift, 0);
      if (flags.values.json) {
        process.stdout.write(JSON.stringify({ ok: drift === 0, drift, sources: reports }, null, 2) + '\n');
      } else {
        process.stdout.write(reports.map(describe).join('\n') + '\n');
      }
      return drift === 0 ? 0 : 1;
    } finally {
      airtableFetch.close();
      await close();
    }
  },
};

function describe(r: VerifyReport): string {
  const lines = [
    `${r.baseId} → schema ${r.schema}: ${r.drift === 0 ? 'no drift' : `${r.drift} difference(s)`}`,
  ];
  if (!r.schemaMatches) lines.push('  base schema changed since the mirror was built (run a sync)');
  if (r.unmirroredTables.length > 0)
    lines.push(`  tables not mirrored / gone: ${r.unmirroredTables.join(', ')}`);
  for (const t of r.tables) {
    const head = `  ${t.mirrorTable} (${t.tableId}): airtable ${t.airtable}, mirror ${t.mirror}`;
    if (t.missing + t.extra + t.different === 0) {
      lines.push(`${head}, ok`);
      continue;
    }
    lines.push(`${head}, missing ${t.missing}, extra ${t.extra}, different ${t.different}`);
    if (t.examples.missing.length) lines.push(`    missing: ${t.examples.missing.join(', ')}`);
    if (t.examples.extra.length) lines.push(`    extra: ${t.examples.extra.join(', ')}`);
    for (const d of t.examples.different) lines.push(`    different: ${d.id} (${d.columns.join(', ')})`);
  }
  return lines.join('\n');
}
