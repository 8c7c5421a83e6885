import { http, HttpResponse } from 'msw';
import { describe, expect, it } from 'vitest';
import { AirmirrorError } from '../../src/errors.ts';
import { createAirtableClient, type AirtableRequestEvent } from '../../src/airtable/client.ts';
import { ListingRestartRequired } from '../../src/airtable/errors.ts';
import type { FetchFn } from '../../src/airtable/fetch-helpers.ts';
import { MAX_GET_URL_LENGTH } from '../../src/airtable/list-params.ts';
import { createRateBudget, type RateBudget } from '../../src/airtable/rate-budget.ts';
import { createFakeClock, T0, type FakeClock } from '../support/fake-clock.ts';
import { API, mswFetch, TOKEN } from '../support/msw-fetch.ts';
import {
  BASE,
  listRecordsHandlers,
  makeRecords,
  OTHER_BASE,
  recordId,
  TABLE,
} from '../support/records-handler.ts';

function setup(fetch: FetchFn, opts: { clock?: FakeClock; budget?: RateBudget; timeoutMs?: number } = {}) {
  const clock = opts.clock ?? createFakeClock();
  const budget = opts.budget ?? createRateBudget({ now: clock.now, sleep: clock.sleep });
  const events: AirtableRequestEvent[] = [];
  const client = createAirtableClient({
    apiUrl: `${API}/`,
    token: TOKEN,
    fetch,
    budget,
    timeoutMs: opts.timeoutMs,
    now: clock.now,
    sleep: clock.sleep,
    random: () => 0.5,
    onRequest: (e) => events.push(e),
  });
  return { client, clock, budget, events, run: <T>(p: Promise<T>) => clock.run(p) };
}

async function collect<T>(gen: AsyncGenerator<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of gen) out.push(x);
  return out;
}

const errorJson = (status: number, type: string, message?: string) => () =>
  HttpResponse.json({ error: message ? { type, message } : { type } }, { status });

describe('listRecordsPage', () => {
  it('GETs one page by field id with the token and the documented query serialisation', async () => {
    const { fetch, seen } = mswFetch(...listRecordsHandlers(makeRecords(3)));
    const { client, run } = setup(fetch);
    const page = await run(
      client.listRecordsPage(BASE, TABLE, {
        pageSize: 2,
        fields: ['fldA', 'Name with space'],
        sort: [{ field: 'Name', direction: 'desc' }],
        view: 'viwX',
        filterByFormula: "{Name}='x'",
      }),
    );
    expect(page.records.map((r) => r.id)).toEqual([recordId(0), recordId(1)]);
    expect(page.offset).toBeDefined();
    const req = seen[0];
    expect(req.method).toBe('GET');
    expect(req.url.pathname).toBe(`/v0/${BASE}/${TABLE}`);
    expect(req.headers.get('authorization')).toBe(`Bearer ${TOKEN}`);
    const q = req.url.searchParams;
    expect(q.get('returnFieldsByFieldId')).toBe('true');
    expect(q.getAll('fields[]')).toEqual(['fldA', 'Name with space']);
    expect(q.get('sort[0][field]')).toBe('Name');
    expect(q.get('sort[0][direction]')).toBe('desc');
    expect(q.get('view')).toBe('viwX');
    expect(q.get('filterByFormula')).toBe("{Name}='x'");
    expect(q.get('pageSize')).toBe('2');
    expect(req.url.search).not.toContain('+'); // spaces as %20, never form-encoded
  });

  it('lets the caller turn returnFieldsByFieldId off', async () => {
    const { fetch, seen } = mswFetch(...listRecordsHandlers(makeRecords(1)));
    const { client, run } = setup(fetch);
    await run(client.listRecordsPage(BASE, TABLE, { returnFieldsByFieldId: false }));
    expect(seen[0].url.searchParams.get('returnFieldsByFieldId')).toBe('false');
  });

  it('switches to POST listRecords with a JSON body when the URL would pass 15,000 chars (docs/airtable-reference.md §1.1)', async () => {
    const { fetch, seen } = mswFetch(...listRecordsHandlers(makeRecords(3)));
    const { client, run } = setup(fetch);
    const formula = `OR(${Array.from({ length: 1500 }, (_, i) => `{Name}='${i}'`).join(',')})`;
    expect(formula.length).toBeGreaterThan(MAX_GET_URL_LENGTH);
    await run(
      client.listRecordsPage(BASE, TABLE, { pageSize: 50, filterByFormula: formula, fields: ['fldA'] }),
    );
    const req = seen[0];
    expect(req.method).toBe('POST');
    expect(req.url.pathname).toBe(`/v0/${BASE}/${TABLE}/listRecords`);
    expect(req.url.search).toBe('');
    expect(req.headers.get('content-type')).toBe('application/json');
    expect(JSON.parse(req.body)).toEqual({
      pageSize: 50,
      filterByFormula: formula,
      fields: ['fldA'],
      returnFieldsByFieldId: true,
    });
  });

  it('URL-encodes table names', async () => {
    const { fetch, seen } = mswFetch(
      http.get(`${API}/v0/${BASE}/*`, () => HttpResponse.json({ records: [] })),
    );
    const { client, run } = setup(fetch);
    await run(client.listRecordsPage(BASE, 'My Table/2'));
    expect(seen[0].url.pathname).toBe(`/v0/${BASE}/My%20Table%2F2`);
  });
});

