/**
 * The management API (issue 5), a Hono app the server mounts at `/api`. PostHog-shaped:
 * sources (bases) and schemas (tables' sync configuration) with partial updates and actions.
 * Errors become responses at ONE boundary (`onError` → apiErrorBody). Tokens are encrypted
 * before they are stored and never returned or logged.
 */
import { Hono } from 'hono';
import type { z } from 'zod';
import type { AirtableTable, BaseSchema } from '../airtable/types.ts';
import { quoteIdent } from '../db/quote.ts';
import { sql } from '../db/sql.ts';
import { parseRequest, readJsonBody } from '../validation.ts';
import { AirmirrorError, apiErrorBody, asAirmirrorError, badRequest, conflict, notFound } from '../errors.ts';
import { buildBaseMapping } from '../mirror/mapping.ts';
import { dropMirrorTable, emptyMirrorTable } from '../mirror/ddl.ts';
import { checkBearer } from './auth.ts';
import { incrementalCandidates, syncAvailability } from './candidates.ts';
import type { ApiDeps, BaseSchemaReader } from './deps.ts';
import { CreateSourceRequest, DeleteSourceQuery, ListSchemasQuery, PatchSchemaRequest } from './model.ts';
import { openApiDocument } from './openapi.ts';
import { fieldToValidate, planPatch, refuseCdc } from './rules.ts';
import { serializeSchema, serializeSource } from './serialize.ts';
import { tableStatuses } from './status.ts';
import * as store from './store.ts';
import type { SourceRow, TableRow } from './store.ts';

export type { ApiDeps, TableRunner, AirtableReaderFactory, BaseSchemaReader } from './deps.ts';

