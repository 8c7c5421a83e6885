import { AirmirrorError } from '../errors.ts';
import { abortReason, systemNow, systemSleep, type Now, type Sleep } from '../lifecycle/clock.ts';
import {
  BILLING_LIMIT_TYPE,
  connectionError,
  isRetryableError,
  isRetryableStatus,
  parseAirtableErrorBody,
  parseRetryAfter,
  timeoutError,
} from './errors.ts';
import type { BudgetPriority, RateBudget } from './rate-budget.ts';

/**
 * Small composable wrappers around an injected `fetch` (in the style of Electric's
 * `createFetchWithBackoff`). The client stacks them per request as
 * `withBackoff(withRateBudget(withTimeout(fetch)))`: every attempt, retries included, takes a
 * slot of the per-base budget, and only the network exchange itself is timed (a 30-s penalty wait
 * in the budget is not a timeout).
 */

/** RequestInit plus two hints the wrappers read; `fetch` ignores unknown keys. */
export interface AirtableRequestInit extends RequestInit {
  /** Priority in the per-base budget (withRateBudget); 'normal' when absent. */
  budgetPriority?: BudgetPriority;
  /**
   * False for requests that must not be repeated when the outcome is unknown (timeouts, network
   * errors, 500/502: Airtable may have applied them). 429 and 503 are still retried: Airtable
   * rejected those without acting (docs/airtable-reference.md §2.1, §2.5 "safe to retry").
   */
  idempotent?: boolean;
}

export type FetchFn = (input: string | URL | Request, init?: AirtableRequestInit) => Promise<Response>;

/**
 * Fails a request that takes longer than `ms` — headers *and* body, so an upstream that hangs or
 * stalls mid-body becomes a typed `TIMEOUT` error (retryable) instead of a request that never
 * settles. The body is buffered (Airtable answers are small: ≤ 100 records a page). The caller's
 * own signal is respected: aborting it rejects with its reason, not with a timeout. Any other
 * failure (DNS, reset, cut body) becomes `CONNECTION_ERROR`.
 */
export function withTimeout(fetch: FetchFn, ms: number): FetchFn {
  return withDeadline(fetch, ms, async (res, read) => {
    const body = await read(res.arrayBuffer());
    return rebuildResponse(res, body.byteLength === 0 ? null : body);
  });
}

/**
 * The deadline behind withTimeout, with the body reading left to `settle`: it gets the response
 * and `read`, which bounds any promise (a body read) by the same deadline and caller signal and
 * cancels the body when they fire. The client reads bodies once, as text (client.ts).
 */
export function withDeadline(
  fetch: FetchFn,
  ms: number,
  settle: (res: Response, read: <T>(p: Promise<T>) => Promise<T>) => Promise<Response>,
): FetchFn {
  return async (input, init = {}) => {
    const callerSignal = init.signal ?? (input instanceof Request ? input.signal : undefined);
    if (callerSignal?.aborted) throw abortReason(callerSignal);
    const controller = new AbortController();
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      controller.abort(timeoutError(ms));
    }, ms);
    const onCallerAbort = () => controller.abort(abortReason(callerSignal!));
    callerSignal?.addEventListener('abort', onCallerAbort, { once: true });
    try {
      const res = await untilAborted(fetch(input, { ...init, signal: controller.signal }), controller.signal);
      return await settle(res, (p) => untilAborted(p, controller.signal, () => res.body?.cancel()));
    } catch (err) {
      if (timedOut) throw timeoutError(ms);
      if (callerSignal?.aborted) throw abortReason(callerSignal);
      if (err instanceof AirmirrorError) throw err;
      throw connectionError(err);
    } finally {
      clearTimeout(timer);
      callerSignal?.removeEventListener('abort', onCallerAbort);
    }
  };
}

/** A buffered copy of `res` (statuses that cannot carry a body get none). */
export function rebuildResponse(res: Response, body: ArrayBuffer | string | null): Response {
  const nullBody = [101, 204, 205, 304].includes(res.status) || body === null || body === '';
  return new Response(nullBody ? null : body, {
    status: res.status,
    statusText: res.statusText,
    headers: res.headers,
  });
}

/** Rejects as soon as `signal` aborts, even if the wrapped promise (an injected fetch that ignores
 * signals, a stalled body) never settles. */
function untilAborted<T>(promise: Promise<T>, signal: AbortSignal, onAbort?: () => unknown): Promise<T> {
  if (signal.aborted) return Promise.reject(abortReason(signal));
  return new Promise<T>((resolve, reject) => {
    const abort = () => {
      Promise.resolve()
        .then(onAbort)
        .catch(() => undefined);
      reject(abortReason(signal));
    };
    signal.addEventListener('abort', abort, { once: true });
    promise.then(
      (v) => {
        signal.removeEventListener('abort', abort);
        resolve(v);
      },
      (e) => {
        signal.removeEventListener('abort', abort);
        reject(e);
      },
    );
  });
}

export interface BackoffOptions {
  /** Attempts in total, the first included. Default 5. */
  maxAttempts?: number;
  /** Give up instead of sleeping past this much time since the first attempt. Default 120 s. */
  maxElapsedMs?: number;
  /** Cap of the first backoff window; doubles per attempt. Default 500 ms. */
  initialDelayMs?: number;
  /** Cap of any backoff window (not of Retry-After). Default 30 s. */
  maxDelayMs?: number;
  now?: Now;
  sleep?: Sleep;
  /** Source of jitter in [0, 1); injectable for tests. */
  random?: () => number;
  onRetry?: (info: RetryInfo) => void;
}

export interface RetryInfo {
  /** The attempt that failed (1-based). */
  attempt: number;
  delayMs: number;
  status?: number;
  error?: unknown;
}

