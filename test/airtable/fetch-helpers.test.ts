import { http, HttpResponse } from 'msw';
import { describe, expect, it } from 'vitest';
import { AirmirrorError } from '../../src/errors.ts';
import {
  baseIdFromUrl,
  withBackoff,
  withRateBudget,
  withTimeout,
  type FetchFn,
} from '../../src/airtable/fetch-helpers.ts';
import { createRateBudget, DEFAULT_WINDOW_MS } from '../../src/airtable/rate-budget.ts';
import { createFakeClock, settle, T0 } from '../support/fake-clock.ts';
import { API, mswFetch } from '../support/msw-fetch.ts';

const URL_A = `${API}/v0/appAAAAAAAAAAAAAA/tblT`;
const error = (type: string) => ({ error: { type, message: `${type} message` } });

/** A handler answering the given responses in turn (the last one repeats). */
function sequence(...responses: Array<() => Response>) {
  let i = 0;
  const { fetch, seen } = mswFetch(
    http.all(`${API}/*`, () => responses[Math.min(i++, responses.length - 1)]()),
  );
  return { fetch, seen };
}

const status =
  (code: number, body: unknown = error('X'), headers: Record<string, string> = {}) =>
  () =>
    HttpResponse.json(body as object, { status: code, headers });
const ok = () => HttpResponse.json({ ok: true });

function backoff(fetch: FetchFn, opts: Parameters<typeof withBackoff>[1] = {}) {
  const clock = createFakeClock();
  const wrapped = withBackoff(fetch, { now: clock.now, sleep: clock.sleep, random: () => 0.5, ...opts });
  return { clock, call: (init?: Parameters<FetchFn>[1]) => clock.run(wrapped(URL_A, init)) };
}

