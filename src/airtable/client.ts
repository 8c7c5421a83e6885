import { AirmirrorError } from '../errors.ts';
import { systemNow, type Now, type Sleep } from '../lifecycle/clock.ts';
import { airtableError, ListingRestartRequired, scrubSecrets } from './errors.ts';
import {
  rebuildResponse,
  withBackoff,
  withDeadline,
  withRateBudget,
  type AirtableRequestInit,
  type FetchFn,
} from './fetch-helpers.ts';
import {
  listRecordsBody,
  listRecordsQuery,
  MAX_GET_URL_LENGTH,
  recordIdFormulas,
  type ListRecordsParams,
} from './list-params.ts';
import type { BudgetPriority, RateBudget } from './rate-budget.ts';
import type {
  AirtableBaseInfo,
  AirtableRecord,
  BaseSchema,
  CreateWebhookResponse,
  ListBasesResponse,
  ListPayloadsResponse,
  ListRecordsResponse,
  ListWebhooksResponse,
  RefreshWebhookResponse,
  WebhookInfo,
  WebhookSpecification,
  WhoAmIResponse,
} from './types.ts';

export type { ListRecordsParams } from './list-params.ts';

/** One attempt on the wire, for run accounting and metrics. Never carries the token or a query. */
export interface AirtableRequestEvent {
  baseId: string | null;
  method: string;
  /** URL path without the query string, e.g. `/v0/appX/tblY`. */
  path: string;
  /** HTTP status; 0 when no answer came (timeout, network error). */
  status: number;
  ms: number;
  /** 1 for the first attempt, 2 for the first retry, … */
  attempt: number;
  /** Error code when no answer came (`TIMEOUT`, `CONNECTION_ERROR`). */
  error?: string;
}

export interface AirtableClientOptions {
  /** Where api.airtable.com really is: `https://api.airtable.com`, the emulator, … */
  apiUrl: string;
  token: string;
  fetch: FetchFn;
  /** The process-wide per-base budget (one per process, shared with the proxy). */
  budget: RateBudget;
  /** Per attempt, headers and body. Default 30 s. */
  timeoutMs?: number;
  /** Attempts per request including the first. Default 5. */
  maxAttempts?: number;
  /** Stop retrying once this much time has passed since the first attempt. Default 120 s. */
  maxElapsedMs?: number;
  now?: Now;
  sleep?: Sleep;
  /** Jitter source for backoff, [0, 1). */
  random?: () => number;
  /** Budget priority of this client's requests unless a call says otherwise. Default 'normal'. */
  priority?: BudgetPriority;
  onRequest?: (event: AirtableRequestEvent) => void;
}

export interface CallOptions {
  signal?: AbortSignal;
  priority?: BudgetPriority;
}

export interface RequestOptions extends CallOptions {
  /** The base the request counts against in the budget; null for base-less meta calls. */
  baseId: string | null;
  query?: string;
  body?: unknown;
  /** See AirtableRequestInit.idempotent. Default true. */
  idempotent?: boolean;
  /**
   * Turns a 2xx body into the result; default JSON.parse. A throw is Airtable answering 2xx with
   * a body that is not what was asked for (UNEXPECTED_ERROR, retryable), as for invalid JSON.
   */
  decode?: (text: string) => unknown;
}

export interface ListPage {
  records: AirtableRecord[];
  /** 1-based. */
  pageNumber: number;
}

/** What a page decoder must find in a list-records body: the offset of the next page, if any. */
export interface DecodedListPage {
  offset?: string;
}

