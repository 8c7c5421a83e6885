import type { AirtableRecord } from '../airtable/types.ts';
import type { Queryable } from '../db/database.ts';
import { quoteIdent, quoteQualified } from '../db/quote.ts';
import type { Sql } from '../db/sql.ts';
import { convertRecord } from './convert.ts';
import { jsonbColumns, rowJson } from './apply.ts';
import type { ApplyResult, TableMapping } from './types.ts';

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
 * - the table starts empty: one INSERT per batch, in its own implicit transaction (one round trip).
 * A record listed twice (a later page repeating it) still ends as its last listed version:
 * ON CONFLICT updates it, and an identical repeat is not rewritten.
 */
const statements = new WeakMap<TableMapping, Map<string, string>>();
/**
 * Prepared once per connection (a rebuild writes a table in many batches; planning the wide INSERT
 * each time showed in the 10k benchmark). Named per text, like the write path's statements; the
 * Database drops the name when prepared statements are turned off.
 */
const preparedNames = new Map<string, string>();
function nameFor(text: string): string {
  let name = preparedNames.get(text);
  if (name === undefined) preparedNames.set(text, (name = `airmirror_fill${preparedNames.size + 1}`));
  return name;
}

function fillText(table: TableMapping, schema: string): string {
  let bySchema = statements.get(table);
  if (!bySchema) statements.set(table, (bySchema = new Map()));
  let text = bySchema.get(schema);
  if (text === undefined) {
    const cols = table.columns;
    // Same row shape as the write path's jsonb rows (rowsJson): i, t, c0…cN in column order.
    const defs = ['i text', 't timestamptz', ...cols.map((c, k) => `c${k} ${c.pgType}`)].join(', ');
    const mirrorCols = ['created_time', ...cols.map((c) => quoteIdent(c.column))];
    const row = (alias: string) => mirrorCols.map((c) => `${alias}.${c}`).join(', ');
    text = `WITH u AS (
        INSERT INTO ${quoteQualified(schema, table.table)} AS m (id, ${mirrorCols.join(', ')})
        SELECT x.i, x.t${cols.map((_, k) => `, x.c${k}`).join('')}
        FROM jsonb_to_recordset($1::jsonb) AS x(${defs})
        ON CONFLICT (id) DO UPDATE SET ${mirrorCols.map((c) => `${c} = excluded.${c}`).join(', ')}
        WHERE (${row('m')}) IS DISTINCT FROM (${row('excluded')})
        RETURNING m.id, (m.xmax = 0) AS inserted
      )
      SELECT ARRAY(SELECT u.id FROM u WHERE u.inserted) AS inserted,
        ARRAY(SELECT u.id FROM u WHERE NOT u.inserted) AS updated`;
    bySchema.set(schema, text);
  }
  return text;
}

/**
 * One batch of records bound for a swap table, converted as they are added — page by page while
 * the next page is being fetched, rather than a whole batch at once at write time, when the
 * listing (one request in flight) would wait on the conversion. A record id added twice counts
 * once, its last version winning (as in applyRecords).
 */
export class SwapFillBatch {
  private rows = new Map<string, { json: string; hash: number }>();
  private cellErrors = 0;
  private readonly jsonb: boolean[];

  constructor(
    private readonly table: TableMapping,
    private readonly schema: string,
  ) {
    this.jsonb = jsonbColumns(table);
  }

  /** Distinct records waiting. */
  get size(): number {
    return this.rows.size;
  }

  /** Converts `record` now; `hash` is what the cache learns once the batch is written. */
  add(record: AirtableRecord, hash: number): void {
    const c = convertRecord(this.table, record, 'id');
    this.cellErrors += c.cellErrors;
    this.rows.delete(c.id); // keep the position of the last occurrence
    this.rows.set(c.id, { json: rowJson(c, this.jsonb), hash });
  }

  /** The statement that writes the waiting records (exported shape for tests). */
  statement(): Sql {
    const text = fillText(this.table, this.schema);
    const json = `[${[...this.rows.values()].map((r) => r.json).join(',')}]`;
    return { text, values: [json], name: nameFor(text) };
  }

  /**
   * Writes the waiting records (one statement, its own implicit transaction) and empties the
   * batch. Returns the write's counts and the (id, hash) pairs now in the swap table.
   */
  async write(q: Queryable): Promise<{ result: ApplyResult; written: [string, number][] }> {
    const result: ApplyResult = {
      inserted: 0,
      updated: 0,
      unchanged: 0,
      fencedOut: 0,
      cellErrors: this.cellErrors,
      changedIds: [],
      fencedIds: [],
    };
    const n = this.rows.size;
    const written: [string, number][] = [...this.rows].map(([id, r]) => [id, r.hash]);
    if (n > 0) {
      const r = await q.query<{ inserted: string[]; updated: string[] }>(this.statement());
      const { inserted, updated } = r.rows[0];
      result.inserted = inserted.length;
      result.updated = updated.length;
      result.unchanged = n - inserted.length - updated.length;
      result.changedIds = [...inserted, ...updated];
    }
    this.rows = new Map();
    this.cellErrors = 0;
    return { result, written };
  }
}
