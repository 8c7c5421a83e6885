/**
 * What SQL readers build on mirror tables, read from the catalog so a schema change can carry it
 * over (docs/schema-changes.md, invariant 10): views and materialized views over the tables (and
 * views over those), with their options, owners, grants, comments, indexes and triggers; and on
 * the tables themselves indexes, constraints, row-level security (the flags and every policy),
 * triggers, grants (table and column), and foreign keys of other tables that reference them.
 *
 * Each object is captured as the statements that make it again (pg_get_viewdef, pg_get_indexdef,
 * pg_get_triggerdef, pg_get_constraintdef, the policy's pg_get_expr texts, aclexplode of relacl).
 * The capture runs with `search_path = pg_catalog, pg_temp`, so every name in those texts comes
 * out schema-qualified and means the same when it is run again in the same transaction.
 *
 * airmirror's own objects are not readers': its triggers (named `airmirror…`, or running a
 * function of the `airmirror` schema) are made by airmirror with the table, and the table's and
 * columns' comments are the mapping's.
 */
import type { Queryable } from '../db/database.ts';
import { quoteIdent, quoteQualified } from '../db/quote.ts';
import { sql } from '../db/sql.ts';

/** One reader object: how to make it again, and how to tell whether it still exists. */
export interface ReaderObject {
  kind: 'view' | 'materialized view' | 'index' | 'constraint' | 'policy' | 'trigger' | 'foreign key';
  /** Qualified display name, e.g. `reporting.recent` or `policy own_rows on demo.customers`. */
  name: string;
  /** pg_class / pg_policy / pg_trigger / pg_constraint oid, by `catalog`. */
  oid: number;
  catalog: 'pg_class' | 'pg_policy' | 'pg_trigger' | 'pg_constraint';
  /** The statement that makes it; if it fails, the object is gone. */
  create: string;
  /** What it had besides (owner, grants, comments, options): failures are warnings, it stays. */
  extras: string[];
  /** Creation order: table objects 0, views by depth over the tables, foreign keys last. */
  order: number;
  /** The view an index or trigger belongs to: if the view cannot be made again, neither can it. */
  parent?: number;
}

/** A mirror table's own properties a replacement table must get again. */
export interface TableProperties {
  schema: string;
  table: string;
  /** GRANT statements for the table and its columns (privileges of others than its owner). */
  grants: string[];
  rowSecurity: boolean;
  forceRowSecurity: boolean;
}

export interface Captured {
  tables: TableProperties[];
  objects: ReaderObject[];
}

/** A reader object a change could not keep, or kept without some of what it had. */
export interface LostObject {
  kind: ReaderObject['kind'];
  name: string;
  /** Dropped, or kept but without e.g. its owner. */
  dropped: boolean;
  reason: string;
}

export const REL = (t: { schema: string; table: string }) => quoteQualified(t.schema, t.table);

/** Reader objects on `tables` (and on views over them). Call inside `qualifiedNames` (restore.ts). */
export async function captureDependents(
  q: Queryable,
  tables: readonly { schema: string; table: string }[],
): Promise<Captured> {
  const oids: number[] = [];
  const props: TableProperties[] = [];
  for (const t of tables) {
    const r = await q.query<{ oid: number | null; rls: boolean; force: boolean }>(
      sql(
        `SELECT c.oid::int AS oid, c.relrowsecurity AS rls, c.relforcerowsecurity AS force
           FROM pg_class c WHERE c.oid = to_regclass($1)`,
        [REL(t)],
      ),
    );
    const row = r.rows[0];
    if (!row?.oid) continue;
    oids.push(row.oid);
    props.push({
      schema: t.schema,
      table: t.table,
      grants: await grantStatements(q, row.oid, REL(t), 'TABLE'),
      rowSecurity: row.rls,
      forceRowSecurity: row.force,
    });
  }
  if (oids.length === 0) return { tables: props, objects: [] };
  const objects: ReaderObject[] = [
    ...(await indexesOn(q, oids, 0)),
    ...(await constraintsOn(q, oids)),
    ...(await policiesOn(q, oids)),
    ...(await triggersOn(q, oids, 0)),
  ];
  const views = await viewsOver(q, oids);
  for (const v of views) objects.push(...(await viewObjects(q, v)));
  objects.push(...(await foreignKeysTo(q, oids, views.length + 1)));
  return { tables: props, objects };
}

