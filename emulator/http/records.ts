import { Hono, type Context } from 'hono';
import { invalidRequest, recordNotFound, tooManyRecords } from '../errors.ts';
import type { ListParams, RecordLister } from '../list.ts';
import type { EmulatorStore, RecordInput } from '../store/store.ts';
import type { StoredRecord } from '../store/types.ts';
import { isObject, readJson } from './body.ts';

export interface RecordRoutesDeps {
  store: EmulatorStore;
  lister: RecordLister;
  maxBodyBytes: number;
}

const MAX_BATCH = 10;

/** Rendered as the bare `{"error":"NOT_FOUND"}` of unknown routes. */
export class HTTPNotFound extends Error {}

function bool(v: unknown): boolean {
  return v === true || v === 'true' || v === '1' || v === 1;
}

function num(v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (v.trim() === '' || !Number.isFinite(n)) throw invalidRequest(`Invalid number: ${v}`);
  return n;
}

/** List options from the query string (ajs/pya serialisation, docs/airtable-reference.md §1.1). */
export function listParamsFromQuery(url: URL): ListParams {
  const q = url.searchParams;
  const sort: Array<{ field: string; direction?: string }> = [];
  for (const [k, v] of q) {
    const m = /^sort\[(\d+)\]\[(field|direction)\]$/.exec(k);
    if (!m) continue;
    const s = (sort[Number(m[1])] ??= { field: '' });
    if (m[2] === 'field') s.field = v;
    else s.direction = v;
  }
  const fields = [...q.getAll('fields[]'), ...q.getAll('fields')];
  return {
    pageSize: num(q.get('pageSize') ?? undefined),
    maxRecords: num(q.get('maxRecords') ?? undefined),
    offset: q.get('offset') ?? undefined,
    view: q.get('view') ?? undefined,
    fields: fields.length ? fields : undefined,
    filterByFormula: q.get('filterByFormula') ?? undefined,
    sort: sort.filter(Boolean),
    cellFormat: q.get('cellFormat') ?? undefined,
    timeZone: q.get('timeZone') ?? undefined,
    userLocale: q.get('userLocale') ?? undefined,
    returnFieldsByFieldId: bool(q.get('returnFieldsByFieldId')),
    recordMetadata: q.getAll('recordMetadata[]'),
  };
}

/** POST listRecords: options in the body, but timeZone/userLocale stay in the query (docs/airtable-reference.md §1.1). */
function listParamsFromBody(body: unknown, url: URL): ListParams {
  if (!isObject(body)) throw invalidRequest();
  const b = body as Record<string, unknown>;
  const str = (k: string) => {
    if (b[k] !== undefined && typeof b[k] !== 'string') throw invalidRequest(`Invalid ${k}`);
    return b[k] as string | undefined;
  };
  const n = (k: string) => {
    if (b[k] !== undefined && typeof b[k] !== 'number') throw invalidRequest(`Invalid ${k}`);
    return b[k] as number | undefined;
  };
  if (b.fields !== undefined && !Array.isArray(b.fields)) throw invalidRequest('Invalid fields');
  if (b.sort !== undefined && !Array.isArray(b.sort)) throw invalidRequest('Invalid sort');
  return {
    pageSize: n('pageSize'),
    maxRecords: n('maxRecords'),
    offset: str('offset'),
    view: str('view'),
    fields: b.fields as string[] | undefined,
    filterByFormula: str('filterByFormula'),
    sort: b.sort as ListParams['sort'],
    cellFormat: str('cellFormat'),
    timeZone: url.searchParams.get('timeZone') ?? undefined,
    userLocale: url.searchParams.get('userLocale') ?? undefined,
    returnFieldsByFieldId: bool(b.returnFieldsByFieldId),
    recordMetadata: Array.isArray(b.recordMetadata) ? (b.recordMetadata as string[]) : undefined,
  };
}

function recordInputs(body: Record<string, unknown>, needId: boolean): RecordInput[] {
  const records = body.records;
  if (!Array.isArray(records)) throw invalidRequest();
  if (records.length > MAX_BATCH) throw tooManyRecords();
  if (records.length === 0) throw invalidRequest('You must provide at least one record');
  return records.map((r) => {
    if (!isObject(r) || (r.fields !== undefined && !isObject(r.fields))) throw invalidRequest();
    if (needId && typeof r.id !== 'string') throw invalidRequest('Each record must have an id');
    if (r.id !== undefined && typeof r.id !== 'string') throw invalidRequest();
    return { id: r.id as string | undefined, fields: (r.fields as Record<string, unknown>) ?? {} };
  });
}

/**
 * Records API (docs/airtable-reference.md §1): list, get, create, update (PATCH merges, PUT clears), upsert,
 * delete.
 */