describe('listAllRecords', () => {
  it('walks every page, 100 a page, passing each opaque offset back', async () => {
    const { fetch, seen } = mswFetch(...listRecordsHandlers(makeRecords(250)));
    const { client, run } = setup(fetch);
    const pages = await run(collect(client.listAllRecords(BASE, TABLE)));
    expect(pages.map((p) => [p.pageNumber, p.records.length])).toEqual([
      [1, 100],
      [2, 100],
      [3, 50],
    ]);
    expect(pages.flatMap((p) => p.records.map((r) => r.id))).toEqual(makeRecords(250).map((r) => r.id));
    expect(seen.map((s) => s.url.searchParams.get('pageSize'))).toEqual(['100', '100', '100']);
    expect(seen.map((s) => s.url.searchParams.get('offset'))).toEqual([
      null,
      'itrXXXXXXXXXXXXXX/rec100',
      'itrXXXXXXXXXXXXXX/rec200',
    ]);
  });

  it('throws ListingRestartRequired when the iterator expired (422, docs/airtable-reference.md §1.1), after the pages before it', async () => {
    let n = 0;
    const { fetch, seen } = mswFetch(
      http.get(`${API}/v0/${BASE}/${TABLE}`, () =>
        ++n === 1
          ? HttpResponse.json({ records: makeRecords(100), offset: 'itrXXXXXXXXXXXXXX/rec100' })
          : errorJson(422, 'LIST_RECORDS_ITERATOR_NOT_AVAILABLE')(),
      ),
    );
    const { client, run } = setup(fetch);
    const got: number[] = [];
    const err = await run(
      (async () => {
        for await (const page of client.listAllRecords(BASE, TABLE)) got.push(page.pageNumber);
      })().catch((e: unknown) => e),
    );
    expect(got).toEqual([1]);
    expect(err).toBeInstanceOf(ListingRestartRequired);
    expect(err).toBeInstanceOf(AirmirrorError);
    expect(err).toMatchObject({
      code: 'LIST_RECORDS_ITERATOR_NOT_AVAILABLE',
      status: 422,
      details: { pageNumber: 2 },
    });
    expect(seen).toHaveLength(2); // not retried: only a fresh listing helps
  });
});

