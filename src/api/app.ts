/**
 * The management API (issue 5), a Hono app the server mounts at `/api`. PostHog-shaped:
 * sources (bases) and schemas (tables' sync configuration) with partial updates and actions.
 * Errors become responses at ONE boundary (`onError` → apiErrorBody). Tokens are encrypted
 * before they are stored and never returned or logged.
 */
import { Hono } from 'hono';
import type { z } from 'zod';
import type { AirtableTable, BaseSchema } from '../airtable/types.ts';
import * as books from '../bookkeeping/index.ts';
import type { Source, Table } from '../bookkeeping/index.ts';
import { parseRequest, readJsonBody } from '../validation.ts';
import { AirmirrorError, apiErrorBody, asAirmirrorError, conflict, notFound } from '../errors.ts';
import { buildBaseMapping } from '../mirror/mapping.ts';
import { dropMirrorSchema, dropMirrorTable, emptyMirrorTable } from '../mirror/ddl.ts';
import { columnNames, knownFields } from '../mirror/store.ts';
import { setTablesMirrored } from '../bookkeeping/schema-state.ts';
import { excludedTableIds, selectionChanges } from './selection.ts';
import { checkBearer } from './auth.ts';
import { incrementalCandidates, syncAvailability } from './candidates.ts';
import type { ApiDeps } from './deps.ts';
import { CreateSourceRequest, DeleteSourceQuery, ListSchemasQuery, PatchSchemaRequest } from './model.ts';
import { openApiDocument } from './openapi.ts';
import { fieldToValidate, planPatch, refuseCdc } from './rules.ts';
import { serializeSchema, serializeSource } from './serialize.ts';
import { processStatuses, sourceStatuses, tableStatuses } from './status.ts';
import { readSchema } from './airtable-read.ts';
import { registerSourceSettings } from './source-settings.ts';

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

  /** Work a request starts and does not wait for: logged if it fails, awaited by settled(). */
  const track = (work: Promise<unknown>, fields: Record<string, string>, failed: string) => {
    const p = work.catch((err: unknown) => {
      deps.log?.warn({ ...fields, code: asAirmirrorError(err).code }, failed);
    });
    background.add(p);
    void p.finally(() => background.delete(p));
  };

  const loadSource = async (id: string): Promise<Source> => {
    const s = await books.loadSource(db, id);
    if (!s) throw notFound(`Source ${id} not found`);
    return s;
  };
  const loadTable = async (id: string): Promise<Table> => {
    const t = await books.loadTable(db, id);
    if (!t) throw notFound(`Schema ${id} not found`);
    return t;
  };
  const readerFor = async (s: Source) => {
    if (!deps.airtable) {
      throw new AirmirrorError(
        'AIRTABLE_UNAVAILABLE',
        503,
        'No Airtable client is configured in this process',
      );
    }
    return deps.airtable({ id: s.id, baseId: s.baseId }, await books.storedToken(secrets, s));
  };
  const liveTable = async (t: Table): Promise<AirtableTable> => {
    const source = await loadSource(t.sourceId);
    const schema = await readSchema(await readerFor(source), source.baseId);
    const table = schema.tables.find((x) => x.id === t.tableId);
    if (!table) {
      throw new AirmirrorError(
        'TABLE_VANISHED',
        409,
        `Table ${t.tableId} is no longer in base ${source.baseId}`,
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
  const isRunning = (t: Table) => t.status === 'Running' || (deps.runner?.isRunning(t.id) ?? false);
  const refuseWhileRunning = (t: Table, action: string) => {
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
    const [tables, sources, processes, quota] = await Promise.all([
      tableStatuses(db, now(), q.source_id),
      sourceStatuses(db, q.source_id),
      processStatuses(db),
      deps.quota?.() ?? [],
    ]);
    return c.json({ tables, sources, processes, quota });
  });

  // ---- sources ------------------------------------------------------------------------------

  app.get('/sources', async (c) => {
    const sources = await books.listSources(db, 'created');
    const tables = await books.listTables(db);
    const results = sources.map((s) =>
      serializeSource(
        s,
        tables.filter((t) => t.sourceId === s.id),
        now(),
      ),
    );
    return c.json({ count: results.length, results });
  });

  app.post('/sources', async (c) => {
    const body = parse(CreateSourceRequest, await readJsonBody(c));
    const schemaName = body.schema_name ?? 'public';
    for (const r of await books.sourceConflicts(db, body.base_id, schemaName)) {
      if (r.baseId === body.base_id) throw conflictOn('base_id', `Base ${body.base_id} is already a source`);
      throw conflictOn('schema_name', `Schema "${schemaName}" already mirrors base ${r.baseId}`);
    }
    // Check the token and base before storing anything (PostHog validates credentials on create).
    let baseSchema: BaseSchema | undefined;
    if (deps.airtable) {
      const reader = deps.airtable({ id: '', baseId: body.base_id }, body.token);
      baseSchema = await readSchema(reader, body.base_id, true);
    }
    if (body.tables && !baseSchema) {
      throw new AirmirrorError(
        'AIRTABLE_UNAVAILABLE',
        503,
        'tables needs the base schema, and no Airtable client is configured in this process',
      );
    }
    const excluded = body.tables && baseSchema ? excludedTableIds(baseSchema.tables, body.tables) : [];
    const id = crypto.randomUUID();
    // Before the row exists, so a build that starts at once finds it (no second read of the schema).
    if (baseSchema) deps.syncer?.primeSchema?.(id, baseSchema);
    const tokenEncrypted = await secrets.encrypt(body.token);
    const row = await books
      .insertSource(db, {
        id,
        baseId: body.base_id,
        schemaName,
        name: body.name ?? null,
        description: body.description ?? null,
        tokenEncrypted,
      })
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
    // it in the background (its first schema read, which keeps these rows and their ids). They are
    // named as the mirror will name them (src/mirror mapping).
    if (baseSchema) {
      await books.insertDiscoveredTables(db, id, buildBaseMapping(schemaName, baseSchema).tables);
      await setTablesMirrored(db, id, excluded, false);
    }
    if (deps.syncer) track(deps.syncer.refreshSchema(id), { sourceId: id }, 'first schema read failed');
    const tables = await books.listTables(db, id);
    return c.json(serializeSource(row, tables, now()), 201);
  });

  app.get('/sources/:id', async (c) => {
    const s = await loadSource(c.req.param('id'));
    const tables = await books.listTables(db, s.id);
    return c.json(serializeSource(s, tables, now()));
  });

  registerSourceSettings(app, {
    db,
    secrets,
    airtable: deps.airtable,
    now,
    log: deps.log,
    onChanged: deps.onSourceChanged,
  });

  app.delete('/sources/:id', async (c) => {
    const q = parse(DeleteSourceQuery, c.req.query());
    const s = await loadSource(c.req.param('id'));
    const tables = await books.listTables(db, s.id);
    // Stop its syncs first, so no run writes into tables we are about to drop.
    if (deps.runner) await Promise.all(tables.map((t) => deps.runner!.cancel(t.id)));
    await db.tx(async (tx) => {
      if (q.drop_data === 'true') {
        for (const t of tables) {
          await dropMirrorTable(tx, s.schemaName, t.mirrorTable);
          if (t.historyTable) await dropMirrorTable(tx, s.schemaName, t.historyTable);
        }
      }
      await books.deleteSource(tx, s.id);
    });
    if (q.drop_data === 'true' && s.schemaName !== 'public') {
      // Only when nothing else lives there (RESTRICT): never someone else's tables.
      await dropMirrorSchema(db, s.schemaName).catch(() => undefined);
    }
    deps.log?.info({ sourceId: s.id, dropData: q.drop_data === 'true' }, 'source deleted');
    return c.body(null, 204);
  });

  // ---- schemas ------------------------------------------------------------------------------

  app.get('/schemas', async (c) => {
    const q = parse(ListSchemasQuery, c.req.query());
    if (q.source_id) await loadSource(q.source_id);
    const rows = await books.listTables(db, q.source_id);
    const results = rows.map((t) => serializeSchema(t, now()));
    return c.json({ count: results.length, results });
  });

  app.get('/schemas/:id', async (c) => c.json(await schemaJson(c.req.param('id'))));

  app.patch('/schemas/:id', async (c) => {
    const raw = await readJsonBody(c);
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
    // What is mirrored: made by the source's next schema step, which is asked for right away.
    const selection = selectionChanges(
      current,
      body,
      await knownFields(db, current.sourceId, current.tableId),
    );
    Object.assign(plan.changes, selection);
    if (plan.stopRun) {
      // Pausing a Running table stops its run first (the state machine then keeps it Paused).
      const stopped = deps.runner ? await deps.runner.cancel(current.id) : false;
      if (!stopped) deps.syncer?.cancel?.(current.id);
    }
    if (Object.keys(plan.changes).length > 0 || plan.event) {
      const updated = await books.updateTableConfig(db, current.id, plan.changes, {
        evenIfRunning: plan.stopRun,
        event: plan.event,
      });
      if (!updated) refuseWhileRunning({ ...current, status: 'Running' }, 'changing it');
    }
    if (Object.keys(selection).length > 0 && deps.syncer) {
      const applying = deps.syncer.refreshSchema(current.sourceId).catch((err: unknown) => {
        deps.log?.warn(
          { sourceId: current.sourceId, code: asAirmirrorError(err).code },
          'schema refresh failed',
        );
      });
      background.add(applying);
      void applying.finally(() => background.delete(applying));
    }
    const json = await schemaJson(current.id);
    return c.json({ ...json, resync_required: plan.resyncRequired || json.resync_required });
  });

  app.post('/schemas/:id/incremental-fields', async (c) => {
    const t = await loadTable(c.req.param('id'));
    const live = await liveTable(t);
    return c.json(
      syncAvailability(live, {
        columnsByFieldId: await columnNames(db, t.sourceId, t.tableId),
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
    refuseWhileRunning(t, 'resyncing it');
    // Owed until it is done: if the process dies meanwhile, the next run re-imports (and append
    // starts a new history, incremental a new mark).
    await books.updateTableConfig(db, t.id, {
      resyncRequired: true,
      highWaterMark: null,
      highWaterInt: null,
    });
    const resync = deps.syncer?.resync;
    if (!resync) {
      await requireRunner().trigger(t.id, { full: true });
      return c.json(await schemaJson(t.id), 202);
    }
    track(
      resync(t.sourceId, [t.tableId]).then(async ([r]) => {
        if (r?.status === 'Completed') await books.updateTableConfig(db, t.id, { resyncRequired: false });
        deps.log?.info({ schemaId: t.id, status: r?.status }, 'resync done');
      }),
      { schemaId: t.id },
      'resync failed',
    );
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
      for (const name of [t.mirrorTable, t.historyTable]) {
        if (name) await emptyMirrorTable(tx, t.schemaName, name);
      }
      // The next run re-imports everything (and must not trust what it remembered of the rows).
      await books.markDataDeleted(tx, t.id);
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