describe('withBackoff', () => {
  it('retries 500, 502 and 503 with exponential full-jitter delays, then returns the success', async () => {
    const { fetch, seen } = sequence(status(500), status(502, 'not json'), status(503), ok);
    const { clock, call } = backoff(fetch);
    const res = await call();
    expect(res.status).toBe(200);
    expect(seen).toHaveLength(4);
    // random() = 0.5 of windows 500, 1000, 2000 ms.
    expect(clock.sleeps).toEqual([250, 500, 1000]);
  });

  it('caps the backoff window at maxDelayMs', async () => {
    const { fetch } = sequence(status(500), status(500), status(500), ok);
    const { clock, call } = backoff(fetch, { initialDelayMs: 1000, maxDelayMs: 1500, random: () => 0.999 });
    await call();
    expect(clock.sleeps).toEqual([999, 1498, 1498]);
  });

  it.each([400, 401, 403, 404, 413, 422])('never retries %i', async (code) => {
    const { fetch, seen } = sequence(status(code), ok);
    const { clock, call } = backoff(fetch);
    const res = await call();
    expect(res.status).toBe(code);
    expect(seen).toHaveLength(1);
    expect(clock.sleeps).toEqual([]);
  });

  it('retries network errors and typed timeouts', async () => {
    let n = 0;
    const flaky: FetchFn = async () => {
      n++;
      if (n === 1) throw new TypeError('fetch failed');
      if (n === 2) throw new AirmirrorError('TIMEOUT', 504, 't', { details: { retryable: true } });
      return new Response('{}');
    };
    const { call } = backoff(flaky);
    expect((await call()).status).toBe(200);
    expect(n).toBe(3);
  });

  it('gives up after maxAttempts and returns the last answer for the caller to map', async () => {
    const { fetch, seen } = sequence(status(503, error('RETRIABLE_ERROR')));
    const { call } = backoff(fetch, { maxAttempts: 3 });
    const res = await call();
    expect(res.status).toBe(503);
    expect(await res.json()).toEqual(error('RETRIABLE_ERROR'));
    expect(seen).toHaveLength(3);
  });

  it('after maxAttempts network failures throws CONNECTION_ERROR', async () => {
    let n = 0;
    const down: FetchFn = async () => {
      n++;
      throw new TypeError('fetch failed');
    };
    const { call } = backoff(down, { maxAttempts: 2 });
    await expect(call()).rejects.toMatchObject({ code: 'CONNECTION_ERROR', details: { retryable: true } });
    expect(n).toBe(2);
  });

  it('honours Retry-After in seconds on 503', async () => {
    const { fetch } = sequence(status(503, error('RETRIABLE_ERROR'), { 'retry-after': '7' }), ok);
    const { clock, call } = backoff(fetch);
    await call();
    expect(clock.sleeps).toEqual([7000]);
  });

  it('honours Retry-After as an HTTP date on 429', async () => {
    const at = new Date(T0 + 42_000).toUTCString();
    const { fetch } = sequence(status(429, error('RATE_LIMIT_REACHED'), { 'retry-after': at }), ok);
    const { clock, call } = backoff(fetch);
    await call();
    expect(clock.sleeps).toEqual([42_000]);
  });

  it('uses jitter, not Retry-After, on statuses where Airtable does not define it (500)', async () => {
    const { fetch } = sequence(status(500, error('X'), { 'retry-after': '60' }), ok);
    const { clock, call } = backoff(fetch);
    await call();
    expect(clock.sleeps).toEqual([250]);
  });

  it('retries 429 RATE_LIMIT_REACHED but NEVER 429 PUBLIC_API_BILLING_LIMIT_EXCEEDED (docs/airtable-reference.md §2.1)', async () => {
    const rate = sequence(status(429, error('RATE_LIMIT_REACHED')), ok);
    expect((await backoff(rate.fetch).call()).status).toBe(200);
    expect(rate.seen).toHaveLength(2);

    const billing = sequence(
      status(429, error('PUBLIC_API_BILLING_LIMIT_EXCEEDED'), { 'retry-after': '1' }),
      ok,
    );
    const res = await backoff(billing.fetch).call();
    expect(res.status).toBe(429);
    expect(billing.seen).toHaveLength(1);
  });

  it('does not repeat a non-idempotent request after an unknown outcome, but does after 429/503', async () => {
    const unknown = sequence(status(500), ok);
    expect((await backoff(unknown.fetch).call({ idempotent: false })).status).toBe(500);
    expect(unknown.seen).toHaveLength(1);

    let n = 0;
    const cut: FetchFn = async () => {
      n++;
      throw new TypeError('socket hang up');
    };
    await expect(backoff(cut).call({ idempotent: false })).rejects.toMatchObject({
      code: 'CONNECTION_ERROR',
    });
    expect(n).toBe(1);

    const rejected = sequence(status(503), status(429, error('RATE_LIMIT_REACHED')), ok);
    expect((await backoff(rejected.fetch).call({ idempotent: false })).status).toBe(200);
    expect(rejected.seen).toHaveLength(3);
  });

  it('stops instead of sleeping past maxElapsedMs', async () => {
    const { fetch, seen } = sequence(status(503, error('RETRIABLE_ERROR'), { 'retry-after': '200' }), ok);
    const { clock, call } = backoff(fetch, { maxElapsedMs: 120_000 });
    expect((await call()).status).toBe(503);
    expect(seen).toHaveLength(1);
    expect(clock.sleeps).toEqual([]);
  });

  it("aborting the caller's signal during a backoff sleep rejects with its reason and sends nothing more", async () => {
    const { fetch, seen } = sequence(status(500));
    const clock = createFakeClock();
    const wrapped = withBackoff(fetch, { now: clock.now, sleep: clock.sleep, random: () => 0.5 });
    const ctl = new AbortController();
    const pending = wrapped(URL_A, { signal: ctl.signal });
    pending.catch(() => undefined);
    await clock.advance(100); // first attempt done, sleeping 250 ms
    ctl.abort(new Error('shutting down'));
    await expect(pending).rejects.toThrow('shutting down');
    await clock.advance(10_000);
    expect(seen).toHaveLength(1);
  });
});