export function createApi(deps: ApiDeps): Hono & { settled(): Promise<void> } {
  const { db, secrets } = deps;
  const now = deps.now ?? (() => Date.now());
  const webhooksConfigured = () =>
    Boolean(typeof deps.publicUrl === 'function' ? deps.publicUrl() : deps.publicUrl);
  const app = new Hono();
  /** Work started by a request that outlives it (a new source's first build). */
  const background = new Set<Promise<unknown>>();

  app.onError((err, c) => {
    const e = asAirmirrorError(err);
    if (e.status >= 500) deps.log?.error({ err, code: e.code, path: c.req.path }, 'management API error');
    const headers: Record<string, string> = e.status === 401 ? { 'WWW-Authenticate': 'Bearer' } : {};
    return c.json(apiErrorBody(e), e.status as 400, headers);
  });
  app.notFound((c) => c.json(apiErrorBody(notFound(`No route for ${c.req.method} ${c.req.path}`)), 404));

  // The API's description is public, like the schema of any documented API; everything else is not.
  app.get('/openapi.json', (c) => c.json(openApiDocument()));

  if (deps.adminToken) {
    const token = deps.adminToken;
    app.use('*', async (c, next) => {
      await checkBearer(c.req.header('authorization'), token);
      await next();
    });
  }

  // ---- helpers ------------------------------------------------------------------------------

  const loadSource = async (id: string): Promise<SourceRow> => {
    const s = await store.one<SourceRow>(db, store.getSource(id));
    if (!s) throw notFound(`Source ${id} not found`);
    return s;
  };
  const loadTable = async (id: string): Promise<TableRow> => {
    const t = await store.one<TableRow>(db, store.getTable(id));
    if (!t) throw notFound(`Schema ${id} not found`);
    return t;
  };
  const readerFor = async (s: { id: string; base_id: string; token_encrypted: string | null }) => {
    if (!deps.airtable) {
      throw new AirmirrorError(
        'AIRTABLE_UNAVAILABLE',
        503,
        'No Airtable client is configured in this process',
      );
    }
    const token = s.token_encrypted ? await secrets.decrypt(s.token_encrypted) : undefined;
    return deps.airtable({ id: s.id, baseId: s.base_id }, token);
  };
  const liveTable = async (t: TableRow): Promise<AirtableTable> => {
    const source = await loadSource(t.source_id);
    const schema = await readSchema(await readerFor(source), source.base_id);
    const table = schema.tables.find((x) => x.id === t.table_id);
    if (!table) {
      throw new AirmirrorError(
        'TABLE_VANISHED',
        409,
        `Table ${t.table_id} is no longer in base ${source.base_id}`,
      );
    }
    return table;
  };
  const schemaJson = async (id: string) => serializeSchema(await loadTable(id), now());
  const requireRunner = () => {
    if (!deps.runner)
      throw new AirmirrorError('SCHEDULER_UNAVAILABLE', 503, 'No scheduler runs in this process');
    return deps.runner;
  };
  const isRunning = (t: TableRow) => t.status === 'Running' || (deps.runner?.isRunning(t.id) ?? false);
  const refuseWhileRunning = (t: TableRow, action: string) => {
    if (isRunning(t)) {
      throw new AirmirrorError(
        'SCHEMA_RUNNING',
        409,
        `This table is syncing right now; cancel the run (POST /api/schemas/${t.id}/cancel) or wait for it to finish before ${action}`,
        { details: { hint: 'cancel_or_wait' } },
      );
    }
  };

  // ---- OpenAPI and status ----------------------------------------------------------------------

  app.get('/status', async (c) => {
    const q = parse(ListSchemasQuery, c.req.query());
    return c.json({ tables: await tableStatuses(db, now(), q.source_id) });
  });

  // ---- sources ------------------------------------------------------------------------------

  app.get('/sources', async (c) => {
    const sources = await store.all<SourceRow>(db, store.listSources());
    const tables = await store.all<TableRow>(db, store.listTables());
    const results = sources.map((s) =>
      serializeSource(
        s,
        tables.filter((t) => t.source_id === s.id),
        now(),
      ),
    );
    return c.json({ count: results.length, results });
  });

  app.post('/sources', async (c) => {
    const body = parse(CreateSourceRequest, await readJsonBody(c.req));
    const schemaName = body.schema_name ?? 'public';
    for (const r of await store.all<{ base_id: string; schema_name: string }>(
      db,
      store.sourceConflicts(body.base_id, schemaName),
    )) {
      if (r.base_id === body.base_id) throw conflictOn('base_id', `Base ${body.base_id} is already a source`);
      throw conflictOn('schema_name', `Schema "${schemaName}" already mirrors base ${r.base_id}`);
    }
    // Check the token and base before storing anything (PostHog validates credentials on create).
    let baseSchema: BaseSchema | undefined;
    if (deps.airtable) {
      const reader = deps.airtable({ id: '', baseId: body.base_id }, body.token);
      baseSchema = await readSchema(reader, body.base_id, true);
    }
    const id = crypto.randomUUID();
    const tokenEncrypted = await secrets.encrypt(body.token);
    const row = await store
      .one<SourceRow>(
        db,
        store.insertSource({ id, baseId: body.base_id, schemaName, name: body.name ?? null, tokenEncrypted }),
      )
      .catch((err: unknown) => {
        // A concurrent create of the same base or schema won the race.
        if ((err as { code?: string }).code === '23505') {
          throw conflictOn('base_id', `Base ${body.base_id} or schema "${schemaName}" is already a source`);
        }
        throw err;
      });
    deps.log?.info({ sourceId: id, baseId: body.base_id, schema: schemaName }, 'source created');
    // The tables get their config rows now (from the schema just read), so they can be configured
    // at once; building and filling the mirror can take minutes for a big base, so the syncer does
    // it in the background (its first schema read, which keeps these rows and their ids).
    if (baseSchema) await insertDiscoveredTables(id, schemaName, baseSchema);
    if (deps.syncer) {
      const initial = deps.syncer.refreshSchema(id).catch((err: unknown) => {
        deps.log?.warn({ sourceId: id, code: asAirmirrorError(err).code }, 'first schema read failed');
      });
      background.add(initial);
      void initial.finally(() => background.delete(initial));
    }
    const tables = await store.all<TableRow>(db, store.listTables(id));
    return c.json(serializeSource(row!, tables, now()), 201);
  });

  /** Config rows for a new source's tables, named as the mirror will name them (src/mirror mapping). */
  async function insertDiscoveredTables(sourceId: string, schemaName: string, baseSchema: BaseSchema) {
    const mapping = buildBaseMapping(schemaName, baseSchema);
    await db.query(
      sql(
        `INSERT INTO airmirror.tables (id, source_id, table_id, table_name, mirror_table)
         SELECT gen_random_uuid()::text, $1, t.table_id, t.table_name, t.mirror_table
         FROM unnest($2::text[], $3::text[], $4::text[]) AS t(table_id, table_name, mirror_table)
         ON CONFLICT (source_id, table_id) DO NOTHING`,
        [
          sourceId,
          mapping.tables.map((t) => t.tableId),
          mapping.tables.map((t) => t.tableName),
          mapping.tables.map((t) => t.table),
        ],
      ),
    );
  }

  app.get('/sources/:id', async (c) => {
    const s = await loadSource(c.req.param('id'));
    const tables = await store.all<TableRow>(db, store.listTables(s.id));
    return c.json(serializeSource(s, tables, now()));
  });

  app.delete('/sources/:id', async (c) => {
    const q = parse(DeleteSourceQuery, c.req.query());
    const s = await loadSource(c.req.param('id'));
    const tables = await store.all<TableRow>(db, store.listTables(s.id));
    // Stop its syncs first, so no run writes into tables we are about to drop.
    if (deps.runner) await Promise.all(tables.map((t) => deps.runner!.cancel(t.id)));
    await db.tx(async (tx) => {
      if (q.drop_data === 'true') {
        for (const t of tables) {
          await dropMirrorTable(tx, s.schema_name, t.mirror_table);
          if (t.history_table) await dropMirrorTable(tx, s.schema_name, t.history_table);
        }
      }
      await tx.query(store.deleteSource(s.id));
    });
    if (q.drop_data === 'true' && s.schema_name !== 'public') {
      // Only when nothing else lives there (RESTRICT): never someone else's tables.
      await db.query(sql(`DROP SCHEMA IF EXISTS ${quoteIdent(s.schema_name)}`)).catch(() => undefined);
    }
    deps.log?.info({ sourceId: s.id, dropData: q.drop_data === 'true' }, 'source deleted');
    return c.body(null, 204);
  });

  // ---- schemas ------------------------------------------------------------------------------

  app.get('/schemas', async (c) => {
    const q = parse(ListSchemasQuery, c.req.query());
    if (q.source_id) await loadSource(q.source_id);
    const rows = await store.all<TableRow>(db, store.listTables(q.source_id));
    const results = rows.map((t) => serializeSchema(t, now()));
    return c.json({ count: results.length, results });
  });

  app.get('/schemas/:id', async (c) => c.json(await schemaJson(c.req.param('id'))));

  app.patch('/schemas/:id', async (c) => {
    const raw = await readJsonBody(c.req);
    refuseCdc(raw);
    const body = parse(PatchSchemaRequest, raw);
    const current = await loadTable(c.req.param('id'));
    const status = deps.runner?.isRunning(current.id) ? 'Running' : current.status;
    // Only a change that names (or relies on) an incremental field reads the live base.
    const candidates =
      status !== 'Running' && fieldToValidate(current, body)
        ? incrementalCandidates(await liveTable(current))
        : undefined;
    const plan = planPatch({
      current: { ...current, status },
      body,
      candidates,
      webhooksConfigured: webhooksConfigured(),
      now: now(),
    });
    if (plan.stopRun) {
      // Pausing a Running table stops its run first (the state machine then keeps it Paused).
      const stopped = deps.runner ? await deps.runner.cancel(current.id) : false;
      if (!stopped) deps.syncer?.cancel?.(current.id);
    }
    if (Object.keys(plan.changes).length > 0) {
      const updated = await db.query(
        store.updateTable(current.id, plan.changes, { evenIfRunning: plan.stopRun }),
      );
      if (updated.rowCount === 0) refuseWhileRunning({ ...current, status: 'Running' }, 'changing it');
    }
    const json = await schemaJson(current.id);
    return c.json({ ...json, resync_required: plan.resyncRequired || json.resync_required });
  });

  app.post('/schemas/:id/incremental-fields', async (c) => {
    const t = await loadTable(c.req.param('id'));
    const live = await liveTable(t);
    const cols = await store.all<{ field_id: string; column_name: string }>(
      db,
      sql('SELECT field_id, column_name FROM airmirror.columns WHERE source_id = $1 AND table_id = $2', [
        t.source_id,
        t.table_id,
      ]),
    );
    return c.json(
      syncAvailability(live, {
        columnsByFieldId: new Map(cols.map((r) => [r.field_id, r.column_name])),
        webhooksConfigured: webhooksConfigured(),
      }),
    );
  });

  app.post('/schemas/:id/reload', async (c) => {
    const t = await loadTable(c.req.param('id'));
    const runner = requireRunner();
    refuseWhileRunning(t, 'reloading it');
    await runner.trigger(t.id, { full: false });
    return c.json(await schemaJson(t.id), 202);
  });

  app.post('/schemas/:id/resync', async (c) => {
    const t = await loadTable(c.req.param('id'));
    const runner = requireRunner();
    refuseWhileRunning(t, 'resyncing it');
    await db.query(store.updateTable(t.id, { resync_required: true, high_water_mark: null }));
    await runner.trigger(t.id, { full: true });
    return c.json(await schemaJson(t.id), 202);
  });

  app.post('/schemas/:id/cancel', async (c) => {
    const t = await loadTable(c.req.param('id'));
    // The scheduler's run stops and settles before we answer; a run started elsewhere in this
    // process (e.g. a syncAll) is aborted and settles on its own.
    let cancelled = deps.runner ? await deps.runner.cancel(t.id) : false;
    if (!cancelled && deps.syncer?.cancel) cancelled = deps.syncer.cancel(t.id);
    if (!cancelled) throw conflict('This table has no running sync to cancel', 'NOT_RUNNING');
    return c.json({ ...(await schemaJson(t.id)), cancelled });
  });

  app.post('/schemas/:id/delete-data', async (c) => {
    const t = await loadTable(c.req.param('id'));
    refuseWhileRunning(t, 'deleting its data');
    await db.tx(async (tx) => {
      // No change events: emptying the mirror is not a change in Airtable (see emptyMirrorTable).
      // Missing tables (never synced) are fine.
      for (const name of [t.mirror_table, t.history_table]) {
        if (name) await emptyMirrorTable(tx, t.schema_name, name);
      }
      await tx.query(store.markDataDeleted(t.id));
      // The next run re-imports everything (and must not trust what it remembered of the rows).
      await tx.query(store.updateTable(t.id, { resync_required: true }));
    });
    deps.log?.info({ schemaId: t.id }, 'mirror data deleted');
    return c.json(await schemaJson(t.id));
  });

  // Also when mounted under another app (whose notFound would answer in its own shape).
  app.all('*', (c) => c.json(apiErrorBody(notFound(`No route for ${c.req.method} ${c.req.path}`)), 404));

  return Object.assign(app, {
    /** Resolves when background work started by requests (a new source's first build) is done. */
    settled: async () => {
      while (background.size > 0) await Promise.allSettled([...background]);
    },
  });
}

