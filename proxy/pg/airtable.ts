/**
 * The endpoint's requests to Airtable: each source's own client (its token, the syncer's — never
 * the SQL client's password), one 'high' slot of the shared request budget per request, like the
 * HTTP proxy's (proxy/budget-gate.ts): refused at once while the base serves a 429 penalty.
 */
import { createAirtableClient, type AirtableClient } from '../../src/airtable/client.ts';
import type { FetchFn } from '../../src/airtable/fetch-helpers.ts';
import type { RateBudget } from '../../src/airtable/rate-budget.ts';
import { takeBudgetSlot } from '../budget-gate.ts';

export interface SourceAccess {
  client: AirtableClient;
  /** Takes the request's budget slot (or throws Airtable's 429, nothing sent). */
  slot(baseId: string): Promise<void>;
}

export interface AirtableAccess {
  forSource(sourceId: string): Promise<SourceAccess>;
}

export interface AirtableAccessOptions {
  apiUrl: string;
  fetch: FetchFn;
  /** The process-wide budget shared with the syncer and the HTTP proxy. */
  budget: RateBudget;
  /** The source's token (sync/tokens.ts tokenResolver, by source id). */
  tokenFor(sourceId: string): Promise<string>;
  /** Per request; also the longest a request waits for its budget slot. */
  timeoutMs: number;
}

/**
 * Clients per source. The slot is taken before the request (so a penalty refuses at once), hence
 * the clients' own budget only passes 429s on to the shared one. One attempt per request: an
 * unknown outcome is not repeated, and a refusal is the statement's error.
 */
export function createAirtableAccess(opts: AirtableAccessOptions): AirtableAccess {
  const { budget } = opts;
  const passOn: RateBudget = {
    acquire: () => Promise.resolve(undefined),
    penalize: (baseId) => budget.penalize(baseId),
    stats: (baseId) => budget.stats(baseId),
    allStats: () => budget.allStats(),
    track: (baseId) => budget.track(baseId),
    heldBases: () => budget.heldBases(),
  };
  const clients = new Map<string, { token: string; access: SourceAccess }>();
  return {
    async forSource(sourceId) {
      const token = await opts.tokenFor(sourceId);
      const hit = clients.get(sourceId);
      if (hit && hit.token === token) return hit.access;
      const client = createAirtableClient({
        apiUrl: opts.apiUrl,
        token,
        fetch: opts.fetch,
        budget: passOn,
        timeoutMs: opts.timeoutMs,
        maxAttempts: 1,
        priority: 'high',
      });
      const access: SourceAccess = {
        client,
        slot: async (baseId) => void (await takeBudgetSlot(budget, baseId, token, opts.timeoutMs)),
      };
      clients.set(sourceId, { token, access });
      return access;
    },
  };
}
