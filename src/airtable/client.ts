import { ListingRestartRequired } from './errors.ts';
import {
  listRecordsBody,
  listRecordsQuery,
  MAX_GET_URL_LENGTH,
  recordIdFormulas,
  type ListRecordsParams,
} from './list-params.ts';
import {
  createTransport,
  type AirtableClientOptions,
  type CallOptions,
  type RequestOptions,
} from './transport.ts';
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
export type {
  AirtableClientOptions,
  AirtableRequestEvent,
  CallOptions,
  RequestOptions,
} from './transport.ts';

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
  /** One page of list records (GET; POST `listRecords` when the URL would be too long, docs/airtable-reference.md §1.1). */
  listRecordsPage(
    baseId: string,
    tableIdOrName: string,
    params?: ListRecordsParams,
    opts?: CallOptions,
  ): Promise<ListRecordsResponse>;
  /**
   * Every page of a listing (100 a page unless `pageSize` says otherwise), in order. Pages must
   * be consumed promptly: Airtable's iterator expires with inactivity. When it does, the
   * generator throws `ListingRestartRequired` (422 LIST_RECORDS_ITERATOR_NOT_AVAILABLE, docs/airtable-reference.md §1.1);
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
   * URL limit. Note a get-by-id can't prove table membership (docs/airtable-reference.md §1.2); a filter on the table can.
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
  const { apiUrl, request } = createTransport(options);

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