export function recordRoutes(deps: RecordRoutesDeps): Hono {
  const { store, lister } = deps;
  const app = new Hono({ strict: false });
  const ctx = (c: Context) => {
    const baseId = c.req.param('baseId')!;
    // `/v0/meta/...` and `/v0/bases/...` paths no route claimed are unknown routes, not bases.
    if (baseId === 'meta' || baseId === 'bases') throw new HTTPNotFound();
    return store.requireTable(baseId, c.req.param('table')!);
  };
  const out = (c: Context, rec: StoredRecord, byId: boolean) => {
    const { base, table } = ctx(c);
    return store.serialize(base, table, rec, { byId });
  };

  app.get('/v0/:baseId/:table', (c) => {
    const { base, table } = ctx(c);
    return c.json(lister.list(base, table, listParamsFromQuery(new URL(c.req.url))));
  });

  app.post('/v0/:baseId/:table/listRecords', async (c) => {
    const { base, table } = ctx(c);
    const body = await readJson(c, deps.maxBodyBytes);
    return c.json(lister.list(base, table, listParamsFromBody(body, new URL(c.req.url))));
  });

  app.get('/v0/:baseId/:table/:recordId', (c) => {
    const { base, table } = ctx(c);
    const id = c.req.param('recordId');
    const byId = bool(c.req.query('returnFieldsByFieldId'));
    const rec = table.get(id);
    if (rec) return c.json(store.serialize(base, table, rec, { byId }));
    // docs/airtable-reference.md §1.2: a record of another table of the same base is still returned.
    for (const t of base.tables) {
      const r = t.get(id);
      if (r) return c.json(store.serialize(base, t, r, { byId }));
    }
    throw recordNotFound(id);
  });

  app.post('/v0/:baseId/:table', async (c) => {
    const { base, table } = ctx(c);
    const body = await readJson(c, deps.maxBodyBytes);
    if (!isObject(body)) throw invalidRequest();
    const byId = bool(body.returnFieldsByFieldId);
    const typecast = bool(body.typecast);
    if (body.records === undefined) {
      // Single (legacy) form: the record object at top level, answered without a wrapper (docs/airtable-reference.md §1.3).
      if (!isObject(body.fields)) throw invalidRequest();
      const [rec] = store.createRecords(base.id, table.id, [{ fields: body.fields }], { typecast });
      return c.json(out(c, rec, byId));
    }
    const recs = store.createRecords(base.id, table.id, recordInputs(body, false), { typecast });
    return c.json({ records: recs.map((r) => out(c, r, byId)) });
  });

  const batchUpdate = (destructive: boolean) => async (c: Context) => {
    const { base, table } = ctx(c);
    const body = await readJson(c, deps.maxBodyBytes);
    if (!isObject(body)) throw invalidRequest();
    const byId = bool(body.returnFieldsByFieldId);
    const typecast = bool(body.typecast);
    if (body.performUpsert !== undefined) {
      if (!isObject(body.performUpsert)) throw invalidRequest();
      const inputs = recordInputs(body, false);
      const r = store.upsertRecords(base.id, table.id, inputs, body.performUpsert.fieldsToMergeOn, {
        typecast,
        destructive,
      });
      return c.json({
        createdRecords: r.createdRecords,
        updatedRecords: r.updatedRecords,
        records: r.records.map((rec) => out(c, rec, byId)),
      });
    }
    const inputs = recordInputs(body, true) as Array<{ id: string; fields: Record<string, unknown> }>;
    const recs = store.updateRecords(base.id, table.id, inputs, { typecast, destructive });
    return c.json({ records: recs.map((r) => out(c, r, byId)) });
  };
  app.patch('/v0/:baseId/:table', batchUpdate(false));
  app.put('/v0/:baseId/:table', batchUpdate(true));

  const singleUpdate = (destructive: boolean) => async (c: Context) => {
    const { base, table } = ctx(c);
    const id = c.req.param('recordId')!;
    const body = await readJson(c, deps.maxBodyBytes);
    if (!isObject(body) || (body.fields !== undefined && !isObject(body.fields))) throw invalidRequest();
    if (!table.has(id)) throw recordNotFound(id);
    const [rec] = store.updateRecords(
      base.id,
      table.id,
      [{ id, fields: (body.fields as Record<string, unknown>) ?? {} }],
      {
        typecast: bool(body.typecast),
        destructive,
      },
    );
    return c.json(out(c, rec, bool(body.returnFieldsByFieldId)));
  };
  app.patch('/v0/:baseId/:table/:recordId', singleUpdate(false));
  app.put('/v0/:baseId/:table/:recordId', singleUpdate(true));

  app.delete('/v0/:baseId/:table', (c) => {
    const { base, table } = ctx(c);
    const url = new URL(c.req.url);
    const ids = [...url.searchParams.getAll('records[]'), ...url.searchParams.getAll('records')];
    if (ids.length === 0) throw invalidRequest('You must provide at least one record id in records[]');
    if (ids.length > MAX_BATCH) throw tooManyRecords();
    store.deleteRecords(base.id, table.id, ids);
    return c.json({ records: ids.map((id) => ({ id, deleted: true })) });
  });

  app.delete('/v0/:baseId/:table/:recordId', (c) => {
    const { base, table } = ctx(c);
    const id = c.req.param('recordId')!;
    if (!table.has(id)) throw recordNotFound(id);
    store.deleteRecords(base.id, table.id, [id]);
    return c.json({ id, deleted: true });
  });

  return app;
}
