import { abortableSleep } from '../lifecycle/clock.ts';
import type { WebhookSpecification } from '../airtable/types.ts';
import type { Database } from '../db/database.ts';
import { AirmirrorError, conflict, notFound } from '../errors.ts';
import type { SecretBox } from '../crypto/secrets.ts';
import type { Logger } from '../log.ts';
import { drainPayloads, type DrainResult } from './apply.ts';
import {
  deleteWebhookRow,
  listWebhookRows,
  loadSourceBase,
  loadWebhook,
  notePing,
  saveProblem,
  saveRefreshed,
  saveRegistration,
  setNeedsCatchup,
  webhookTables,
  type WebhookRow,
} from './store.ts';
import type { HashCacheLike, WebhookClient, WebhookSyncer } from './types.ts';

const DAY = 24 * 60 * 60 * 1000;

/** Everything: records, fields and table metadata, whole base (reference §4.2). */
export const WEBHOOK_SPECIFICATION: WebhookSpecification = {
  options: { filters: { dataTypes: ['tableData', 'tableFields', 'tableMetadata'] } },
};

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
  log: Logger;
  now?: () => Date;
  sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
  /** Refresh a hook when it expires within this (hooks live 7 days, reference §4.6). Default 3 days. */
  refreshBeforeMs?: number;
  /** How often the maintenance loop checks hooks. Default 1 hour. */
  checkIntervalMs?: number;
  /** Above this many changed ids in one table, sweep it instead. Default 1000. */
  sweepThreshold?: number;
  maxDependencyDepth?: number;
  /** Payloads read (50 a request) before they are fetched and applied together. Default 500. */
  maxPayloadsPerBatch?: number;
}

/** What the API shows of a registration (never the MAC secret). */
export interface WebhookView {
  source_id: string;
  webhook_id: string;
  notification_url: string;
  status: string;
  cursor: number;
  expiration_time: string | null;
  last_error: string | null;
  last_ping_at: string | null;
  last_payload_at: string | null;
  recreated_count: number;
  created_at: string;
  refreshed_at: string | null;
  tables: string[];
}

export interface WebhookService {
  /** POST /api/sources/{id}/webhook: registers (or returns the existing) hook. */
  register(sourceId: string): Promise<{ created: boolean; webhook: WebhookView }>;
  info(sourceId: string): Promise<WebhookView>;
  /** POST …/webhook/inputs: a new hook (new MAC secret) replaces the old one, nothing missed. */
  rotate(sourceId: string): Promise<WebhookView>;
  /** DELETE: refused (409) while a table of the source still uses the webhook sync type. */
  unregister(sourceId: string): Promise<void>;
  /** The decrypted MAC secret, for the receiver only. */
  macSecret(sourceId: string): Promise<string | undefined>;
  /** A verified ping arrived: drain payloads soon; pings during a drain coalesce into one more. */
  ping(sourceId: string): void;
  /** Drains now (what a ping leads to). */
  drain(sourceId: string): Promise<DrainResult | undefined>;
  /** One maintenance pass: refresh hooks near expiry; re-create expired/disabled/broken ones. */
  maintain(): Promise<void>;
  /** Resolves when no drain is running or queued (tests, shutdown). */
  idle(): Promise<void>;
  start(): void;
  stop(): Promise<void>;
}

export function createWebhookService(deps: WebhookServiceDeps): WebhookService {
  return new Webhooks(deps);
}

class Webhooks implements WebhookService {
  private readonly now: () => Date;
  /** Per source: the running drain, and whether pings came while it ran. */
  private readonly drains = new Map<string, { run: Promise<void>; again: boolean }>();
  /** Per source: registration changes and drains never overlap within this process. */
  private readonly locks = new Map<string, Promise<unknown>>();
  private loop: Promise<void> | undefined;
  private stopping = new AbortController();

  constructor(private readonly deps: WebhookServiceDeps) {
    this.now = deps.now ?? (() => new Date());
  }

  private exclusive<T>(sourceId: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.locks.get(sourceId) ?? Promise.resolve();
    const run = prev.then(fn, fn);
    const settled = run.catch(() => undefined);
    this.locks.set(sourceId, settled);
    void settled.then(() => {
      if (this.locks.get(sourceId) === settled) this.locks.delete(sourceId);
    });
    return run;
  }