export interface AirtableClient {
  /** One page of list records (GET; POST `listRecords` when the URL would be too long, §1.1). */
  listRecordsPage(
    baseId: string,
    tableIdOrName: string,
    params?: ListRecordsParams,
    opts?: CallOptions,
  ): Promise<ListRecordsResponse>;
  /**
   * Every page of a listing (100 a page unless `pageSize` says otherwise), in order. Pages must
   * be consumed promptly: Airtable's iterator expires with inactivity. When it does, the
   * generator throws `ListingRestartRequired` (422 LIST_RECORDS_ITERATOR_NOT_AVAILABLE, §1.1);
   * the caller must discard what the earlier pages told it and restart from page 1 — a sweep
   * must not treat the listing as complete (no deletes).
   */
  listAllRecords(
    baseId: string,
    tableIdOrName: string,
    params?: ListRecordsParams,
    opts?: CallOptions,
  ): AsyncGenerator<ListPage>;
  /**
   * listAllRecords with the page body handed to `decode` as text instead of JSON.parse, for a
   * caller that reads records more cheaply itself (the sweep hashes each record's JSON text and
   * parses only records it has not seen). Same paging, retries and ListingRestartRequired.
   */
  listAllPages<P extends DecodedListPage>(
    baseId: string,
    tableIdOrName: string,
    params: ListRecordsParams,
    decode: (text: string) => P,
    opts?: CallOptions,
  ): AsyncGenerator<P & { pageNumber: number }>;
  getRecord(
    baseId: string,
    tableIdOrName: string,
    recordId: string,
    opts?: CallOptions,
  ): Promise<AirtableRecord>;
  /**
   * The records with these ids that exist in the table, in the order of `ids` (duplicates
   * dropped, missing ids simply absent). Batched `OR(RECORD_ID()='…',…)` formulas sized to the
   * URL limit. Note a get-by-id can't prove table membership (§1.2); a filter on the table can.
   */
  getRecordsByIds(
    baseId: string,
    tableIdOrName: string,
    ids: readonly string[],
    opts?: CallOptions & { fields?: string[] },
  ): Promise<AirtableRecord[]>;
  getBaseSchema(baseId: string, opts?: CallOptions): Promise<BaseSchema>;
  listBases(opts?: CallOptions): Promise<AirtableBaseInfo[]>;
  whoami(opts?: CallOptions): Promise<WhoAmIResponse>;

  /** Not retried after an unknown outcome (timeout, 500): a retry could create a second hook. */
  createWebhook(
    baseId: string,
    input: { notificationUrl?: string | null; specification: WebhookSpecification },
    opts?: CallOptions,
  ): Promise<CreateWebhookResponse>;
  listWebhooks(baseId: string, opts?: CallOptions): Promise<WebhookInfo[]>;
  deleteWebhook(baseId: string, webhookId: string, opts?: CallOptions): Promise<void>;
  refreshWebhook(baseId: string, webhookId: string, opts?: CallOptions): Promise<RefreshWebhookResponse>;
  enableNotifications(baseId: string, webhookId: string, enable: boolean, opts?: CallOptions): Promise<void>;
  listPayloads(
    baseId: string,
    webhookId: string,
    params?: { cursor?: number; limit?: number },
    opts?: CallOptions,
  ): Promise<ListPayloadsResponse>;

  /** Escape hatch for endpoints not wrapped above; same budget, timeout, backoff and mapping. */
  request<T>(method: string, path: string, opts: RequestOptions): Promise<T>;
}

const enc = encodeURIComponent;