/**
 * Retries 5xx, network errors and timeouts with exponential backoff and full jitter
 * (`random() * min(maxDelay, initial * 2^(attempt-1))`, as ajs does, docs/airtable-reference.md §2.1), and 429s
 * except PUBLIC_API_BILLING_LIMIT_EXCEEDED (retrying never helps before the quota resets, docs/airtable-reference.md §2.1).
 * `Retry-After` (seconds or HTTP date) on 429/503 replaces the jittered delay. Other 4xx are never
 * retried. When it gives up it returns the last response (the caller maps it) or throws the last
 * error. Sleeps are abortable by the caller's signal.
 */
export function withBackoff(fetch: FetchFn, opts: BackoffOptions = {}): FetchFn {
  const maxAttempts = opts.maxAttempts ?? 5;
  const maxElapsedMs = opts.maxElapsedMs ?? 120_000;
  const initialDelayMs = opts.initialDelayMs ?? 500;
  const maxDelayMs = opts.maxDelayMs ?? 30_000;
  const now = opts.now ?? systemNow;
  const sleep = opts.sleep ?? systemSleep;
  const random = opts.random ?? Math.random;

  return async (input, init = {}) => {
    const signal = init.signal ?? undefined;
    const unsafe = init.idempotent === false;
    const start = now();
    for (let attempt = 1; ; attempt++) {
      let res: Response | undefined;
      let error: unknown;
      try {
        res = await fetch(input, init);
      } catch (err) {
        if (signal?.aborted) throw abortReason(signal);
        error = err;
      }

      let retryable: boolean;
      let retryAfterMs: number | undefined;
      if (res) {
        if (res.status < 400) return res;
        const rejectedUnprocessed = res.status === 429 || res.status === 503;
        const type = res.status === 429 ? parseAirtableErrorBody(await res.clone().text()).type : null;
        retryable = isRetryableStatus(res.status, type) && (!unsafe || rejectedUnprocessed);
        const header = res.headers.get('retry-after');
        if (rejectedUnprocessed && header) retryAfterMs = parseRetryAfter(header, now());
      } else {
        retryable = !unsafe && isRetryableError(error);
      }

      const giveUp = () => {
        if (res) return res;
        throw error instanceof AirmirrorError ? error : connectionError(error);
      };
      if (!retryable || attempt >= maxAttempts) return giveUp();
      const window = Math.min(maxDelayMs, initialDelayMs * 2 ** (attempt - 1));
      const delayMs = retryAfterMs ?? Math.floor(random() * window);
      if (now() - start + delayMs > maxElapsedMs) return giveUp();
      // Release the discarded answer's connection now rather than at garbage collection.
      await res?.body?.cancel().catch(() => undefined);
      opts.onRetry?.({ attempt, delayMs, status: res?.status, error });
      await sleep(delayMs, signal);
    }
  };
}

/**
 * Takes a slot of the shared budget before each request (priority from `init.budgetPriority`;
 * the bearer token of its Authorization header for the per-token window, docs/airtable-reference.md §2.1), and
 * reports a 429 to it so every component stops sending to that base for the penalty period.
 * Requests that name no base (list bases, whoami) pass unmetered. Every
 * 429 except the billing one penalizes: an unreadable 429 body is still Airtable saying "slow
 * down"; the billing 429 is a monthly quota, not a rate (docs/airtable-reference.md §2.1).
 */
export function withRateBudget(
  fetch: FetchFn,
  budget: RateBudget,
  baseIdOf: (url: string) => string | undefined = baseIdFromUrl,
): FetchFn {
  return async (input, init = {}) => {
    const baseId = baseIdOf(urlOf(input));
    const departure = baseId
      ? await budget.acquire(baseId, {
          priority: init.budgetPriority ?? 'normal',
          signal: init.signal ?? undefined,
          token: bearerTokenOf(input, init),
          reportsAnswer: true,
        })
      : undefined;
    let res: Response;
    try {
      res = await fetch(input, init);
    } finally {
      // Airtable counted the request by now (departure-pacer.ts).
      departure?.answered();
    }
    if (baseId && res.status === 429) {
      const type = parseAirtableErrorBody(await res.clone().text()).type;
      if (type !== BILLING_LIMIT_TYPE) budget.penalize(baseId);
    }
    return res;
  };
}

/**
 * The token of `Authorization: Bearer <token>` (docs/airtable-reference.md §2.3) as fetch would send it: the
 * init's headers when given (they replace a Request's own), else the Request's. Undefined when
 * there is none or the headers are unreadable; the budget then applies the base's limit only.
 */
export function bearerTokenOf(input: string | URL | Request, init?: RequestInit): string | undefined {
  let value: string | null;
  try {
    value =
      init?.headers !== undefined
        ? new Headers(init.headers).get('authorization')
        : input instanceof Request
          ? input.headers.get('authorization')
          : null;
  } catch {
    return undefined;
  }
  return value ? /^Bearer\s+(\S+)\s*$/i.exec(value)?.[1] : undefined;
}

const BASE_IN_PATH = /\/v0\/(?:meta\/bases\/|bases\/)?(app[A-Za-z0-9]{14})(?=[/?#]|$)/;

/** The base a request URL addresses: `/v0/{app}/…`, `/v0/bases/{app}/webhooks…`,
 * `/v0/meta/bases/{app}/…` — also behind a path prefix such as the proxy's `/api.airtable.com`. */
export function baseIdFromUrl(url: string): string | undefined {
  const path = url.replace(/^[a-z]+:\/\/[^/]+/i, '');
  return BASE_IN_PATH.exec(path)?.[1];
}

function urlOf(input: string | URL | Request): string {
  return typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
}