interface ViewRow {
  oid: number;
  depth: number;
  kind: string;
  schema: string;
  name: string;
  owner: string;
  def: string;
  options: string[] | null;
  populated: boolean;
  comment: string | null;
}

/** Views and materialized views over the tables, and over those, deepest last. */
async function viewsOver(q: Queryable, oids: number[]): Promise<ViewRow[]> {
  const r = await q.query<ViewRow>(
    sql(
      `WITH RECURSIVE dep(oid, depth) AS (
         SELECT DISTINCT rw.ev_class, 1 FROM pg_depend d JOIN pg_rewrite rw ON rw.oid = d.objid
          WHERE d.classid = 'pg_rewrite'::regclass AND d.refclassid = 'pg_class'::regclass
            AND d.refobjid = ANY($1::oid[]) AND rw.ev_class <> ALL($1::oid[])
         UNION
         SELECT rw.ev_class, dep.depth + 1 FROM dep
           JOIN pg_depend d ON d.refobjid = dep.oid AND d.refclassid = 'pg_class'::regclass
                           AND d.classid = 'pg_rewrite'::regclass
           JOIN pg_rewrite rw ON rw.oid = d.objid
          WHERE rw.ev_class <> dep.oid AND dep.depth < 50
       )
       SELECT c.oid::int AS oid, max(dep.depth)::int AS depth, c.relkind::text AS kind,
              n.nspname AS schema, c.relname AS name, pg_get_userbyid(c.relowner) AS owner,
              pg_get_viewdef(c.oid) AS def, c.reloptions AS options, c.relispopulated AS populated,
              obj_description(c.oid, 'pg_class') AS comment
         FROM dep JOIN pg_class c ON c.oid = dep.oid JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE c.relkind IN ('v', 'm')
        GROUP BY c.oid, c.relkind, n.nspname, c.relname, c.relowner, c.reloptions, c.relispopulated
        ORDER BY 2, 4, 5`,
      [oids],
    ),
  );
  return r.rows;
}

async function viewObjects(q: Queryable, v: ViewRow): Promise<ReaderObject[]> {
  const rel = quoteQualified(v.schema, v.name);
  const matview = v.kind === 'm';
  const def = v.def.trim().replace(/;$/, '');
  const withOpts = v.options && v.options.length > 0 ? ` WITH (${v.options.join(', ')})` : '';
  const create = matview
    ? `CREATE MATERIALIZED VIEW ${rel}${withOpts} AS ${def} WITH ${v.populated ? '' : 'NO '}DATA`
    : `CREATE VIEW ${rel}${withOpts} AS ${def}`;
  const what = matview ? 'MATERIALIZED VIEW' : 'VIEW';
  const extras = [
    `ALTER ${what} ${rel} OWNER TO ${quoteIdent(v.owner)}`,
    ...(await grantStatements(q, v.oid, rel, 'TABLE')),
    ...(v.comment === null ? [] : [`COMMENT ON ${what} ${rel} IS ${literal(v.comment)}`]),
    ...(await columnComments(q, v.oid, rel)),
  ];
  const view: ReaderObject = {
    kind: matview ? 'materialized view' : 'view',
    name: `${v.schema}.${v.name}`,
    oid: v.oid,
    catalog: 'pg_class',
    create,
    extras,
    order: v.depth,
  };
  // A materialized view's indexes, and a view's INSTEAD OF triggers, go with it.
  const own = [...(await indexesOn(q, [v.oid], v.depth)), ...(await triggersOn(q, [v.oid], v.depth))];
  return [view, ...own.map((o) => ({ ...o, parent: v.oid }))];
}