export function createAirtableClient(options: AirtableClientOptions): AirtableClient {
  const apiUrl = options.apiUrl.replace(/\/+$/, '');
  const { token, budget, onRequest } = options;
  const now = options.now ?? systemNow;
  const timed = withTimeoutReadingText(options.fetch, options.timeoutMs ?? 30_000);
  const backoff = {
    maxAttempts: options.maxAttempts,
    maxElapsedMs: options.maxElapsedMs,
    now,
    sleep: options.sleep,
    random: options.random,
  };

  async function request<T>(method: string, path: string, opts: RequestOptions): Promise<T> {
    const url = `${apiUrl}${path}${opts.query ? `?${opts.query}` : ''}`;
    let attempt = 0;
    // Counts attempts of this one request and reports each to onRequest.
    const instrumented: FetchFn = async (input, init) => {
      const n = ++attempt;
      const t0 = now();
      const report = (status: number, error?: string) =>
        onRequest?.({ baseId: opts.baseId, method, path, status, ms: now() - t0, attempt: n, error });
      try {
        const res = await timed(input, init);
        report(res.status);
        return res;
      } catch (err) {
        report(0, err instanceof AirmirrorError ? err.code : 'ABORTED');
        throw err;
      }
    };
    const send = withBackoff(
      withRateBudget(instrumented, budget, () => opts.baseId ?? undefined),
      backoff,
    );
    const headers: Record<string, string> = { authorization: `Bearer ${token}` };
    if (opts.body !== undefined) headers['content-type'] = 'application/json';
    const res = await sendScrubbed(send, url, {
      method,
      headers,
      body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
      signal: opts.signal,
      budgetPriority: opts.priority ?? options.priority ?? 'normal',
      idempotent: opts.idempotent ?? true,
    });
    const text = bodyText.get(res) ?? (await res.text());
    if (!res.ok) throw airtableError(res.status, text, res.headers, { secrets: [token], now });
    if (text === '') return undefined as T;
    try {
      return (opts.decode ? opts.decode(text) : JSON.parse(text)) as T;
    } catch (err) {
      throw new AirmirrorError('UNEXPECTED_ERROR', 502, 'Airtable answered 2xx with a non-JSON body', {
        cause: err,
        details: { retryable: true },
      });
    }
  }

  /** The wrappers scrub PAT shapes generically; this also removes this client's exact token. */
  async function sendScrubbed(send: FetchFn, url: string, init: AirtableRequestInit): Promise<Response> {
    try {
      return await send(url, init);
    } catch (err) {
      if (err instanceof AirmirrorError && typeof err.details?.reason === 'string') {
        err.details.reason = scrubSecrets(err.details.reason, [token]);
      }
      throw err;
    }
  }

  const recordsPath = (baseId: string, table: string) => `/v0/${enc(baseId)}/${enc(table)}`;

  function listPage<P>(
    baseId: string,
    table: string,
    params: ListRecordsParams,
    opts: CallOptions & { decode?: (text: string) => P },
  ): Promise<P> {
    const path = recordsPath(baseId, table);
    const query = listRecordsQuery(params);
    if (`${apiUrl}${path}?${query}`.length <= MAX_GET_URL_LENGTH) {
      return request('GET', path, { ...opts, baseId, query });
    }
    return request('POST', `${path}/listRecords`, { ...opts, baseId, body: listRecordsBody(params) });
  }

  const listRecordsPage = (
    baseId: string,
    table: string,
    params: ListRecordsParams = {},
    opts: CallOptions = {},
  ): Promise<ListRecordsResponse> => listPage(baseId, table, params, opts);

  async function* listAllPages<P extends DecodedListPage>(
    baseId: string,
    table: string,
    params: ListRecordsParams,
    decode: ((text: string) => P) | undefined,
    opts: CallOptions = {},
  ): AsyncGenerator<P & { pageNumber: number }> {
    let offset: string | undefined;
    for (let pageNumber = 1; ; pageNumber++) {
      let page: P;
      try {
        page = await listPage<P>(baseId, table, { pageSize: 100, ...params, offset }, { ...opts, decode });
      } catch (err) {
        if (err instanceof ListingRestartRequired) {
          throw new ListingRestartRequired(
            `Airtable's list iterator expired at page ${pageNumber}; restart the listing from page 1`,
            { ...err.details, pageNumber },
          );
        }
        throw err;
      }
      yield Object.assign(page, { pageNumber });
      if (!page.offset) return;
      offset = page.offset;
    }
  }

  async function* listAllRecords(
    baseId: string,
    table: string,
    params: ListRecordsParams = {},
    opts: CallOptions = {},
  ): AsyncGenerator<ListPage> {
    for await (const page of listAllPages<ListRecordsResponse>(baseId, table, params, undefined, opts)) {
      yield { records: page.records, pageNumber: page.pageNumber };
    }
  }

  async function getRecordsByIds(
    baseId: string,
    table: string,
    ids: readonly string[],
    opts: CallOptions & { fields?: string[] } = {},
  ): Promise<AirtableRecord[]> {
    if (ids.length === 0) return [];
    const { fields, ...callOpts } = opts;
    const params: ListRecordsParams = { pageSize: 100, fields };
    const found = new Map<string, AirtableRecord>();
    for (const filterByFormula of recordIdFormulas(ids, `${apiUrl}${recordsPath(baseId, table)}`, params)) {
      for await (const page of listAllRecords(baseId, table, { ...params, filterByFormula }, callOpts)) {
        for (const record of page.records) found.set(record.id, record);
      }
    }
    return [...new Set(ids)].flatMap((id) => found.get(id) ?? []);
  }

  const hookPath = (baseId: string, webhookId?: string) =>
    `/v0/bases/${enc(baseId)}/webhooks${webhookId ? `/${enc(webhookId)}` : ''}`;

  return {
    listRecordsPage,
    listAllRecords,
    listAllPages: (baseId, table, params, decode, opts) => listAllPages(baseId, table, params, decode, opts),
    getRecordsByIds,
    request,

    getRecord: (baseId, table, recordId, opts = {}) =>
      request('GET', `${recordsPath(baseId, table)}/${enc(recordId)}`, {
        ...opts,
        baseId,
        query: 'returnFieldsByFieldId=true',
      }),

    getBaseSchema: (baseId, opts = {}) =>
      request('GET', `/v0/meta/bases/${enc(baseId)}/tables`, { ...opts, baseId }),

    async listBases(opts = {}) {
      const bases: AirtableBaseInfo[] = [];
      let offset: string | undefined;
      do {
        const page = await request<ListBasesResponse>('GET', '/v0/meta/bases', {
          ...opts,
          baseId: null,
          query: offset ? `offset=${enc(offset)}` : undefined,
        });
        bases.push(...page.bases);
        offset = page.offset;
      } while (offset);
      return bases;
    },

    whoami: (opts = {}) => request('GET', '/v0/meta/whoami', { ...opts, baseId: null }),

    createWebhook: (baseId, input, opts = {}) =>
      request('POST', hookPath(baseId), { ...opts, baseId, body: input, idempotent: false }),

    async listWebhooks(baseId, opts = {}) {
      const res = await request<ListWebhooksResponse>('GET', hookPath(baseId), { ...opts, baseId });
      return res.webhooks;
    },

    async deleteWebhook(baseId, webhookId, opts = {}) {
      await request('DELETE', hookPath(baseId, webhookId), { ...opts, baseId });
    },

    refreshWebhook: (baseId, webhookId, opts = {}) =>
      request('POST', `${hookPath(baseId, webhookId)}/refresh`, { ...opts, baseId }),

    async enableNotifications(baseId, webhookId, enable, opts = {}) {
      await request('POST', `${hookPath(baseId, webhookId)}/enableNotifications`, {
        ...opts,
        baseId,
        body: { enable },
      });
    },

    listPayloads(baseId, webhookId, params = {}, opts = {}) {
      const query = [
        params.cursor !== undefined ? `cursor=${params.cursor}` : '',
        params.limit !== undefined ? `limit=${params.limit}` : '',
      ]
        .filter(Boolean)
        .join('&');
      return request('GET', `${hookPath(baseId, webhookId)}/payloads`, {
        ...opts,
        baseId,
        query: query || undefined,
      });
    },
  };
}

/** Bodies read by withTimeoutReadingText, for `request` (2xx answers only). */
const bodyText = new WeakMap<Response, string>();

/**
 * The client's per-attempt transport: like fetch-helpers' withTimeout (headers AND body within
 * `ms`, a stalled body is a retryable TIMEOUT, the caller's abort wins, other failures are
 * CONNECTION_ERROR), but the body is read once, as text. A 2xx answer comes back as the original
 * Response with its text kept aside for `request`; rebuilding a Response around a buffered body
 * and reading it again cost as much CPU as the JSON parse of a page (the sweep's hot path).
 * Other answers are rebuilt with their body, as the retry and budget wrappers read them.
 */
function withTimeoutReadingText(fetch: FetchFn, ms: number): FetchFn {
  return withDeadline(fetch, ms, async (res, read) => {
    const text = await read(res.text());
    if (!res.ok) return rebuildResponse(res, text);
    bodyText.set(res, text);
    return res;
  });
}