describe('listAllPages', () => {
  it('hands each page body to the decoder as text and pages on the offset it returns', async () => {
    const { fetch, seen } = mswFetch(...listRecordsHandlers(makeRecords(250)));
    const { client, run } = setup(fetch);
    const texts: string[] = [];
    const decode = (text: string) => {
      texts.push(text);
      const body = JSON.parse(text) as { records: { id: string }[]; offset?: string };
      return { ids: body.records.map((r) => r.id), offset: body.offset };
    };
    const pages = await run(collect(client.listAllPages(BASE, TABLE, { pageSize: 100 }, decode)));
    expect(pages.map((p) => [p.pageNumber, p.ids.length])).toEqual([
      [1, 100],
      [2, 100],
      [3, 50],
    ]);
    expect(pages.flatMap((p) => p.ids)).toEqual(makeRecords(250).map((r) => r.id));
    expect(texts.every((t) => t.startsWith('{'))).toBe(true);
    expect(seen.map((x) => x.url.searchParams.get('returnFieldsByFieldId'))).toEqual([
      'true',
      'true',
      'true',
    ]);
  });

  it('a decoder that throws makes the page an UNEXPECTED_ERROR, like invalid JSON', async () => {
    const { fetch } = mswFetch(...listRecordsHandlers(makeRecords(3)));
    const { client, run } = setup(fetch);
    const decode = (): { offset?: string } => {
      throw new Error('not a page');
    };
    const err = await run(collect(client.listAllPages(BASE, TABLE, {}, decode)).catch((e: unknown) => e));
    expect(err).toMatchObject({ code: 'UNEXPECTED_ERROR', status: 502 });
  });

  it('a body that stalls after the headers is a TIMEOUT, retried like one', async () => {
    let attempts = 0;
    const stalled: FetchFn = async () => {
      attempts++;
      const body = new ReadableStream<Uint8Array>({
        start(c) {
          c.enqueue(new TextEncoder().encode('{"records":['));
        },
      });
      return new Response(body, { status: 200, headers: { 'content-type': 'application/json' } });
    };
    const c = createAirtableClient({
      apiUrl: API,
      token: TOKEN,
      fetch: stalled,
      budget: createRateBudget(),
      timeoutMs: 15,
      maxAttempts: 2,
      sleep: async () => undefined,
    });
    const err = await collect(c.listAllPages(BASE, TABLE, {}, JSON.parse)).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'TIMEOUT', status: 504 });
    expect(attempts).toBe(2);
  });
});

describe('getRecordsByIds', () => {
  it('splits ids into OR(RECORD_ID()=…) batches whose GET URLs stay under the limit', async () => {
    const records = makeRecords(1200);
    const { fetch, seen } = mswFetch(...listRecordsHandlers(records));
    const { client, run } = setup(fetch);
    // 1000 wanted: every other existing record plus 400 that do not exist, and duplicates.
    const ids = [
      ...Array.from({ length: 600 }, (_, i) => recordId(2 * i)),
      ...Array.from({ length: 400 }, (_, i) => recordId(5000 + i)),
    ];
    const got = await run(client.getRecordsByIds(BASE, TABLE, [...ids, recordId(0), recordId(2)]));

    expect(got.map((r) => r.id)).toEqual(ids.slice(0, 600));
    expect(seen.length).toBeGreaterThan(1);
    for (const req of seen) {
      expect(req.method).toBe('GET');
      expect(req.url.href.length).toBeLessThanOrEqual(MAX_GET_URL_LENGTH);
    }
    // Every id asked exactly once across the batches.
    const asked = seen.flatMap((s) => [
      ...(s.url.searchParams.get('filterByFormula') ?? '').matchAll(/RECORD_ID\(\)='([^']*)'/g),
    ]);
    const firstPages = seen.filter((s) => !s.url.searchParams.has('offset'));
    const askedFirst = firstPages.flatMap((s) => [
      ...(s.url.searchParams.get('filterByFormula') ?? '').matchAll(/RECORD_ID\(\)='([^']*)'/g),
    ]);
    expect(askedFirst.map((m) => m[1]).sort()).toEqual([...ids].sort());
    expect(asked.length).toBeGreaterThanOrEqual(ids.length);
    expect(firstPages[0].url.searchParams.get('filterByFormula')).toMatch(/^OR\(RECORD_ID\(\)='rec\w{14}',/);
  });

  it('falls back to POST listRecords when other params leave no room in the URL', async () => {
    const { fetch, seen } = mswFetch(...listRecordsHandlers(makeRecords(10)));
    const { client, run } = setup(fetch);
    const fields = Array.from({ length: 1000 }, (_, i) => `fldFIELD${String(i).padStart(8, '0')}`);
    const got = await run(client.getRecordsByIds(BASE, TABLE, [recordId(3), recordId(1)], { fields }));
    expect(got.map((r) => r.id)).toEqual([recordId(3), recordId(1)]);
    expect(seen).toHaveLength(1);
    expect(seen[0].method).toBe('POST');
    expect(JSON.parse(seen[0].body)).toMatchObject({
      fields,
      filterByFormula: `OR(RECORD_ID()='${recordId(3)}',RECORD_ID()='${recordId(1)}')`,
    });
  });

  it('sends nothing for no ids, and escapes quotes so an id cannot break the formula', async () => {
    const { fetch, seen } = mswFetch(...listRecordsHandlers(makeRecords(1)));
    const { client, run } = setup(fetch);
    expect(await run(client.getRecordsByIds(BASE, TABLE, []))).toEqual([]);
    expect(seen).toHaveLength(0);
    await run(client.getRecordsByIds(BASE, TABLE, ["rec'),TRUE(),('"]));
    expect(seen[0].url.searchParams.get('filterByFormula')).toBe("OR(RECORD_ID()='rec\\'),TRUE(),(\\'')");
  });
});