// ---- request parsing ----------------------------------------------------------------------------

/** zod → one clear 400 naming the field (`attr`), for the first problem found. */
export function parse<S extends z.ZodType>(schema: S, input: unknown): z.infer<S> {
  return parseRequest(schema, input, { requireObject: true });
}

function conflictOn(attr: string, message: string): AirmirrorError {
  return new AirmirrorError('CONFLICT', 409, message, { field: attr });
}

/**
 * Reads a base schema; Airtable's refusals become errors about the request (token, base_id) when
 * the caller is checking new credentials, and 502s otherwise. Messages never carry the token.
 */
async function readSchema(reader: BaseSchemaReader, baseId: string, checkingCredentials = false) {
  try {
    return await reader.getBaseSchema(baseId);
  } catch (err) {
    const e = asAirmirrorError(err);
    if (checkingCredentials && (e.status === 401 || e.code === 'AUTHENTICATION_REQUIRED')) {
      throw badRequest(`Airtable refused the token (${e.code})`, 'token', 'INVALID_TOKEN');
    }
    if (checkingCredentials && (e.status === 403 || e.status === 404)) {
      throw badRequest(
        `Airtable did not give this token access to base ${baseId} (${e.code})`,
        'base_id',
        'BASE_NOT_ACCESSIBLE',
      );
    }
    if (e.status >= 500 || e.code === 'INTERNAL_ERROR') {
      throw new AirmirrorError('AIRTABLE_UNAVAILABLE', 502, `Airtable could not be read (${e.code})`, {
        cause: err,
      });
    }
    throw new AirmirrorError('AIRTABLE_ERROR', 502, `Airtable answered ${e.status} ${e.code}`, {
      cause: err,
    });
  }
}