async function indexesOn(q: Queryable, oids: number[], order: number): Promise<ReaderObject[]> {
  const r = await q.query<{ oid: number; schema: string; name: string; def: string; comment: string | null }>(
    sql(
      `SELECT c.oid::int AS oid, n.nspname AS schema, c.relname AS name, pg_get_indexdef(i.indexrelid) AS def,
              obj_description(c.oid, 'pg_class') AS comment
         FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE i.indrelid = ANY($1::oid[]) AND NOT i.indisprimary
          AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid)
        ORDER BY c.relname`,
      [oids],
    ),
  );
  return r.rows.map((x) => ({
    kind: 'index' as const,
    name: `${x.schema}.${x.name}`,
    oid: x.oid,
    catalog: 'pg_class' as const,
    create: x.def,
    extras:
      x.comment === null
        ? []
        : [`COMMENT ON INDEX ${quoteQualified(x.schema, x.name)} IS ${literal(x.comment)}`],
    order,
  }));
}

/** Check, unique and exclusion constraints readers added (not the primary key, not NOT NULL). */
async function constraintsOn(q: Queryable, oids: number[]): Promise<ReaderObject[]> {
  const r = await q.query<{ oid: number; name: string; rel: string; def: string }>(
    sql(
      `SELECT k.oid::int AS oid, k.conname AS name, k.conrelid::regclass::text AS rel,
              pg_get_constraintdef(k.oid) AS def
         FROM pg_constraint k
        WHERE k.conrelid = ANY($1::oid[]) AND k.contype IN ('c', 'u', 'x') ORDER BY k.conname`,
      [oids],
    ),
  );
  return r.rows.map((x) => ({
    kind: 'constraint' as const,
    name: `constraint ${x.name} on ${x.rel}`,
    oid: x.oid,
    catalog: 'pg_constraint' as const,
    create: `ALTER TABLE ${x.rel} ADD CONSTRAINT ${quoteIdent(x.name)} ${x.def}`,
    extras: [],
    order: 0,
  }));
}

async function policiesOn(q: Queryable, oids: number[]): Promise<ReaderObject[]> {
  const r = await q.query<{
    oid: number;
    name: string;
    rel: string;
    permissive: boolean;
    cmd: string;
    roles: string;
    qual: string | null;
    check: string | null;
  }>(
    sql(
      `SELECT p.oid::int AS oid, p.polname AS name, p.polrelid::regclass::text AS rel,
              p.polpermissive AS permissive, p.polcmd::text AS cmd,
              (SELECT string_agg(CASE WHEN r = 0 THEN 'PUBLIC' ELSE quote_ident(pg_get_userbyid(r)) END, ', ')
                 FROM unnest(p.polroles) AS r) AS roles,
              pg_get_expr(p.polqual, p.polrelid) AS qual, pg_get_expr(p.polwithcheck, p.polrelid) AS check
         FROM pg_policy p WHERE p.polrelid = ANY($1::oid[]) ORDER BY p.polname`,
      [oids],
    ),
  );
  const CMD: ReadonlyMap<string, string> = new Map([
    ['*', 'ALL'],
    ['r', 'SELECT'],
    ['a', 'INSERT'],
    ['w', 'UPDATE'],
    ['d', 'DELETE'],
  ]);
  return r.rows.map((x) => ({
    kind: 'policy' as const,
    name: `policy ${x.name} on ${x.rel}`,
    oid: x.oid,
    catalog: 'pg_policy' as const,
    create:
      `CREATE POLICY ${quoteIdent(x.name)} ON ${x.rel} AS ${x.permissive ? 'PERMISSIVE' : 'RESTRICTIVE'}` +
      ` FOR ${CMD.get(x.cmd) ?? 'ALL'} TO ${x.roles || 'PUBLIC'}` +
      (x.qual === null ? '' : ` USING (${x.qual})`) +
      (x.check === null ? '' : ` WITH CHECK (${x.check})`),
    extras: [],
    order: 0,
  }));
}