  private async source(sourceId: string) {
    const source = await loadSourceBase(this.deps.db, sourceId);
    if (!source) throw notFound('No source with that id.');
    return source;
  }

  private notificationUrl(sourceId: string): string {
    const publicUrl = typeof this.deps.publicUrl === 'function' ? this.deps.publicUrl() : this.deps.publicUrl;
    if (!publicUrl) {
      throw new AirmirrorError(
        'WEBHOOKS_NOT_CONFIGURED',
        400,
        'Webhooks need AIRMIRROR_PUBLIC_URL (an address Airtable can reach) to be configured.',
      );
    }
    return `${publicUrl.replace(/\/+$/, '')}/hooks/airtable/${encodeURIComponent(sourceId)}`;
  }

  /** Creates a hook at Airtable and stores it (secret encrypted) in place of any previous one. */
  private async createAndStore(
    source: { id: string; baseId: string },
    client: WebhookClient,
    recreated: boolean,
    note: string | null,
  ): Promise<string> {
    const notificationUrl = this.notificationUrl(source.id);
    const created = await client.createWebhook(source.baseId, {
      notificationUrl,
      specification: WEBHOOK_SPECIFICATION,
    });
    const macSecretEncrypted = await this.deps.secrets.encrypt(created.macSecretBase64);
    await saveRegistration(this.deps.db, {
      sourceId: source.id,
      webhookId: created.id,
      macSecretEncrypted,
      expirationTime: created.expirationTime ? new Date(created.expirationTime) : null,
      notificationUrl,
      now: this.now(),
      recreated,
      note,
    });
    return created.id;
  }

  register(sourceId: string) {
    return this.exclusive(sourceId, async () => {
      const source = await this.source(sourceId);
      this.notificationUrl(sourceId);
      const existing = await loadWebhook(this.deps.db, sourceId);
      if (existing) return { created: false, webhook: await this.view(existing) };
      const client = await this.deps.clientFor(source);
      await this.createAndStore(source, client, false, null);
      return { created: true, webhook: await this.info(sourceId) };
    });
  }

  async info(sourceId: string): Promise<WebhookView> {
    await this.source(sourceId);
    const row = await loadWebhook(this.deps.db, sourceId);
    if (!row) throw notFound('This source has no webhook.');
    return this.view(row);
  }

  rotate(sourceId: string) {
    return this.exclusive(sourceId, async () => {
      const source = await this.source(sourceId);
      const old = await loadWebhook(this.deps.db, sourceId);
      if (!old) throw notFound('This source has no webhook.');
      const client = await this.deps.clientFor(source);
      // New hook first, then drain the old one: every change lands in one of the two.
      const notificationUrl = this.notificationUrl(sourceId);
      const created = await client.createWebhook(source.baseId, {
        notificationUrl,
        specification: WEBHOOK_SPECIFICATION,
      });
      try {
        await this.drainLocked(sourceId);
      } catch (err) {
        this.deps.log.warn(
          { source: sourceId, err: (err as Error).message },
          'draining the old webhook failed',
        );
        await this.markCatchup(sourceId);
      }
      await saveRegistration(this.deps.db, {
        sourceId,
        webhookId: created.id,
        macSecretEncrypted: await this.deps.secrets.encrypt(created.macSecretBase64),
        expirationTime: created.expirationTime ? new Date(created.expirationTime) : null,
        notificationUrl,
        now: this.now(),
        recreated: false,
      });
      if (old.webhook_id !== created.id) await this.deleteAtAirtable(client, source.baseId, old.webhook_id);
      return this.info(sourceId);
    });
  }

  unregister(sourceId: string) {
    return this.exclusive(sourceId, async () => {
      const source = await this.source(sourceId);
      const row = await loadWebhook(this.deps.db, sourceId);
      if (!row) throw notFound('This source has no webhook.');
      const tables = await webhookTables(this.deps.db, sourceId);
      if (tables.length > 0) {
        const names = tables.map((t) => t.table_name);
        throw conflict(
          `Tables still use the webhook sync type: ${names.join(', ')}. Switch them to another sync type first.`,
          'WEBHOOK_IN_USE',
          { tables: names },
        );
      }
      const client = await this.deps.clientFor(source);
      await this.deleteAtAirtable(client, source.baseId, row.webhook_id);
      await deleteWebhookRow(this.deps.db, sourceId);
    });
  }

