/**
 * `airmirror start` beside other processes on one Postgres (flow 7, docs/ownership.md): how the
 * parts of a process follow the ownership of bases. A part asked for work on a base another
 * process owns passes it on through the ownership channel (a run made due, a cancel, a ping, a
 * schema refresh); taking a base over wakes the scheduler, the catch-up drain and the webhook
 * drain of that base. The manager itself is sync/ownership.ts; this file only uses its surface.
 */
import { loadTable, runSoon, type BaseLease, type OwnershipMessage } from './bookkeeping/index.ts';
import type { Database } from './db/database.ts';
import type { Logger } from './log.ts';
import type { SchedulerOwnership } from './scheduler/index.ts';
import type { WebhookOwnership } from './webhooks/index.ts';

/** What sync/ownership.ts's BaseOwnership offers the rest of the process. */
export interface OwnershipPort {
  owns(sourceId: string): boolean;
  enter(sourceId: string): Promise<BaseLease | undefined>;
  announce(msg: OwnershipMessage): Promise<void>;
  onMessage(fn: (msg: OwnershipMessage) => void): void;
  onAcquired(fn: (sourceId: string) => void): void;
}

/** How long a cancel asked of another process waits to see the table leave Running. */
const REMOTE_CANCEL_MS = 15_000;

/** The scheduler's view: runs and cancels of other processes' bases go to their owners. */
export function schedulerOwnership(db: Database, ownership: OwnershipPort): SchedulerOwnership {
  return {
    owns: (sourceId) => ownership.owns(sourceId),
    async requestRun(t, full) {
      await runSoon(db, t.id, full);
      await ownership.announce({ kind: 'wake', sourceId: t.sourceId });
    },
    async requestCancel(t) {
      await ownership.announce({ kind: 'cancel', sourceId: t.sourceId, schemaId: t.id });
      // The owner aborts the run and records it: answer once the table has left Running.
      const deadline = Date.now() + REMOTE_CANCEL_MS;
      while (Date.now() < deadline) {
        const cur = await loadTable(db, t.id);
        if (!cur || cur.status !== 'Running') return true;
        await new Promise((r) => setTimeout(r, 100));
      }
      return false;
    },
  };
}

/** The webhook service's view: pings for other processes' bases go to their owners. */
export function webhookOwnership(ownership: OwnershipPort, log: Logger): WebhookOwnership {
  return {
    owns: (sourceId) => ownership.owns(sourceId),
    enter: (sourceId) => ownership.enter(sourceId),
    forward(sourceId) {
      ownership
        .announce({ kind: 'ping', sourceId })
        .catch((err: Error) => log.warn({ source: sourceId, err: err.message }, 'could not pass a ping on'));
    },
  };
}

/**
 * A schema refresh (the proxy met an unknown table or field; the API made a source): here when
 * this process owns the base, else asked of its owner — and a base nobody owns yet (a new source)
 * gets one at once.
 */
export function refreshAnywhere(
  ownership: OwnershipPort,
  refresh: (sourceId: string) => Promise<unknown>,
): (sourceId: string) => Promise<void> {
  return async (sourceId) => {
    if (ownership.owns(sourceId)) {
      await refresh(sourceId);
      return;
    }
    await ownership.announce({ kind: 'members' });
    await ownership.announce({ kind: 'refresh', sourceId });
  };
}

/** Makes the parts of the process follow the bases it takes and the messages it gets. */
export function followOwnership(
  ownership: OwnershipPort,
  parts: {
    scheduler: { nudge(): void; cancelHere(schemaId: string): Promise<boolean> };
    syncer: { cancel(key: string): boolean; refreshSchema(sourceId: string): Promise<unknown> };
    webhooks: { ping(sourceId: string): void; resume(sourceId: string): Promise<void> };
    catchup: { nudge(): void };
    log: Logger;
  },
): void {
  const { log } = parts;
  const warn = (what: string) => (err: unknown) =>
    log.warn({ err: err instanceof Error ? err.message : String(err) }, what);
  ownership.onAcquired((sourceId) => {
    parts.scheduler.nudge();
    parts.catchup.nudge();
    parts.webhooks.resume(sourceId).catch(warn('could not drain the webhook of a base taken over'));
  });
  ownership.onMessage((m) => {
    switch (m.kind) {
      case 'wake':
        parts.scheduler.nudge();
        parts.catchup.nudge();
        break;
      case 'ping':
        if (ownership.owns(m.sourceId)) parts.webhooks.ping(m.sourceId);
        break;
      case 'cancel':
        if (!ownership.owns(m.sourceId)) break;
        parts.scheduler
          .cancelHere(m.schemaId)
          .then((stopped) => stopped || parts.syncer.cancel(m.schemaId))
          .catch(warn('could not cancel a run asked for by another process'));
        break;
      case 'refresh':
        if (ownership.owns(m.sourceId)) {
          parts.syncer
            .refreshSchema(m.sourceId)
            .catch(warn('schema refresh asked by another process failed'));
        }
        break;
      default:
        break;
    }
  });
}