async function triggersOn(q: Queryable, oids: number[], order: number): Promise<ReaderObject[]> {
  const r = await q.query<{ oid: number; name: string; rel: string; def: string; enabled: string }>(
    sql(
      `SELECT t.oid::int AS oid, t.tgname AS name, t.tgrelid::regclass::text AS rel,
              pg_get_triggerdef(t.oid) AS def, t.tgenabled::text AS enabled
         FROM pg_trigger t JOIN pg_proc f ON f.oid = t.tgfoid JOIN pg_namespace fn ON fn.oid = f.pronamespace
        WHERE t.tgrelid = ANY($1::oid[]) AND NOT t.tgisinternal
          AND t.tgname NOT LIKE 'airmirror%' AND fn.nspname <> 'airmirror'
        ORDER BY t.tgname`,
      [oids],
    ),
  );
  const ENABLE: ReadonlyMap<string, string> = new Map([
    ['D', 'DISABLE TRIGGER'],
    ['R', 'ENABLE REPLICA TRIGGER'],
    ['A', 'ENABLE ALWAYS TRIGGER'],
  ]);
  return r.rows.map((x) => {
    const mode = ENABLE.get(x.enabled);
    return {
      kind: 'trigger' as const,
      name: `trigger ${x.name} on ${x.rel}`,
      oid: x.oid,
      catalog: 'pg_trigger' as const,
      create: x.def,
      extras: mode ? [`ALTER TABLE ${x.rel} ${mode} ${quoteIdent(x.name)}`] : [],
      order,
    };
  });
}

/** Foreign keys of other tables that reference the mirror tables (a reader's `REFERENCES customers`). */
async function foreignKeysTo(q: Queryable, oids: number[], order: number): Promise<ReaderObject[]> {
  const r = await q.query<{ oid: number; name: string; rel: string; def: string }>(
    sql(
      `SELECT k.oid::int AS oid, k.conname AS name, k.conrelid::regclass::text AS rel,
              pg_get_constraintdef(k.oid) AS def
         FROM pg_constraint k
        WHERE k.confrelid = ANY($1::oid[]) AND k.contype = 'f' AND k.conrelid <> ALL($1::oid[])
        ORDER BY k.conname`,
      [oids],
    ),
  );
  return r.rows.map((x) => ({
    kind: 'foreign key' as const,
    name: `foreign key ${x.name} on ${x.rel}`,
    oid: x.oid,
    catalog: 'pg_constraint' as const,
    create: `ALTER TABLE ${x.rel} ADD CONSTRAINT ${quoteIdent(x.name)} ${x.def}`,
    extras: [],
    order,
  }));
}

/** GRANTs of a relation and its columns to others than its owner, from relacl / attacl. */
async function grantStatements(q: Queryable, oid: number, rel: string, what: 'TABLE'): Promise<string[]> {
  const r = await q.query<{ grantee: string; privilege: string; grantable: boolean; col: string | null }>(
    sql(
      `SELECT CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE quote_ident(pg_get_userbyid(a.grantee)) END AS grantee,
              a.privilege_type AS privilege, a.is_grantable AS grantable, NULL::text AS col
         FROM pg_class c, aclexplode(c.relacl) a WHERE c.oid = $1 AND a.grantee <> c.relowner
       UNION ALL
       SELECT CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE quote_ident(pg_get_userbyid(a.grantee)) END,
              a.privilege_type, a.is_grantable, quote_ident(att.attname)
         FROM pg_attribute att JOIN pg_class c ON c.oid = att.attrelid, aclexplode(att.attacl) a
        WHERE att.attrelid = $1 AND att.attnum > 0 AND NOT att.attisdropped AND a.grantee <> c.relowner
       ORDER BY 1, 4 NULLS FIRST, 2`,
      [oid],
    ),
  );
  return r.rows.map(
    (g) =>
      `GRANT ${g.privilege}${g.col ? ` (${g.col})` : ''} ON ${what} ${rel} TO ${g.grantee}` +
      (g.grantable ? ' WITH GRANT OPTION' : ''),
  );
}

async function columnComments(q: Queryable, oid: number, rel: string): Promise<string[]> {
  const r = await q.query<{ col: string; comment: string }>(
    sql(
      `SELECT a.attname AS col, col_description($1, a.attnum) AS comment FROM pg_attribute a
        WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped AND col_description($1, a.attnum) IS NOT NULL
        ORDER BY a.attnum`,
      [oid],
    ),
  );
  return r.rows.map((c) => `COMMENT ON COLUMN ${rel}.${quoteIdent(c.col)} IS ${literal(c.comment)}`);
}

/** A string literal for texts read from the catalog (COMMENT takes no parameters). */
function literal(s: string): string {
  return `'${s.replace(/'/g, "''")}'`;
}
