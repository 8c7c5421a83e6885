import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BaseSchema } from '../../src/airtable/types.ts';
import type { Database } from '../../src/db/database.ts';
import { sql } from '../../src/db/sql.ts';
import {
  alterTable,
  buildBaseMapping,
  createMirrorTables,
  diffMappings,
  prepareSwapSchema,
  promoteTables,
  saveMapping,
  type BaseMapping,
} from '../../src/mirror/index.ts';
import { createTestDatabase } from '../support/db.ts';
import { readerRole } from '../sync/readers.ts';

/**
 * Reader objects carried over (src/mirror/dependents.ts, restore.ts, promote.ts, alter.ts): every
 * kind a reader builds on a mirror table, through a promote that replaces the table and through
 * a column dropped in place — what can survive does, with its owner, grants, options, comments
 * and state; what cannot is reported; airmirror's own trigger is not taken for a reader's.
 */
let db: Database;
const role = readerRole();
const SOURCE = 'src_deps';

const base = (extra: BaseSchema['tables'][0]['fields'] = []): BaseSchema => ({
  tables: [
    {
      id: 'tblDeps0000000001',
      name: 'Items',
      primaryFieldId: 'fldName',
      views: [],
      fields: [
        { id: 'fldName', name: 'Name', type: 'singleLineText' },
        { id: 'fldQty', name: 'Qty', type: 'number', options: { precision: 0 } },
        { id: 'fldNote', name: 'Note', type: 'multilineText' },
        ...extra,
      ],
    },
  ],
});

const q = (text: string) => db.query(sql(text));
const one = async <T>(text: string, values: unknown[] = []) =>
  (await db.query(sql(text, values))).rows[0] as T;

let mapping: BaseMapping;

beforeAll(async () => {
  ({ db } = await createTestDatabase());
  await q(
    `INSERT INTO airmirror.sources (id, base_id, schema_name) VALUES ('${SOURCE}', 'appDEPS0000000001', 'deps')`,
  );
  mapping = buildBaseMapping('deps', base());
  await createMirrorTables(db, mapping);
  await saveMapping(db, SOURCE, mapping);
  await q(
    `INSERT INTO deps.items (id, created_time, name, qty, note) VALUES ('rec1', now(), 'a', 1, 'x'), ('rec2', now(), 'b', 2, 'y')`,
  );
  await q(`CREATE ROLE ${role}`);
  await q(`CREATE SCHEMA rpt`);
  await q(`GRANT USAGE ON SCHEMA deps TO ${role}`);
  await q(`GRANT SELECT, INSERT ON deps.items TO ${role} WITH GRANT OPTION`);
  await q(`GRANT UPDATE (note) ON deps.items TO ${role}`);
  await q(`CREATE VIEW rpt.items_v WITH (security_barrier = true) AS SELECT id, name, qty FROM deps.items`);
  await q(`ALTER VIEW rpt.items_v OWNER TO ${role}`);
  await q(`COMMENT ON VIEW rpt.items_v IS 'the items'`);
  await q(`COMMENT ON COLUMN rpt.items_v.qty IS 'how many'`);
  await q(`GRANT SELECT ON rpt.items_v TO PUBLIC`);
  await q(`CREATE VIEW rpt.over_v AS SELECT id FROM rpt.items_v WHERE qty > 1`);
  await q(`CREATE VIEW rpt.notes_v AS SELECT id, note FROM deps.items`);
  await q(`CREATE MATERIALIZED VIEW rpt.qty_m AS SELECT sum(qty) AS s FROM deps.items`);
  await q(`CREATE INDEX qty_m_s ON rpt.qty_m (s)`);
  await q(`CREATE MATERIALIZED VIEW rpt.empty_m AS SELECT id FROM deps.items WITH NO DATA`);
  await q(`CREATE INDEX items_name_lower ON deps.items (lower(name))`);
  await q(`COMMENT ON INDEX deps.items_name_lower IS 'search'`);
  await q(`ALTER TABLE deps.items ADD CONSTRAINT qty_positive CHECK (qty > 0)`);
  await q(`ALTER TABLE deps.items ADD CONSTRAINT name_unique UNIQUE (name)`);
  await q(`ALTER TABLE deps.items ENABLE ROW LEVEL SECURITY`);
  await q(`ALTER TABLE deps.items FORCE ROW LEVEL SECURITY`);
  await q(`CREATE POLICY mine ON deps.items AS RESTRICTIVE FOR SELECT TO ${role}, PUBLIC USING (qty < 100)`);
  await q(`CREATE FUNCTION rpt.noop() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$`);
  await q(`CREATE TRIGGER items_noop BEFORE INSERT ON deps.items FOR EACH ROW EXECUTE FUNCTION rpt.noop()`);
  await q(`ALTER TABLE deps.items DISABLE TRIGGER items_noop`);
  await q(
    `CREATE TRIGGER airmirror_own BEFORE DELETE ON deps.items FOR EACH STATEMENT EXECUTE FUNCTION rpt.noop()`,
  );
  await q(`CREATE TABLE rpt.orders (id text PRIMARY KEY, item text REFERENCES deps.items (id))`);
  await q(`INSERT INTO rpt.orders VALUES ('o1', 'rec1')`);
});

