import pg from 'pg';
import type { AirtableRecord } from '../airtable/types.ts';
import type { Database } from '../db/database.ts';
import { quoteIdent, quoteQualified } from '../db/quote.ts';
import { sql } from '../db/sql.ts';
import { convertRecord } from './convert.ts';
import { copyColumns, copyLine } from './copy-text.ts';
import type { TableMapping } from './types.ts';

/**
 * Filling a table of `<schema>_swap` during a rebuild (sync/rebuild.ts). The write path's upsert
 * (applyRecords) does work a swap table does not need, and at 10k records it dominated a first
 * sync: the table advisory lock and its transaction, the join against the row fence, and a join
 * against the target to skip identical rows. None of it protects anything here:
 * - nobody else writes a swap table (the proxy and webhooks write the live tables), so no lock;
 * - rows the proxy or a webhook wrote since the rebuild began are fetched again by id right after
 *   the promote (catchUpFenced, from the fence taken before the rebuild started, which is older
 *   than any page's), so the fence need not be consulted per row; the hash cache forgets them
 *   there, and the next sweep forgets them too if that catch-up fails (its fence mark);
 * - the table starts empty, so a batch is a plain COPY (its own implicit transaction, one round
 *   trip). COPY costs Postgres about a third of an INSERT from a jsonb array of the same rows, and
 *   the rows go out as bytes encoded page by page, not as one big string held until the write.
 * A record listed twice (a later page repeating it; Airtable's listing can, when records change
 * under it) still ends as its last listed version: a batch holding an id twice, or a COPY refused
 * for an id already in the table, is written through a staging table instead — COPY into it, then
 * one INSERT … ON CONFLICT DO UPDATE of the last version of each id, in one transaction.
 */

/** Characters of COPY text gathered before they are encoded to bytes (a page is ~60–80 K). */
const CHUNK_CHARS = 64 * 1024;
/** The staging table's ordinal column: not a snake_case name, so never a mirror column. */
const ORD = quoteIdent('airmirror ord');
const STAGE = quoteIdent('airmirror_fill_stage');

export interface FillResult {
  inserted: number;
  updated: number;
  unchanged: number;
  cellErrors: number;
  /** (id, hash) of every record now in the swap table as this batch left it, last version winning. */
  written: [string, number][];
}

export class SwapFillBatch {
  private chunks: Buffer[] = [];
  private text = '';
  private ids: string[] = [];
  private hashes: number[] = [];
  private idSet = new Set<string>();
  private repeated = false;
  private cellErrors = 0;
  private readonly target: string;
  private readonly columns: string;

  constructor(
    private readonly table: TableMapping,
    schema: string,
  ) {
    this.target = quoteQualified(schema, table.table);
    this.columns = copyColumns(table).map(quoteIdent).join(', ');
  }

  /** Records waiting (an id added twice counts twice). */
  get size(): number {
    return this.ids.length;
  }

  /** Converts and encodes `record` now; `hash` is what the cache learns once the batch is written. */
  add(record: AirtableRecord, hash: number): void {
    const c = convertRecord(this.table, record, 'id');
    this.cellErrors += c.cellErrors;
    if (this.idSet.has(c.id)) this.repeated = true;
    else this.idSet.add(c.id);
    this.ids.push(c.id);
    this.hashes.push(hash);
    this.text += copyLine(c);
    if (this.text.length >= CHUNK_CHARS) this.seal();
  }

  private seal(): void {
    if (this.text.length > 0) this.chunks.push(Buffer.from(this.text, 'utf8'));
    this.text = '';
  }

  /**
   * Writes the waiting records and empties the batch: a COPY, or the staging path when an id
   * repeats (in this batch, or already in the table).
   */
  async write(db: Pick<Database, 'copyFrom'>): Promise<FillResult> {
    this.seal();
    const data = this.chunks;
    const n = this.ids.length;
    const result: FillResult = {
      inserted: 0,
      updated: 0,
      unchanged: 0,
      cellErrors: this.cellErrors,
      written: this.repeated
        ? lastVersions(this.ids, this.hashes)
        : this.ids.map((id, i) => [id, this.hashes[i]]),
    };
    const repeated = this.repeated;
    this.chunks = [];
    this.ids = [];
    this.hashes = [];
    this.idSet = new Set();
    this.repeated = false;
    this.cellErrors = 0;
    if (n === 0) return result;
    if (!repeated) {
      try {
        const { rows } = await db.copyFrom({
          text: `COPY ${this.target} (${this.columns}) FROM STDIN`,
          data,
        });
        result.inserted = rows;
        return result;
      } catch (err) {
        if (!isUniqueViolation(err)) throw err;
        // An id of this batch is already in the table: nothing was copied; upsert instead.
      }
    }
    const { inserted, updated } = await this.upsertThroughStage(db, data);
    result.inserted = inserted;
    result.updated = updated;
    result.unchanged = result.written.length - inserted - updated;
    return result;
  }

  private async upsertThroughStage(
    db: Pick<Database, 'copyFrom'>,
    data: Buffer[],
  ): Promise<{ inserted: number; updated: number }> {
    const cols = copyColumns(this.table).map(quoteIdent);
    const set = cols.filter((c) => c !== quoteIdent('id'));
    const row = (alias: string) => set.map((c) => `${alias}.${c}`).join(', ');
    const copy = { text: `COPY ${STAGE} (${this.columns}) FROM STDIN`, data };
    const { after } = await db.copyFrom(copy, {
      before: [
        sql(`CREATE TEMP TABLE ${STAGE} (LIKE ${this.target}) ON COMMIT DROP`),
        sql(`ALTER TABLE ${STAGE} ADD COLUMN ${ORD} bigint GENERATED ALWAYS AS IDENTITY`),
      ],
      after: [
        sql(`WITH u AS (
          INSERT INTO ${this.target} AS m (${cols.join(', ')})
          SELECT DISTINCT ON (s.id) ${cols.map((c) => `s.${c}`).join(', ')}
          FROM ${STAGE} AS s ORDER BY s.id, s.${ORD} DESC
          ON CONFLICT (id) DO UPDATE SET ${set.map((c) => `${c} = excluded.${c}`).join(', ')}
          WHERE (${row('m')}) IS DISTINCT FROM (${row('excluded')})
          RETURNING (m.xmax = 0) AS inserted
        )
        SELECT count(*) FILTER (WHERE inserted)::int AS inserted,
          count(*) FILTER (WHERE NOT inserted)::int AS updated FROM u`),
      ],
    });
    return after[0].rows[0] as { inserted: number; updated: number };
  }
}

/** Each id once, with its last hash, in the order of last occurrence (as the table ends up). */
function lastVersions(ids: string[], hashes: number[]): [string, number][] {
  const last = new Map<string, number>();
  for (let i = 0; i < ids.length; i++) {
    last.delete(ids[i]);
    last.set(ids[i], hashes[i]);
  }
  return [...last];
}

function isUniqueViolation(err: unknown): boolean {
  return err instanceof pg.DatabaseError && err.code === '23505';
}
