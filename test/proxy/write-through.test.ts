import { describe, expect, it } from 'vitest';
import { createProxy } from '../../proxy/app.ts';
import type { CatchupItem } from '../../src/catchup/types.ts';
import type { MirrorWrite, MirrorWriter } from '../../proxy/writer.ts';
import { createRateBudget } from '../../src/airtable/rate-budget.ts';
import { recordingFetch } from './support.ts';

/**
 * How the proxy reads Airtable's write answers and when it applies them. Answers are the
 * reference's documented shapes (docs/airtable-reference.md §1.3–§1.6); the writer is a recorder of the proxy's own
 * MirrorWriter interface (the Postgres writer has its own tests, and the end-to-end suite runs both).
 */
const BASE = 'appLkNDICXNqxSDhG';
const rec = (id: string, fields: Record<string, unknown> = { Name: 'Union Square' }) => ({
  id,
  createdTime: '2022-09-12T21:03:48.000Z',
  fields,
});
const A = 'rec560UJdUtocSouk';
const B = 'rec3lbPRG4aVqkeOQ';

function setup(answer: () => Response, writer?: Partial<MirrorWriter>, applyTimeoutMs = 1_000) {
  const writes: MirrorWrite[] = [];
  const queued: CatchupItem[] = [];
  const upstream = recordingFetch(answer);
  const proxy = createProxy({
    upstreamUrl: 'http://airtable.test',
    fetch: upstream.fetch,
    timeoutMs: 1_000,
    maxBodyBytes: 100_000,
    applyTimeoutMs,
    writer: {
      apply:
        writer?.apply ??
        (async (w) => {
          writes.push(w);
          return 'applied';
        }),
    },
    catchup: { enqueue: (items) => queued.push(...items) },
  });
  const call = (method: string, path: string, body?: unknown) =>
    proxy.app.request(`/api.airtable.com/v0/${BASE}${path}`, {
      method,
      headers: { authorization: 'Bearer patX', 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  return { writes, queued, upstream, call };
}

describe('write-through: what gets applied', () => {
  it('batch create: applies the answered records, answer unchanged', async () => {
    const answer = { records: [rec(A), rec(B, { Name: 'Ferry Building' })] };
    const s = setup(() => Response.json(answer));
    const res = await s.call('POST', '/Places/', {
      records: [{ fields: { Name: 'Union Square' } }],
      typecast: true,
    });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual(answer);
    expect(s.writes).toEqual([
      { baseId: BASE, tableIdOrName: 'Places', keyedBy: 'name', records: answer.records, deletedIds: [] },
    ]);
  });

  it('single create (legacy body shape) and field ids via returnFieldsByFieldId in the body', async () => {
    const one = rec(A, { fldName0000000001: 'x' });
    const s = setup(() => Response.json(one));
    await s.call('POST', '/tblPlaces00000001', {
      fields: { fldName0000000001: 'x' },
      returnFieldsByFieldId: true,
    });
    expect(s.writes).toEqual([
      { baseId: BASE, tableIdOrName: 'tblPlaces00000001', keyedBy: 'id', records: [one], deletedIds: [] },
    ]);
  });

  it('PATCH/PUT one record, a batch, and upsert; returnFieldsByFieldId in the query', async () => {
    const one = rec(A);
    const s = setup(() => Response.json(one));
    await s.call('PATCH', `/Places/${A}?returnFieldsByFieldId=1`, { fields: { Name: 'x' } });
    await s.call('PUT', `/Places/${A}`, { fields: { Name: 'x' } });
    expect(s.writes.map((w) => [w.keyedBy, w.records?.map((r) => r.id)])).toEqual([
      ['id', [A]],
      ['name', [A]],
    ]);
    const upsert = { createdRecords: [B], updatedRecords: [A], records: [rec(A), rec(B)] };
    const u = setup(() => Response.json(upsert));
    await u.call('PATCH', '/My%20Places/', {
      performUpsert: { fieldsToMergeOn: ['Name'] },
      records: [{ fields: { Name: 'Union Square' } }, { fields: { Name: 'Ferry Building' } }],
    });
    expect(u.writes[0].tableIdOrName).toBe('My Places');
    expect(u.writes[0].records?.map((r) => r.id)).toEqual([A, B]);
  });

  it('DELETE one record and a records[] batch apply deletes', async () => {
    const one = setup(() => Response.json({ id: A, deleted: true }));
    await one.call('DELETE', `/Places/${A}`);
    expect(one.writes).toEqual([
      { baseId: BASE, tableIdOrName: 'Places', keyedBy: 'name', records: [], deletedIds: [A] },
    ]);
    const batch = setup(() =>
      Response.json({
        records: [
          { id: A, deleted: true },
          { id: B, deleted: true },
        ],
      }),
    );
    const res = await batch.call('DELETE', `/Places?records%5B%5D=${A}&records%5B%5D=${B}`);
    expect(res.status).toBe(200);
    expect(batch.upstream.seen[0].url).toBe(
      `http://airtable.test/v0/${BASE}/Places?records%5B%5D=${A}&records%5B%5D=${B}`,
    );
    expect(batch.writes[0].deletedIds).toEqual([A, B]);
  });

  it('non-2xx answers come back unchanged and nothing is applied', async () => {
    const body = {
      error: { type: 'INVALID_PERMISSIONS_OR_MODEL_NOT_FOUND', message: 'Invalid permissions' },
    };
    const s = setup(() => Response.json(body, { status: 403, headers: { 'x-request-id': 'r1' } }));
    const res = await s.call('PATCH', `/Places/${A}`, { fields: { Name: 'x' } });
    expect(res.status).toBe(403);
    expect(res.headers.get('x-request-id')).toBe('r1');
    expect(await res.json()).toEqual(body);
    expect(s.writes).toEqual([]);
    expect(s.queued).toEqual([]);
  });

  it('reads, listRecords and non-record routes are never applied', async () => {
    const s = setup(() => Response.json({ records: [rec(A)] }));
    await s.call('GET', '/Places');
    await s.call('GET', `/Places/${A}`);
    await s.call('POST', '/Places/listRecords', { pageSize: 1 });
    await s.call('POST', '/bases/x/webhooks', {});
    expect(s.upstream.seen).toHaveLength(4);
    expect(s.writes).toEqual([]);
  });
});

describe('write-through: when the mirror cannot apply (invariant 5)', () => {
  it('a failing apply still returns the 2xx answer and queues the ids', async () => {
    const answer = { records: [rec(A), rec(B)] };
    const s = setup(() => Response.json(answer), {
      apply: async () => {
        throw new Error('connect ECONNREFUSED 127.0.0.1:5432');
      },
    });
    const res = await s.call('PATCH', '/Places', { records: [{ id: A, fields: {} }] });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual(answer);
    expect(s.queued.map((q) => [q.baseId, q.tableRef, q.recordId, q.op])).toEqual([
      [BASE, 'Places', A, 'upsert'],
      [BASE, 'Places', B, 'upsert'],
    ]);
  });

  it('a hanging apply is given up after applyTimeoutMs; the answer still comes back', async () => {
    const s = setup(
      () => Response.json({ id: A, deleted: true }),
      { apply: () => new Promise(() => undefined) },
      50,
    );
    const res = await s.call('DELETE', `/Places/${A}`);
    expect(res.status).toBe(200);
    expect(s.queued.map((q) => [q.recordId, q.op])).toEqual([[A, 'delete']]);
  });

  it('a write that times out may have happened: the ids it names are queued, the app gets 504', async () => {
    const queued: CatchupItem[] = [];
    const hanging: typeof fetch = (_input, init) =>
      new Promise((_, reject) => init?.signal?.addEventListener('abort', () => reject(init.signal?.reason)));
    const proxy = createProxy({
      upstreamUrl: 'http://airtable.test',
      fetch: hanging,
      timeoutMs: 30,
      maxBodyBytes: 10_000,
      catchup: { enqueue: (items) => queued.push(...items) },
    });
    const res = await proxy.app.request(`/api.airtable.com/v0/${BASE}/Places?records[]=${A}&records[]=${B}`, {
      method: 'DELETE',
    });
    expect(res.status).toBe(504);
    expect(queued.map((q) => [q.recordId, q.op])).toEqual([
      [A, 'delete'],
      [B, 'delete'],
    ]);
  });

  it('a write to a base whose mirror is still being built is queued for catch-up, answer unchanged', async () => {
    const s = setup(() => Response.json({ records: [rec(A), rec(B)] }), { apply: async () => 'pending' });
    const res = await s.call('PATCH', '/Places', {
      records: [
        { id: A, fields: {} },
        { id: B, fields: {} },
      ],
    });
    expect(res.status).toBe(200);
    expect(((await res.json()) as { records: unknown[] }).records).toHaveLength(2);
    expect(s.queued.map((q) => [q.tableRef, q.recordId, q.op])).toEqual([
      ['Places', A, 'upsert'],
      ['Places', B, 'upsert'],
    ]);
  });

  it('a base that is not mirrored is passed through with nothing queued', async () => {
    const s = setup(() => Response.json(rec(A)), { apply: async () => 'not-mirrored' });
    const res = await s.call('POST', '/Places', { fields: { Name: 'x' } });
    expect(res.status).toBe(200);
    expect(s.queued).toEqual([]);
  });
});

describe('write-through: the shared request budget', () => {
  it('reads and writes take the budget at high priority; a 429 RATE_LIMIT_REACHED blocks the base', async () => {
    let clock = 0;
    const budget = createRateBudget({
      perSecond: 5,
      now: () => clock,
      sleep: async (ms) => void (clock += ms),
    });
    const asked: string[] = [];
    const spy = {
      acquire: (baseId: string, opts: { priority: 'high'; token?: string; signal?: AbortSignal }) => {
        asked.push(`${baseId}:${opts.priority}`);
        return budget.acquire(baseId, opts);
      },
      penalize: (baseId: string) => budget.penalize(baseId),
      stats: (baseId: string) => budget.stats(baseId),
    };
    let status = 200;
    const upstream = recordingFetch(() =>
      status === 200
        ? Response.json(rec(A))
        : Response.json(
            { error: { type: 'RATE_LIMIT_REACHED', message: 'Rate limit exceeded. Please try again later' } },
            { status: 429 },
          ),
    );
    const proxy = createProxy({
      upstreamUrl: 'http://airtable.test',
      fetch: upstream.fetch,
      timeoutMs: 1_000,
      maxBodyBytes: 10_000,
      budget: spy,
    });
    await proxy.app.request(`/api.airtable.com/v0/${BASE}/Places/${A}`, {
      method: 'PATCH',
      body: '{"fields":{}}',
    });
    await proxy.app.request(`/api.airtable.com/v0/${BASE}/Places`);
    expect(asked).toEqual([`${BASE}:high`, `${BASE}:high`]);
    status = 429;
    const res = await proxy.app.request(`/api.airtable.com/v0/${BASE}/Places`);
    expect(res.status).toBe(429);
    expect(((await res.json()) as { error: { type: string } }).error.type).toBe('RATE_LIMIT_REACHED');
    expect(budget.stats(BASE).blockedUntil).toBe(clock + 30_000);
  });
});