afterAll(async () => {
  await db.query(sql(`DROP OWNED BY ${role}`)).catch(() => undefined);
  await db.query(sql(`DROP ROLE IF EXISTS ${role}`)).catch(() => undefined);
});

/** Everything the catalog says of the objects above, in one comparable shape. */
async function snapshot() {
  return one<Record<string, unknown>>(
    `SELECT
       (SELECT pg_get_userbyid(relowner) FROM pg_class WHERE oid = 'rpt.items_v'::regclass) AS view_owner,
       (SELECT reloptions FROM pg_class WHERE oid = 'rpt.items_v'::regclass) AS view_options,
       obj_description('rpt.items_v'::regclass, 'pg_class') AS view_comment,
       col_description('rpt.items_v'::regclass, 3) AS view_column_comment,
       has_table_privilege('public', 'rpt.items_v', 'SELECT') AS view_public,
       to_regclass('rpt.over_v') IS NOT NULL AS over_v,
       (SELECT relispopulated FROM pg_class WHERE oid = 'rpt.qty_m'::regclass) AS qty_m_populated,
       (SELECT s FROM rpt.qty_m) AS qty_m_sum,
       to_regclass('rpt.qty_m_s') IS NOT NULL AS qty_m_index,
       (SELECT relispopulated FROM pg_class WHERE oid = 'rpt.empty_m'::regclass) AS empty_m_populated,
       obj_description(to_regclass('deps.items_name_lower'), 'pg_class') AS index_comment,
       (SELECT array_agg(conname ORDER BY conname) FROM pg_constraint WHERE conrelid = 'deps.items'::regclass AND contype IN ('c', 'u')) AS constraints,
       (SELECT relrowsecurity AND relforcerowsecurity FROM pg_class WHERE oid = 'deps.items'::regclass) AS rls,
       (SELECT format('%s %s %s %s', polname, polpermissive, polcmd, pg_get_expr(polqual, polrelid)) FROM pg_policy WHERE polrelid = 'deps.items'::regclass) AS policy,
       (SELECT array_agg(tgname || ':' || tgenabled::text ORDER BY tgname) FROM pg_trigger WHERE tgrelid = 'deps.items'::regclass AND NOT tgisinternal) AS triggers,
       has_table_privilege('${role}', 'deps.items', 'INSERT WITH GRANT OPTION') AS grant_option,
       (SELECT count(*) FROM information_schema.column_privileges WHERE grantee = '${role}'
         AND table_name = 'items' AND column_name = 'note' AND privilege_type = 'UPDATE') = 1 AS column_grant,
       (SELECT count(*)::int FROM pg_constraint WHERE conrelid = 'rpt.orders'::regclass AND contype = 'f') AS foreign_keys`,
  );
}