  async macSecret(sourceId: string): Promise<string | undefined> {
    const row = await loadWebhook(this.deps.db, sourceId);
    return row ? this.deps.secrets.decrypt(row.mac_secret_encrypted) : undefined;
  }

  ping(sourceId: string): void {
    void notePing(this.deps.db, sourceId, this.now()).catch(() => undefined);
    const running = this.drains.get(sourceId);
    if (running) {
      running.again = true;
      return;
    }
    const state = { run: Promise.resolve(), again: false };
    state.run = (async () => {
      do {
        state.again = false;
        try {
          await this.drain(sourceId);
        } catch (err) {
          this.deps.log.warn({ source: sourceId, err: (err as Error).message }, 'webhook drain failed');
        }
      } while (state.again && !this.stopping.signal.aborted);
    })().finally(() => this.drains.delete(sourceId));
    this.drains.set(sourceId, state);
  }

  drain(sourceId: string) {
    return this.exclusive(sourceId, () => this.drainLocked(sourceId));
  }

  private async drainLocked(sourceId: string): Promise<DrainResult | undefined> {
    const source = await loadSourceBase(this.deps.db, sourceId);
    if (!source) return undefined;
    const client = await this.deps.clientFor(source);
    let result: DrainResult;
    try {
      result = await drainPayloads(
        {
          db: this.deps.db,
          log: this.deps.log,
          now: this.now,
          syncer: this.deps.syncer,
          hashCache: this.deps.hashCache,
          sweepThreshold: this.deps.sweepThreshold ?? 1000,
          maxDependencyDepth: this.deps.maxDependencyDepth ?? 3,
          maxPayloadsPerBatch: this.deps.maxPayloadsPerBatch ?? 500,
        },
        source,
        client,
      );
    } catch (err) {
      if (isHookGone(err)) {
        await this.recreateLocked(source, client, 'webhook no longer exists at Airtable');
        return undefined;
      }
      throw err;
    }
    if (result.errorCode) {
      await this.recreateLocked(source, client, `webhook reported ${result.errorCode}`);
    } else if (result.gap) {
      this.deps.log.warn({ source: sourceId }, 'webhook payloads were purged before being read; catching up');
      await this.catchUp(sourceId);
    }
    return result;
  }

  async maintain(): Promise<void> {
    for (const row of await listWebhookRows(this.deps.db)) {
      await this.exclusive(row.source_id, () => this.maintainOne(row.source_id)).catch((err: Error) =>
        this.deps.log.warn({ source: row.source_id, err: err.message }, 'webhook maintenance failed'),
      );
    }
  }

  private async maintainOne(sourceId: string): Promise<void> {
    const row = await loadWebhook(this.deps.db, sourceId);
    const source = await loadSourceBase(this.deps.db, sourceId);
    if (!row || !source) return;
    const client = await this.deps.clientFor(source);
    const now = this.now();
    const hooks = await client.listWebhooks(source.baseId);
    const hook = hooks.find((h) => h.id === row.webhook_id);
    if (!hook) return this.recreateLocked(source, client, 'webhook no longer exists at Airtable');
    const expiration = hook.expirationTime ? new Date(hook.expirationTime) : null;
    if (!hook.isHookEnabled || (expiration && expiration.getTime() <= now.getTime())) {
      return this.recreateLocked(
        source,
        client,
        expiration && expiration <= now ? 'webhook expired' : 'webhook disabled',
      );
    }
    if (row.status !== 'active')
      return this.recreateLocked(source, client, row.last_error ?? 'webhook failed');
    if (expiration && expiration.getTime() - now.getTime() <= (this.deps.refreshBeforeMs ?? 3 * DAY)) {
      try {
        const r = await client.refreshWebhook(source.baseId, row.webhook_id);
        await saveRefreshed(
          this.deps.db,
          sourceId,
          r.expirationTime ? new Date(r.expirationTime) : null,
          now,
        );
      } catch (err) {
        if (isHookGone(err)) return this.recreateLocked(source, client, 'webhook could not be refreshed');
        throw err;
      }
    } else if (expiration?.getTime() !== row.expiration_time?.getTime()) {
      // Reading payloads extends the expiry too (reference §4.5); keep what Airtable says.
      await saveRefreshed(this.deps.db, sourceId, expiration, row.refreshed_at ?? now);
    }
    if (!hook.areNotificationsEnabled) {
      // Pings failed for about a day and Airtable stopped sending them; payloads kept piling up.
      await client.enableNotifications(source.baseId, row.webhook_id, true);
      await this.drainLocked(sourceId);
    }
  }