describe('other endpoints', () => {
  it('getRecord, getBaseSchema, whoami hit the documented paths', async () => {
    const record = makeRecords(1)[0];
    const { fetch, seen } = mswFetch(
      http.get(`${API}/v0/${BASE}/${TABLE}/${record.id}`, () => HttpResponse.json(record)),
      http.get(`${API}/v0/meta/bases/${BASE}/tables`, () => HttpResponse.json({ tables: [] })),
      http.get(`${API}/v0/meta/whoami`, () => HttpResponse.json({ id: 'usrXXXXXXXXXXXXXX', scopes: ['a'] })),
    );
    const { client, run } = setup(fetch);
    expect(await run(client.getRecord(BASE, TABLE, record.id))).toEqual(record);
    expect(seen[0].url.searchParams.get('returnFieldsByFieldId')).toBe('true');
    expect(await run(client.getBaseSchema(BASE))).toEqual({ tables: [] });
    expect(await run(client.whoami())).toEqual({ id: 'usrXXXXXXXXXXXXXX', scopes: ['a'] });
  });

  it('getRecord of an unknown id maps the string-form 404', async () => {
    const { fetch } = mswFetch(
      http.get(`${API}/v0/*`, () => HttpResponse.json({ error: 'NOT_FOUND' }, { status: 404 })),
    );
    const { client, run } = setup(fetch);
    await expect(run(client.getRecord(BASE, TABLE, recordId(9)))).rejects.toMatchObject({
      code: 'NOT_FOUND',
      status: 404,
    });
  });

  it('listBases follows offsets and is not counted against any base', async () => {
    const { fetch, seen } = mswFetch(
      http.get(`${API}/v0/meta/bases`, ({ request }) =>
        new URL(request.url).searchParams.get('offset') === 'itr1/appB'
          ? HttpResponse.json({ bases: [{ id: OTHER_BASE, name: 'B', permissionLevel: 'edit' }] })
          : HttpResponse.json({
              bases: [{ id: BASE, name: 'A', permissionLevel: 'create' }],
              offset: 'itr1/appB',
            }),
      ),
    );
    const { client, run, budget } = setup(fetch);
    const bases = await run(client.listBases());
    expect(bases.map((b) => b.id)).toEqual([BASE, OTHER_BASE]);
    expect(seen).toHaveLength(2);
    expect(budget.allStats()).toEqual({});
  });

  it('webhook endpoints use /v0/bases/{baseId}/webhooks (docs/airtable-reference.md §4.1)', async () => {
    const spec = { options: { filters: { dataTypes: ['tableData' as const] } } };
    const hook = 'achAAAAAAAAAAAAAA';
    const { fetch, seen } = mswFetch(
      http.post(`${API}/v0/bases/${BASE}/webhooks`, () =>
        HttpResponse.json({ id: hook, macSecretBase64: 'c2VjcmV0', expirationTime: null }),
      ),
      http.get(`${API}/v0/bases/${BASE}/webhooks`, () => HttpResponse.json({ webhooks: [{ id: hook }] })),
      http.delete(`${API}/v0/bases/${BASE}/webhooks/${hook}`, () => new HttpResponse(null, { status: 200 })),
      http.post(`${API}/v0/bases/${BASE}/webhooks/${hook}/refresh`, () =>
        HttpResponse.json({ expirationTime: '2026-01-08T00:00:00.000Z' }),
      ),
      http.post(`${API}/v0/bases/${BASE}/webhooks/${hook}/enableNotifications`, () => new HttpResponse(null)),
      http.get(`${API}/v0/bases/${BASE}/webhooks/${hook}/payloads`, () =>
        HttpResponse.json({ payloads: [], cursor: 5, mightHaveMore: false }),
      ),
    );
    const { client, run, budget } = setup(fetch);
    expect(
      await run(client.createWebhook(BASE, { notificationUrl: 'https://x.test/hook', specification: spec })),
    ).toEqual({
      id: hook,
      macSecretBase64: 'c2VjcmV0',
      expirationTime: null,
    });
    expect(JSON.parse(seen[0].body)).toEqual({ notificationUrl: 'https://x.test/hook', specification: spec });
    expect(await run(client.listWebhooks(BASE))).toEqual([{ id: hook }]);
    expect(await run(client.deleteWebhook(BASE, hook))).toBeUndefined();
    expect(await run(client.refreshWebhook(BASE, hook))).toEqual({
      expirationTime: '2026-01-08T00:00:00.000Z',
    });
    await run(client.enableNotifications(BASE, hook, true));
    expect(JSON.parse(seen[4].body)).toEqual({ enable: true });
    expect(await run(client.listPayloads(BASE, hook, { cursor: 5, limit: 50 }))).toEqual({
      payloads: [],
      cursor: 5,
      mightHaveMore: false,
    });
    expect(seen[5].url.search).toBe('?cursor=5&limit=50');
    expect(seen.map((s) => s.method)).toEqual(['POST', 'GET', 'DELETE', 'POST', 'POST', 'GET']);
    expect(budget.stats(BASE).sent).toBe(6);
  });

  it('createWebhook is not repeated after a 500 (a retry could make a second hook), but is after a 503', async () => {
    const serverError = mswFetch(http.post(`${API}/*`, errorJson(500, 'SERVER_ERROR')));
    const a = setup(serverError.fetch);
    const spec = { options: { filters: { dataTypes: ['tableData' as const] } } };
    await expect(a.run(a.client.createWebhook(BASE, { specification: spec }))).rejects.toMatchObject({
      code: 'SERVER_ERROR',
      status: 500,
    });
    expect(serverError.seen).toHaveLength(1);

    let n = 0;
    const unavailable = mswFetch(
      http.post(`${API}/*`, () =>
        ++n === 1
          ? errorJson(503, 'RETRIABLE_ERROR')()
          : HttpResponse.json({ id: 'achAAAAAAAAAAAAAA', macSecretBase64: 'x', expirationTime: null }),
      ),
    );
    const b = setup(unavailable.fetch);
    await b.run(b.client.createWebhook(BASE, { specification: spec }));
    expect(unavailable.seen).toHaveLength(2);
  });
});

