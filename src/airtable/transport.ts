import { AirmirrorError } from '../errors.ts';
import { systemNow, type Now, type Sleep } from '../lifecycle/clock.ts';
import { airtableError, scrubSecrets } from './errors.ts';
import {
  rebuildResponse,
  withBackoff,
  withDeadline,
  withRateBudget,
  type AirtableRequestInit,
  type FetchFn,
} from './fetch-helpers.ts';
import type { BudgetPriority, RateBudget } from './rate-budget.ts';

/**
 * The client's transport: one request to Airtable with the token, the request budget, a
 * per-attempt timeout, backoff with Retry-After, the error mapper and token scrubbing. The
 * endpoints (client.ts) are paths and shapes over `request`.
 */

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

/** Sends one Airtable request: budget, timeout, retries, error mapping; resolves with the decoded body. */
export type AirtableRequest = <T>(method: string, path: string, opts: RequestOptions) => Promise<T>;

export function createTransport(options: AirtableClientOptions): {
  apiUrl: string;
  request: AirtableRequest;
} {
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

  return { apiUrl, request };
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