describe('reader objects', () => {
  it('are carried over when the table is filled again and swapped in, with everything they had', async () => {
    const before = await snapshot();
    expect(before).toMatchObject({ view_owner: role, over_v: true, qty_m_index: true, foreign_keys: 1 });
    const swap = await prepareSwapSchema(db, 'deps');
    await createMirrorTables(db, mapping, { schema: swap });
    await q(
      `INSERT INTO ${swap}.items (id, created_time, name, qty, note) SELECT id, created_time, name, qty, note FROM deps.items`,
    );
    const result = await promoteTables(db, {
      sourceId: SOURCE,
      schema: 'deps',
      tables: mapping.tables,
      live: new Map([[mapping.tables[0].tableId, mapping.tables[0]]]),
      positions: new Map([[mapping.tables[0].tableId, 1]]),
      hash: mapping.hash,
      events: false,
    });
    expect(result.lost).toEqual([]);
    const after = await snapshot();
    // airmirror's own trigger (the direct-write guard) is made by the promote on the live table,
    // enabled, not carried over as a reader's; the reader's keeps its disabled state.
    expect(after.triggers).toEqual(['airmirror_guard:O', 'items_noop:D']);
    expect({ ...after, triggers: null }).toEqual({ ...before, triggers: null });
  });

  it('that depend on a column dropped in place are reported; the rest stay as they are', async () => {
    const viewOid = await one<{ o: number }>(`SELECT 'rpt.items_v'::regclass::oid::int AS o`);
    const next = buildBaseMapping(
      'deps',
      { tables: [{ ...base().tables[0], fields: base().tables[0].fields.slice(0, 2) }] },
      mapping,
    );
    const plan = diffMappings(mapping, next).tables[0];
    expect(plan.dropped.map((c) => c.column)).toEqual(['note']);
    const lost = await alterTable(db, {
      sourceId: SOURCE,
      schema: 'deps',
      plan,
      position: 1,
      hash: next.hash,
    });
    expect(lost).toEqual([expect.objectContaining({ kind: 'view', name: 'rpt.notes_v', dropped: true })]);
    expect((await one<{ o: number }>(`SELECT 'rpt.items_v'::regclass::oid::int AS o`)).o).toBe(viewOid.o);
    expect(await snapshot()).toMatchObject({
      over_v: true,
      qty_m_index: true,
      foreign_keys: 1,
      column_grant: false,
    });
    mapping = next;
  });

  it('that cannot survive a retype are reported, the others made again on the new type', async () => {
    // Qty number → long text: by a cast, in place; the check, the sum and the policy's comparison
    // cannot hold on text and are reported; the views that only select it are made again.
    const next = buildBaseMapping(
      'deps',
      {
        tables: [
          {
            ...base().tables[0],
            fields: [base().tables[0].fields[0], { id: 'fldQty', name: 'Qty', type: 'multilineText' }],
          },
        ],
      },
      mapping,
    );
    const plan = diffMappings(mapping, next).tables[0];
    expect(plan.retyped.map((r) => r.how)).toEqual(['cast']);
    await q('ALTER TABLE deps.items DROP CONSTRAINT qty_positive');
    const lost = await alterTable(db, {
      sourceId: SOURCE,
      schema: 'deps',
      plan,
      position: 1,
      hash: next.hash,
    });
    const names = lost.map((o) => o.name).sort();
    expect(names).toEqual(expect.arrayContaining(['rpt.over_v', 'rpt.qty_m']));
    expect(lost.find((o) => o.name === 'rpt.qty_m')?.reason).toMatch(/sum/);
    const type = await one<{ t: string }>(
      `SELECT format_type(atttypid, atttypmod) AS t FROM pg_attribute WHERE attrelid = 'deps.items'::regclass AND attname = 'qty'`,
    );
    expect(type.t).toBe('text');
    expect(await one<{ r: string | null }>(`SELECT to_regclass('rpt.items_v')::text AS r`)).toEqual({
      r: 'rpt.items_v',
    });
    expect(
      (
        await one<{ o: string }>(
          `SELECT pg_get_userbyid(relowner) AS o FROM pg_class WHERE oid = 'rpt.items_v'::regclass`,
        )
      ).o,
    ).toBe(role);
  });
});
