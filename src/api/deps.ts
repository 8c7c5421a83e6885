/**
 * What the management API needs from the rest of airmirror, as small structural interfaces so
 * it can be tested with real Postgres and the emulator alone, and composed by the server.
 */
import type { BaseSchema } from '../airtable/types.ts';
import type { SecretBox } from '../crypto/secrets.ts';
import type { Database } from '../db/database.ts';
import type { Logger } from '../log.ts';

/** Runs tables on demand; the scheduler (src/scheduler) implements it. Ids are `airmirror.tables.id`. */
export interface TableRunner {
  /** Starts a run now (one per table at a time). Throws a 409 AirmirrorError if one is running. */
  trigger(schemaId: string, opts: { full: boolean }): Promise<void>;
  /** Stops the table's running sync and resolves once it has stopped; false if none was running. */
  cancel(schemaId: string): Promise<boolean>;
  isRunning(schemaId: string): boolean;
}

/** The one Airtable call the API makes itself (src/airtable's client satisfies it). */
export interface BaseSchemaReader {
  getBaseSchema(baseId: string, opts?: { signal?: AbortSignal }): Promise<BaseSchema>;
}

/**
 * An Airtable reader for a source. `token` is the source's stored token (decrypted), or
 * undefined for an env-configured source whose token lives in the process config.
 */
export type AirtableReaderFactory = (
  source: { id: string; baseId: string },
  token: string | undefined,
) => BaseSchemaReader;

export interface ApiDeps {
  db: Database;
  secrets: SecretBox;
  /** AIRMIRROR_ADMIN_TOKEN: when set, every /api request needs `Authorization: Bearer <it>`. */
  adminToken?: string;
  /** AIRMIRROR_PUBLIC_URL: the `webhook` sync type is refused without it (see WebhookServiceDeps). */
  publicUrl?: string | (() => string | undefined);
  runner?: TableRunner;
  /**
   * The syncer: builds a new source's mirror from the live base schema (in the background), and
   * cancels runs the scheduler did not start (e.g. a `syncAll`). src/../sync `createSyncer` fits.
   */
  syncer?: {
    refreshSchema(sourceId: string): Promise<unknown>;
    /** The schema a new source's create just read, so its first build need not read it again. */
    primeSchema?(sourceId: string, baseSchema: BaseSchema): void;
    cancel?(tableKey: string): boolean;
    /**
     * Resync (PostHog's "wipe and re-import from scratch"): the tables built fresh beside the live
     * ones and swapped in, then each sync type's own full run. Resolves with each table's outcome.
     */
    resync?(sourceId: string, tableIds: string[]): Promise<Array<{ tableId: string; status: string }>>;
  };
  airtable?: AirtableReaderFactory;
  /**
   * The monthly call quota per token key for `GET /api/status` (src/quota); without it, status
   * shows an empty list.
   */
  quota?: () => Promise<unknown[]>;
  /** Told after `PATCH /api/sources/{id}` changed a source (the quota re-reads its target). */
  onSourceChanged?: (sourceId: string) => void;
  now?: () => number;
  log?: Logger;
}