describe('withTimeout', () => {
  it('turns an upstream that never answers into a typed, retryable TIMEOUT', async () => {
    const hang: FetchFn = () => new Promise<Response>(() => undefined);
    const err = await withTimeout(hang, 20)(URL_A).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AirmirrorError);
    expect(err).toMatchObject({ code: 'TIMEOUT', status: 504, details: { retryable: true } });
  });

  it('also times out a body that stalls after the headers', async () => {
    const stall: FetchFn = async () =>
      new Response(
        new ReadableStream({
          start(c) {
            c.enqueue(new TextEncoder().encode('{"records":['));
          },
        }),
      );
    await expect(withTimeout(stall, 20)(URL_A)).rejects.toMatchObject({ code: 'TIMEOUT' });
  });

  it('a body cut mid-way is a retryable CONNECTION_ERROR', async () => {
    const cut: FetchFn = async () =>
      new Response(
        new ReadableStream({
          start(c) {
            c.enqueue(new TextEncoder().encode('{"rec'));
            c.error(new Error('other side closed'));
          },
        }),
      );
    await expect(withTimeout(cut, 1000)(URL_A)).rejects.toMatchObject({
      code: 'CONNECTION_ERROR',
      details: { retryable: true },
    });
  });

  it("respects the caller's signal: its reason, not a timeout", async () => {
    const hang: FetchFn = () => new Promise<Response>(() => undefined);
    const ctl = new AbortController();
    const pending = withTimeout(hang, 5000)(URL_A, { signal: ctl.signal });
    ctl.abort(new Error('caller gave up'));
    await expect(pending).rejects.toThrow('caller gave up');
  });

  it('passes answers through with status, headers and body (empty bodies included)', async () => {
    const { fetch } = mswFetch(
      http.get(`${API}/json`, () => HttpResponse.json({ a: 1 }, { status: 201, headers: { 'x-k': 'v' } })),
      http.delete(`${API}/empty`, () => new HttpResponse(null, { status: 204 })),
    );
    const res = await withTimeout(fetch, 1000)(`${API}/json`);
    expect(res.status).toBe(201);
    expect(res.headers.get('x-k')).toBe('v');
    expect(await res.json()).toEqual({ a: 1 });
    const empty = await withTimeout(fetch, 1000)(`${API}/empty`, { method: 'DELETE' });
    expect(empty.status).toBe(204);
    expect(await empty.text()).toBe('');
  });
});

describe('withRateBudget', () => {
  function budgeted(...responses: Array<() => Response>) {
    const clock = createFakeClock();
    const budget = createRateBudget({ now: clock.now, sleep: clock.sleep });
    const { fetch, seen } = sequence(...responses);
    return { budget, seen, call: withRateBudget(fetch, budget) };
  }

  it('takes a budget slot per request for the base in the URL', async () => {
    const { budget, call } = budgeted(ok);
    await call(URL_A);
    await call(`${API}/v0/bases/appAAAAAAAAAAAAAA/webhooks`);
    await call(`${API}/v0/meta/bases/appAAAAAAAAAAAAAA/tables`);
    expect(budget.stats('appAAAAAAAAAAAAAA').sent).toBe(3);
  });

  it('leaves base-less requests (list bases, whoami) unmetered', async () => {
    const { budget, call } = budgeted(ok);
    await call(`${API}/v0/meta/bases`);
    await call(`${API}/v0/meta/whoami`);
    expect(budget.allStats()).toEqual({});
  });

  it('reports each answer to the departure it took (the pacer measures round trips), a failure too', async () => {
    const clock = createFakeClock();
    const inner = createRateBudget({ now: clock.now, sleep: clock.sleep });
    const events: string[] = [];
    const budget: typeof inner = {
      ...inner,
      acquire: async (baseId, opts) => {
        await inner.acquire(baseId, opts);
        events.push(`left, reports: ${String(opts?.reportsAnswer)}`);
        return { answered: () => void events.push('answered') };
      },
    };
    let fail = false;
    const fetch: typeof globalThis.fetch = async () => {
      events.push('fetched');
      if (fail) throw new TypeError('fetch failed');
      return new Response('{}');
    };
    const call = withRateBudget(fetch, budget);
    await call(URL_A);
    fail = true;
    await expect(call(URL_A)).rejects.toThrow('fetch failed');
    await call(`${API}/v0/meta/whoami`).catch(() => undefined); // no base: no departure
    expect(events).toEqual([
      'left, reports: true',
      'fetched',
      'answered',
      'left, reports: true',
      'fetched',
      'answered',
      'fetched',
    ]);
  });

  it('penalizes the base on 429 RATE_LIMIT_REACHED, not on the billing 429', async () => {
    const rate = budgeted(status(429, error('RATE_LIMIT_REACHED')));
    await rate.call(URL_A);
    expect(rate.budget.stats('appAAAAAAAAAAAAAA')).toMatchObject({
      rateLimited: 1,
      blockedUntil: T0 + 30_000,
    });

    const billing = budgeted(status(429, error('PUBLIC_API_BILLING_LIMIT_EXCEEDED')));
    await billing.call(URL_A);
    expect(billing.budget.stats('appAAAAAAAAAAAAAA')).toMatchObject({ rateLimited: 0, blockedUntil: null });
  });
});

