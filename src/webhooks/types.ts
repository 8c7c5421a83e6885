import type { AirtableClient } from '../airtable/client.ts';
import type { SecretBox } from '../crypto/secrets.ts';
import type { Database } from '../db/database.ts';
import type { Logger } from '../log.ts';
import type { BaseWork } from '../bookkeeping/ownership.ts';

/**
 * Many processes (docs/ownership.md): the base's owner drains its payloads, on its lease; a ping
 * another process received is passed on to the owner.
 */
export interface WebhookOwnership extends BaseWork {
  /** Tells the owner of the source's base that a ping came (it drains). */
  forward(sourceId: string): void;
}

/** The Airtable calls the webhooks part makes (src/airtable's client satisfies it). */
export type WebhookClient = Pick<
  AirtableClient,
  | 'createWebhook'
  | 'listWebhooks'
  | 'deleteWebhook'
  | 'refreshWebhook'
  | 'enableNotifications'
  | 'listPayloads'
  | 'getRecordsByIds'
>;

/** What webhooks need from the syncer (sync/ `createSyncer` satisfies it). */
export interface WebhookSyncer {
  /** Re-reads the base schema; rebuilds the mirror when it changed. */
  refreshSchema(sourceId: string): Promise<{ error?: string } | unknown>;
  /** A sweep of one table (catch-up, or a change too big for targeted fetches). */
  syncTable(
    sourceId: string,
    tableId: string,
    opts?: { full?: boolean },
  ): Promise<{ status: string; error?: string }>;
}

/** The sweep's record-hash cache: rows webhooks change must be forgotten there (sync/hash-cache.ts). */
export interface HashCacheLike {
  forget(tableId: string, recordId: string): void;
}

export interface WebhookServiceDeps {
  db: Database;
  secrets: SecretBox;
  /** An Airtable client for a source (its token, the shared rate budget). */
  clientFor(source: { id: string; baseId: string }): WebhookClient | Promise<WebhookClient>;
  /**
   * AIRMIRROR_PUBLIC_URL; registering is refused without it. A function when the address is known
   * only once the server listens (the demo, on a port the OS picked).
   */
  publicUrl?: string | (() => string | undefined);
  syncer?: WebhookSyncer;
  hashCache?: HashCacheLike;
  /** Without it, this process drains and maintains every source's hook. */
  owner?: WebhookOwnership;
  log: Logger;
  now?: () => Date;
  /** The wait between maintenance passes (tests inject a fake clock's); resolves, never rejects, on abort. */
  sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
  /** Refresh a hook when it expires within this (hooks live 7 days, docs/airtable-reference.md §4.6). Default 3 days. */
  refreshBeforeMs?: number;
  /** How often the maintenance loop checks hooks. Default 1 hour. */
  checkIntervalMs?: number;
  /** Above this many changed ids in one table, sweep it instead. Default 1000. */
  sweepThreshold?: number;
  maxDependencyDepth?: number;
  /** Payloads read (50 a request) before they are fetched and applied together. Default 500. */
  maxPayloadsPerBatch?: number;
  /**
   * How long pings for a source gather before one drain (src/quota: its `max_lag_seconds`, spaced
   * out by the monthly quota). None: every ping drains at once.
   */
  drainWindowMs?: (sourceId: string) => Promise<number>;
}
