import type { AirtableClient } from '../airtable/client.ts';

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