describe('withRateBudget: the per-token window (docs/airtable-reference.md §2.1)', () => {
  const URL_B = `${API}/v0/appBBBBBBBBBBBBBB/tblT`;

  /** A budget of one request per token per window, on a clock that stands still. */
  function oneByToken() {
    const clock = createFakeClock();
    const budget = createRateBudget({ perTokenPerSecond: 1, now: clock.now, sleep: clock.sleep });
    const tokens: Array<string | undefined> = [];
    const spied: typeof budget = {
      ...budget,
      acquire: (baseId, opts) => {
        tokens.push(opts?.token);
        return budget.acquire(baseId, opts);
      },
    };
    const { fetch } = sequence(ok);
    return { clock, budget, tokens, call: withRateBudget(fetch, spied) };
  }

  it.each([
    ['a header record', { headers: { Authorization: 'Bearer patOne.secret' } }],
    ['a Headers object', { headers: new Headers({ authorization: 'bearer patOne.secret' }) }],
  ])('passes the bearer token of %s', async (_, init) => {
    const { tokens, call } = oneByToken();
    await call(URL_A, init);
    expect(tokens).toEqual(['patOne.secret']);
  });

  it("passes a Request's own token, unless init.headers replace its headers (as fetch does)", async () => {
    const { tokens, call } = oneByToken();
    const req = new Request(URL_A, { headers: { authorization: 'Bearer patReq.secret' } });
    await call(req);
    await call(new Request(URL_B, { headers: { authorization: 'Bearer patReq.secret' } }), {
      headers: { authorization: 'Bearer patInit.secret' },
    });
    expect(tokens).toEqual(['patReq.secret', 'patInit.secret']);
  });

  it('one token is one window across bases; another token does not share it', async () => {
    const { clock, budget, call } = oneByToken();
    const auth = (t: string) => ({ headers: { authorization: `Bearer ${t}` } });
    await call(URL_A, auth('patOne.secret'));
    await call(URL_B, auth('patTwo.secret'));
    const held = call(URL_B, auth('patOne.secret'));
    await settle();
    expect(budget.stats('appBBBBBBBBBBBBBB')).toMatchObject({ sent: 1, queued: 1, tokenWaits: 1 });
    await clock.run(held);
    expect(clock.now()).toBe(T0 + DEFAULT_WINDOW_MS);
  });

  it('a request without Authorization (or not Bearer) is limited by its base only', async () => {
    const { budget, tokens, call } = oneByToken();
    await call(URL_A);
    await call(URL_A, { headers: { 'content-type': 'application/json' } });
    await call(URL_A, { headers: { authorization: 'Basic dXNlcjpwYXNz' } });
    expect(tokens).toEqual([undefined, undefined, undefined]);
    expect(budget.stats('appAAAAAAAAAAAAAA')).toMatchObject({ sent: 3, waits: 0 });
  });
});

describe('baseIdFromUrl', () => {
  it.each([
    [`${API}/v0/appAAAAAAAAAAAAAA/Table%20One?pageSize=1`, 'appAAAAAAAAAAAAAA'],
    [`${API}/v0/appAAAAAAAAAAAAAA`, 'appAAAAAAAAAAAAAA'],
    [`${API}/v0/bases/appAAAAAAAAAAAAAA/webhooks/achX/payloads`, 'appAAAAAAAAAAAAAA'],
    [`${API}/v0/meta/bases/appAAAAAAAAAAAAAA/tables`, 'appAAAAAAAAAAAAAA'],
    ['http://127.0.0.1:8787/api.airtable.com/v0/appAAAAAAAAAAAAAA/tbl', 'appAAAAAAAAAAAAAA'],
    [`${API}/v0/meta/bases?offset=x`, undefined],
    [`${API}/v0/meta/whoami`, undefined],
    [`${API}/v0/application/x`, undefined],
  ])('%s → %s', (url, base) => {
    expect(baseIdFromUrl(url)).toBe(base);
  });
});