  /** Replaces a broken hook and sweeps its tables, since changes may have been missed. */
  private async recreateLocked(
    source: { id: string; baseId: string },
    client: WebhookClient,
    reason: string,
  ): Promise<void> {
    const old = await loadWebhook(this.deps.db, source.id);
    this.deps.log.warn({ source: source.id, reason }, 're-creating the Airtable webhook');
    let createdId: string;
    try {
      createdId = await this.createAndStore(
        source,
        client,
        true,
        `${reason}; re-created at ${this.now().toISOString()}`,
      );
    } catch (err) {
      await saveProblem(this.deps.db, source.id, 'failed', `${reason}; re-creating failed: ${describe(err)}`);
      throw err;
    }
    // Never the hook just stored: an upstream that reuses ids (an emulator restarted with the same
    // seed) would otherwise have its new hook deleted as the old one.
    if (old && old.webhook_id !== createdId)
      await this.deleteAtAirtable(client, source.baseId, old.webhook_id);
    await this.catchUp(source.id);
  }

  private async markCatchup(sourceId: string): Promise<string[]> {
    const tables = (await webhookTables(this.deps.db, sourceId)).map((t) => t.table_id);
    await setNeedsCatchup(this.deps.db, sourceId, tables, true);
    return tables;
  }

  /** Marks the webhook tables for catch-up and sweeps them (cleared on success). */
  private async catchUp(sourceId: string): Promise<void> {
    const tables = await this.markCatchup(sourceId);
    if (!this.deps.syncer) return;
    for (const tableId of tables) {
      const r = await this.deps.syncer.syncTable(sourceId, tableId, { full: true });
      if (r.status === 'Completed') await setNeedsCatchup(this.deps.db, sourceId, [tableId], false);
    }
  }

  private async deleteAtAirtable(client: WebhookClient, baseId: string, webhookId: string): Promise<void> {
    try {
      await client.deleteWebhook(baseId, webhookId);
    } catch (err) {
      if (!isHookGone(err)) throw err;
    }
  }

  private async view(row: WebhookRow): Promise<WebhookView> {
    const tables = await webhookTables(this.deps.db, row.source_id);
    const iso = (d: Date | null) => (d ? new Date(d).toISOString() : null);
    return {
      source_id: row.source_id,
      webhook_id: row.webhook_id,
      notification_url: row.notification_url,
      status: row.status,
      cursor: row.cursor,
      expiration_time: iso(row.expiration_time),
      last_error: row.last_error,
      last_ping_at: iso(row.last_ping_at),
      last_payload_at: iso(row.last_payload_at),
      recreated_count: row.recreated_count,
      created_at: new Date(row.created_at).toISOString(),
      refreshed_at: iso(row.refreshed_at),
      tables: tables.map((t) => t.table_name),
    };
  }

  async idle(): Promise<void> {
    while (this.drains.size > 0) await Promise.all([...this.drains.values()].map((d) => d.run));
  }

  start(): void {
    if (this.loop) return;
    this.stopping = new AbortController();
    const sleep = this.deps.sleep ?? abortableSleep;
    this.loop = (async () => {
      // Changes made while this process was down: read them now rather than at the next ping.
      for (const row of await listWebhookRows(this.deps.db).catch(() => [])) this.ping(row.source_id);
      while (!this.stopping.signal.aborted) {
        await this.maintain().catch((err: Error) =>
          this.deps.log.warn({ err: err.message }, 'webhook maintenance pass failed'),
        );
        await sleep(this.deps.checkIntervalMs ?? 60 * 60 * 1000, this.stopping.signal);
      }
    })();
  }

  async stop(): Promise<void> {
    this.stopping.abort();
    await this.loop;
    this.loop = undefined;
    await this.idle();
  }
}

/** Airtable says the hook is not there (deleted, or expired past its grace period). */
function isHookGone(err: unknown): boolean {
  if (!(err instanceof AirmirrorError)) return false;
  return err.status === 404 || err.code === 'NOT_FOUND' || err.code === 'INVALID_HOOK';
}

function describe(err: unknown): string {
  if (err instanceof AirmirrorError) return `${err.code} (${err.status})`;
  return err instanceof Error ? err.name : 'error';
}
