import { AirmirrorError, notFound } from '../errors.ts';
import { loadSourceBase, lockHookWork } from './store.ts';
import type { WebhookServiceDeps } from './types.ts';

/** A source as the webhook parts address it. */
export interface SourceBase {
  id: string;
  baseId: string;
}

/**
 * What the parts of the webhook service share: its dependencies, its clock, and one lock per
 * source, so registration changes and drains of one source never overlap — within this process
 * (a queue) and across processes (a session advisory lock in Postgres while the work runs).
 */
export class WebhookContext {
  readonly now: () => Date;
  private readonly locks = new Map<string, Promise<unknown>>();

  constructor(readonly deps: WebhookServiceDeps) {
    this.now = deps.now ?? (() => new Date());
  }

  /**
   * Runs `fn` after everything queued for this source before it (even when that failed), and
   * while no other process runs webhook work of the source.
   */
  exclusive<T>(sourceId: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.locks.get(sourceId) ?? Promise.resolve();
    const locked = () => this.acrossProcesses(sourceId, fn);
    const run = prev.then(locked, locked);
    const settled = run.catch(() => undefined);
    this.locks.set(sourceId, settled);
    void settled.then(() => {
      if (this.locks.get(sourceId) === settled) this.locks.delete(sourceId);
    });
    return run;
  }

  /**
   * `fn` while this process holds the source's webhook lock in Postgres, on a session of its own
   * (ended afterwards, which releases the lock; a process that dies releases it too). If that
   * session drops meanwhile, another process may start: a drain still applies each payload page
   * once, since its cursor moves only if it is where the page was read from (apply.ts).
   */
  private async acrossProcesses<T>(sourceId: string, fn: () => Promise<T>): Promise<T> {
    const client = this.deps.db.dedicatedClient();
    client.on('error', (err) =>
      this.deps.log.warn({ source: sourceId, err: err.message }, 'webhook lock session failed'),
    );
    try {
      await client.connect();
      const lock = lockHookWork(sourceId);
      await client.query({ text: lock.text, values: lock.values });
      return await fn();
    } finally {
      await client.end().catch(() => undefined);
    }
  }

  /** The source, or a 404. */
  async source(sourceId: string): Promise<SourceBase> {
    const source = await loadSourceBase(this.deps.db, sourceId);
    if (!source) throw notFound('No source with that id.');
    return source;
  }

  /** Where Airtable pings this source's hook; refused (400) without AIRMIRROR_PUBLIC_URL. */
  notificationUrl(sourceId: string): string {
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
}

/** Airtable says the hook is not there (deleted, or expired past its grace period). */
export function isHookGone(err: unknown): boolean {
  if (!(err instanceof AirmirrorError)) return false;
  return err.status === 404 || err.code === 'NOT_FOUND' || err.code === 'INVALID_HOOK';
}

/** An error as a stored note (`last_error`): its code and status, or its name; not its message. */
export function describeError(err: unknown): string {
  if (err instanceof AirmirrorError) return `${err.code} (${err.status})`;
  return err instanceof Error ? err.name : 'error';
}