describe('failures through the client', () => {
  it('retries a 502 then succeeds, reporting every attempt without the query or token', async () => {
    let n = 0;
    const { fetch } = mswFetch(
      http.get(`${API}/v0/${BASE}/${TABLE}`, () =>
        ++n === 1 ? new HttpResponse('bad gateway', { status: 502 }) : HttpResponse.json({ records: [] }),
      ),
    );
    const { client, run, events, clock } = setup(fetch);
    await run(client.listRecordsPage(BASE, TABLE, { filterByFormula: 'secret-ish' }));
    expect(events.map((e) => [e.attempt, e.status, e.method, e.path, e.baseId])).toEqual([
      [1, 502, 'GET', `/v0/${BASE}/${TABLE}`, BASE],
      [2, 200, 'GET', `/v0/${BASE}/${TABLE}`, BASE],
    ]);
    expect(clock.sleeps).toEqual([250]);
    expect(JSON.stringify(events)).not.toContain('secret-ish');
    expect(JSON.stringify(events)).not.toContain(TOKEN);
  });

  it('does not retry a 4xx and throws the mapped error', async () => {
    const { fetch, seen } = mswFetch(
      http.get(
        `${API}/*`,
        errorJson(422, 'INVALID_FILTER_BY_FORMULA', 'The formula for filtering records is invalid'),
      ),
    );
    const { client, run } = setup(fetch);
    const err = await run(client.listRecordsPage(BASE, TABLE, { filterByFormula: '(' })).catch(
      (e: unknown) => e,
    );
    expect(err).toMatchObject({
      code: 'INVALID_FILTER_BY_FORMULA',
      status: 422,
      message: 'The formula for filtering records is invalid',
      details: { retryable: false },
    });
    expect(seen).toHaveLength(1);
  });

  it('a 429 blocks every client of that base for 30 s, then the request goes through', async () => {
    const clock = createFakeClock();
    const budget = createRateBudget({ now: clock.now, sleep: clock.sleep });
    let limited = true;
    const sentAt: Array<[string, number]> = [];
    const { fetch } = mswFetch(
      http.get(`${API}/v0/:base/:table`, ({ params }) => {
        sentAt.push([String(params.base), clock.now()]);
        if (params.base === BASE && limited) {
          limited = false;
          return errorJson(429, 'RATE_LIMIT_REACHED', 'Rate limit exceeded. Please try again later')();
        }
        return HttpResponse.json({ records: [] });
      }),
    );
    const syncer = setup(fetch, { clock, budget });
    const proxyLike = setup(fetch, { clock, budget });

    const first = syncer.client.listRecordsPage(BASE, TABLE);
    await clock.advance(0);
    expect(budget.stats(BASE).blockedUntil).toBe(T0 + 30_000);
    const sameBase = proxyLike.client.listRecordsPage(BASE, TABLE, {}, { priority: 'high' });
    const otherBase = proxyLike.client.listRecordsPage(OTHER_BASE, TABLE);
    await clock.advance(10_000);
    await otherBase;
    expect(sentAt).toEqual([
      [BASE, T0],
      [OTHER_BASE, T0],
    ]);
    await clock.run(Promise.all([first, sameBase]));
    expect(sentAt.slice(2).map(([b, t]) => [b, t - T0])).toEqual([
      [BASE, 30_000],
      [BASE, 30_000],
    ]);
    expect(budget.stats(BASE).rateLimited).toBe(1);
  });

  it('the billing 429 fails at once, unretried, with its own code (docs/airtable-reference.md §2.1)', async () => {
    const { fetch, seen } = mswFetch(
      http.get(
        `${API}/*`,
        errorJson(429, 'PUBLIC_API_BILLING_LIMIT_EXCEEDED', 'API billing plan limit exceeded'),
      ),
    );
    const { client, run, budget } = setup(fetch);
    await expect(run(client.listRecordsPage(BASE, TABLE))).rejects.toMatchObject({
      code: 'PUBLIC_API_BILLING_LIMIT_EXCEEDED',
      status: 429,
      details: { retryable: false },
    });
    expect(seen).toHaveLength(1);
    expect(budget.stats(BASE).blockedUntil).toBeNull();
  });

  it('an upstream that hangs becomes TIMEOUT after the attempts are spent', async () => {
    const hang: FetchFn = () => new Promise<Response>(() => undefined);
    const events: AirtableRequestEvent[] = [];
    const c = createAirtableClient({
      apiUrl: API,
      token: TOKEN,
      fetch: hang,
      budget: createRateBudget(),
      timeoutMs: 15,
      maxAttempts: 2,
      sleep: async () => undefined,
      onRequest: (e) => events.push(e),
    });
    await expect(c.whoami()).rejects.toMatchObject({ code: 'TIMEOUT', status: 504 });
    expect(events.map((e) => [e.attempt, e.status, e.error])).toEqual([
      [1, 0, 'TIMEOUT'],
      [2, 0, 'TIMEOUT'],
    ]);
  });

  it('a non-JSON 2xx body is UNEXPECTED_ERROR', async () => {
    const { fetch } = mswFetch(http.get(`${API}/*`, () => new HttpResponse('<html>', { status: 200 })));
    const { client, run } = setup(fetch);
    await expect(run(client.getBaseSchema(BASE))).rejects.toMatchObject({ code: 'UNEXPECTED_ERROR' });
  });

  it.each([
    ['a personal access token', TOKEN],
    ['an OAuth-style token', 'oauth-access-token-3f9a1c77e2b04d5e'],
  ])('no error the client throws carries %s', async (_kind, token) => {
    const failures: FetchFn[] = [
      mswFetch(
        http.all(`${API}/*`, ({ request }) =>
          HttpResponse.json(
            {
              error: {
                type: 'UNAUTHORIZED',
                message: `Invalid token ${request.headers.get('authorization')}`,
              },
            },
            { status: 401 },
          ),
        ),
      ).fetch,
      async () => {
        throw new TypeError(`connect ECONNREFUSED (token ${token})`);
      },
      () => new Promise<Response>(() => undefined),
      mswFetch(http.all(`${API}/*`, () => new HttpResponse(`oops ${token}`, { status: 400 }))).fetch,
    ];
    for (const fetch of failures) {
      const client = createAirtableClient({
        apiUrl: API,
        token,
        fetch,
        budget: createRateBudget(),
        timeoutMs: 10,
        maxAttempts: 1,
      });
      const err = await client.listRecordsPage(BASE, TABLE).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(AirmirrorError);
      const e = err as AirmirrorError;
      expect(e.message).not.toContain(token);
      expect(String(e)).not.toContain(token);
      expect(JSON.stringify(e.details)).not.toContain(token);
      expect(String((e.cause as Error | undefined)?.message)).not.toContain(token);
    }
  });
});
