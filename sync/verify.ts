import type { Database } from '../src/db/database.ts';
import {
  buildBaseMapping,
  compareWithMirror,
  convertRecord,
  loadMapping,
  requestedFields,
  unseenRows,
} from '../src/mirror/index.ts';
import { tableSelection } from '../src/bookkeeping/schema-state.ts';
import type { ConvertedRecord, TableMapping } from '../src/mirror/types.ts';
import { loadSource } from '../src/bookkeeping/sources.ts';
import type { SyncClient } from './strategy.ts';
import { DEFAULT_MAX_RESTARTS, isListingRestart } from './sweep.ts';

/** What `verify` found for one table. */
export interface TableDrift {
  tableId: string;
  tableName: string;
  mirrorTable: string;
  /** Records listed from Airtable. */
  airtable: number;
  /** Rows in the mirror table. */
  mirror: number;
  /** In Airtable, not in the mirror. */
  missing: number;
  /** In the mirror, not in Airtable. */
  extra: number;
  /** In both, with at least one converted value different. */
  different: number;
  examples: {
    missing: string[];
    extra: string[];
    different: { id: string; columns: string[] }[];
  };
}

export interface VerifyReport {
  sourceId: string;
  baseId: string;
  schema: string;
  /** The live base schema hashes to the one the mirror was built from. */
  schemaMatches: boolean;
  /** Airtable tables the mirror has no table for (and mirror tables Airtable no longer has). */
  unmirroredTables: string[];
  tables: TableDrift[];
  /** missing + extra + different over all tables, plus 1 per schema mismatch / unmirrored table. */
  drift: number;
}

export interface VerifyOptions {
  /** Examples kept per kind and table. Default 5. */
  examples?: number;
  signal?: AbortSignal;
  /** Only these Airtable table ids. */
  tableIds?: string[];
}

/** Rows compared per statement. */
const CHUNK = 2000;

/**
 * Compares Airtable with the mirror record by record. Each listed record goes through the
 * mirror's own `convertRecord` (the values the write path would store), and the comparison runs
 * in Postgres with the same column types (`IS DISTINCT FROM` per column), so "different" means
 * the mirror row really differs from what Airtable says now — no JS re-implementation of numeric,
 * timestamp or jsonb equality. Read-only: it writes nothing anywhere.
 */
export async function verifySource(
  deps: { db: Database; client: SyncClient },
  sourceId: string,
  opts: VerifyOptions = {},
): Promise<VerifyReport> {
  const { db, client } = deps;
  const source = await loadSource(db, sourceId);
  if (!source) throw new Error(`source ${sourceId} is not configured`);
  const mapping = await loadMapping(db, sourceId);
  const baseSchema = await client.getBaseSchema(source.baseId, { signal: opts.signal });
  // The layout the base asks for now, with what the operator excluded left out.
  const selection = await tableSelection(db, sourceId);
  const liveHash = buildBaseMapping(source.schemaName, baseSchema, mapping, selection).hash;
  const report: VerifyReport = {
    sourceId,
    baseId: source.baseId,
    schema: source.schemaName,
    schemaMatches: mapping?.hash === liveHash,
    unmirroredTables: [],
    tables: [],
    drift: 0,
  };
  const mirrored = new Map((mapping?.tables ?? []).map((t) => [t.tableId, t]));
  const live = new Set(baseSchema.tables.map((t) => t.id));
  for (const t of baseSchema.tables) {
    if (!mirrored.has(t.id) && !selection.excludedTables.has(t.id)) report.unmirroredTables.push(t.id);
  }
  for (const t of mapping?.tables ?? []) if (!live.has(t.tableId)) report.unmirroredTables.push(t.tableId);

  for (const table of mapping?.tables ?? []) {
    if (!live.has(table.tableId)) continue;
    if (opts.tableIds && !opts.tableIds.includes(table.tableId)) continue;
    report.tables.push(await verifyTable(db, client, source.baseId, table, opts));
  }
  report.drift =
    report.tables.reduce((n, t) => n + t.missing + t.extra + t.different, 0) +
    report.unmirroredTables.length +
    (report.schemaMatches ? 0 : 1);
  return report;
}

async function verifyTable(
  db: Database,
  client: SyncClient,
  baseId: string,
  table: TableMapping,
  opts: VerifyOptions,
): Promise<TableDrift> {
  const keep = Math.max(0, Math.trunc(opts.examples ?? 5));
  for (let attempt = 0; ; attempt++) {
    const drift: TableDrift = {
      tableId: table.tableId,
      tableName: table.tableName,
      mirrorTable: table.table,
      airtable: 0,
      mirror: 0,
      missing: 0,
      extra: 0,
      different: 0,
      examples: { missing: [], extra: [], different: [] },
    };
    const seen: string[] = [];
    try {
      let chunk: ConvertedRecord[] = [];
      const flush = async () => {
        if (chunk.length === 0) return;
        await compareChunk(db, table, chunk, drift, keep);
        chunk = [];
      };
      for await (const page of client.listAllRecords(
        baseId,
        table.tableId,
        { pageSize: 100, returnFieldsByFieldId: true, fields: requestedFields(table) },
        { signal: opts.signal },
      )) {
        for (const r of page.records) {
          chunk.push(convertRecord(table, r, 'id'));
          seen.push(r.id);
        }
        drift.airtable += page.records.length;
        if (chunk.length >= CHUNK) await flush();
      }
      await flush();
    } catch (err) {
      if (isListingRestart(err) && attempt < DEFAULT_MAX_RESTARTS) continue;
      throw err;
    }
    const extra = await unseenRows(db, table, seen, keep);
    drift.extra = extra.count;
    drift.mirror = extra.total;
    drift.examples.extra = extra.examples;
    return drift;
  }
}

async function compareChunk(
  db: Database,
  table: TableMapping,
  chunk: ConvertedRecord[],
  drift: TableDrift,
  keep: number,
): Promise<void> {
  const names = ['created_time', ...table.columns.map((c) => c.column)];
  for (const row of await compareWithMirror(db, table, chunk)) {
    if (row.missing) {
      drift.missing++;
      if (drift.examples.missing.length < keep) drift.examples.missing.push(row.id);
    } else {
      drift.different++;
      if (drift.examples.different.length < keep) {
        drift.examples.different.push({ id: row.id, columns: (row.diff ?? []).map((k) => names[k - 1]) });
      }
    }
  }
}
