import type { Database } from '../db/database.ts';
import { BackgroundLoop } from '../lifecycle/background-loop.ts';
import { retryDelayMs } from './backoff.ts';
import { matchesSubscription, toChangeEvent } from './event.ts';
import { OutboxHorizon } from './horizon.ts';
import { OutboxListener } from './listener.ts';
import { mapLimit } from './map-limit.ts';
import { postEvent, type PostResult } from './post.ts';
import {
  dueSubscriptionIds,
  insertDeadLetter,
  nextAttemptAt,
  lockSubscription,
  minOutboxId,
  minSubscriptionCursor,
  outboxAfter,
  pruneOutboxBefore,
  pruneOutboxUpTo,
  recordDeliveries,
  saveDeliveryState,
} from './store.ts';
import { signingSecrets } from './signing.ts';
import { attemptsOf } from './delivery-log.ts';
import type { ChangeEvent, OutboxRow, SubscriptionRow } from './types.ts';
import type { Deliverer, DelivererOptions, PassResult, Step } from './deliverer-types.ts';

const HOUR = 60 * 60 * 1000;
const GAP_RECHECK_MS = 100;

export type { Deliverer, DelivererOptions, PassResult } from './deliverer-types.ts';

export function createDeliverer(opts: DelivererOptions): Deliverer {
  return new OutboxDeliverer(opts);
}

/**
 * Delivers outbox rows to subscribers: at least once, in order per record.
 *
 * Per subscription, rows are read after its cursor in id order; within a batch, events of
 * different records go out concurrently while each record's events go one after another. The
 * cursor only moves up to the first event that failed, so a failed event and everything after it
 * is tried again later (a later event of the same record is never delivered before an earlier
 * one; events of other records may be delivered twice, which at-least-once allows). While a
 * subscription is failing, only its head event is retried, with exponential backoff, until the
 * retry window (24 h from the subscription's first failure) is over; then it becomes a dead
 * letter and delivery moves on — and until the receiver takes an event again, every later event
 * gets one try and then becomes a dead letter, so a dead receiver never holds the outbox back
 * (bounded bookkeeping). All of this state is in the subscription row, so a restart resumes
 * where it stopped.
 *
 * Many processes (docs/ownership.md): every process runs a deliverer, and a subscription's batch
 * is sent by the one holding its row lock (`FOR UPDATE SKIP LOCKED`, held until the batch's cursor
 * is saved); the others skip it for that pass. So a subscription is served by one process at a
 * time and its cursor moves in order; a process that dies mid-batch releases the lock with its
 * connection and the batch is sent again (at least once), still in order per record.
 */
class OutboxDeliverer implements Deliverer {
  private readonly db: Database;
  private readonly now: () => Date;
  private readonly loop: BackgroundLoop;
  private readonly horizon = new OutboxHorizon();
  private readonly listener: OutboxListener | undefined;
  private readonly o: Required<
    Pick<
      DelivererOptions,
      | 'pollIntervalMs'
      | 'batchSize'
      | 'concurrency'
      | 'parallelSubscriptions'
      | 'retryWindowMs'
      | 'retryBaseMs'
      | 'retryMaxMs'
      | 'requestTimeoutMs'
      | 'outboxRetentionMs'
    >
  >;
  private passChain: Promise<unknown> = Promise.resolve();
  private horizonReady = false;

  constructor(private readonly deps: DelivererOptions) {
    this.db = deps.db;
    this.now = deps.now ?? (() => new Date());
    this.o = {
      pollIntervalMs: deps.pollIntervalMs ?? 5_000,
      batchSize: deps.batchSize ?? 100,
      concurrency: deps.concurrency ?? 16,
      parallelSubscriptions: deps.parallelSubscriptions ?? 2,
      retryWindowMs: deps.retryWindowMs ?? 24 * HOUR,
      retryBaseMs: deps.retryBaseMs ?? 1_000,
      retryMaxMs: deps.retryMaxMs ?? HOUR,
      requestTimeoutMs: deps.requestTimeoutMs ?? 10_000,
      outboxRetentionMs: deps.outboxRetentionMs ?? HOUR,
    };
    if (deps.listen !== false) {
      this.listener = new OutboxListener(
        deps.listen || (() => deps.db.dedicatedClient()),
        () => this.wake(),
        deps.log,
      );
    }
    this.loop = new BackgroundLoop({
      name: 'event delivery',
      intervalMs: this.o.pollIntervalMs,
      // A failed pass (Postgres away) is retried at the poll interval, as a quiet outbox is polled.
      retryMs: this.o.pollIntervalMs,
      maxRetryMs: this.o.pollIntervalMs,
      log: deps.log,
      sleep: deps.sleep,
      pass: async (signal) => {
        await this.runOnce(signal);
        let wait = await this.waitMs().catch(() => this.o.pollIntervalMs);
        // Waiting on a gap: if its writer rolls back, no NOTIFY will come, so look again soon.
        if (this.horizon.blocked) wait = Math.min(wait, GAP_RECHECK_MS);
        return wait;
      },
    });
  }

  start(): void {
    if (this.loop.started) return;
    this.listener?.start();
    this.loop.start();
  }

  async stop(): Promise<void> {
    const loopStopped = this.loop.stop();
    await this.listener?.stop();
    await loopStopped;
  }

  wake(): void {
    this.loop.nudge();
  }

  /** `signal`: the loop's, so a stopping loop leaves a long drain between batches. */
  runOnce(signal?: AbortSignal): Promise<PassResult> {
    // Passes never overlap (a test or the API may call this while the loop runs).
    const pass = this.passChain.then(() => this.pass(signal));
    this.passChain = pass.catch(() => undefined);
    return pass;
  }

  /** Until the next poll, or sooner when a retry falls due. */
  private async waitMs(): Promise<number> {
    const at = (await this.db.query<{ at: Date | null }>(nextAttemptAt())).rows[0]?.at;
    if (!at) return this.o.pollIntervalMs;
    return Math.max(0, Math.min(this.o.pollIntervalMs, at.getTime() - this.now().getTime()));
  }

  private async pass(signal?: AbortSignal): Promise<PassResult> {
    const result: PassResult = { delivered: 0, failed: 0, deadLettered: 0, pruned: 0 };
    if (!this.horizonReady) {
      // Everything at or below the lowest cursor is settled for every subscription.
      const min = (await this.db.query<{ cursor: number | null }>(minSubscriptionCursor())).rows[0]?.cursor;
      if (min !== null && min !== undefined) this.horizon.reset(Number(min));
      else {
        // No subscriber needs anything below the oldest row; the horizon then only bounds pruning.
        const low = (await this.db.query<{ id: number | null }>(minOutboxId())).rows[0]?.id;
        this.horizon.reset(low === null || low === undefined ? undefined : Number(low) - 1);
      }
      this.horizonReady = true;
    }
    const horizon = await this.horizon.advance(this.db);
    const due = (await this.db.query<{ id: string }>(dueSubscriptionIds(this.now()))).rows.map((r) => r.id);
    await mapLimit(due, this.o.parallelSubscriptions, async (id) => {
      for (;;) {
        if (signal?.aborted) return;
        const step = await this.step(id, horizon);
        result.delivered += step.delivered;
        result.failed += step.failed;
        result.deadLettered += step.deadLettered;
        if (!step.more) return;
      }
    });
    result.pruned = await this.prune(horizon);
    this.deps.onPass?.(result);
    return result;
  }

  /** One batch for one subscription, in one transaction holding its row lock. */
  private step(id: string, horizon: number): Promise<Step> {
    return this.db.tx(async (tx) => {
      const none: Step = { delivered: 0, failed: 0, deadLettered: 0, more: false };
      const sub = (await tx.query<SubscriptionRow>(lockSubscription(id))).rows[0];
      if (!sub) return none;
      const now = this.now();
      if (sub.next_attempt_at && sub.next_attempt_at.getTime() > now.getTime()) return none;
      const cursor = Number(sub.cursor);
      const limit = sub.attempts > 0 ? 1 : this.o.batchSize;
      const rows = (await tx.query<OutboxRow>(outboxAfter(cursor, horizon, limit))).rows;
      if (rows.length === 0) return none;

      const events = rows.map(toChangeEvent);
      const wanted = events.filter((e) => matchesSubscription(sub, e));
      let results: Map<number, PostResult>;
      try {
        // Two signatures while a rotated secret's overlap runs (signing.ts).
        const keys = wanted.length > 0 ? await signingSecrets(sub, this.deps.secrets, now) : [];
        results = await this.deliverInRecordOrder(sub.url, keys, wanted, now);
      } catch {
        // A secret sealed with another key (AIRMIRROR_SECRET_KEY changed): retried and shown
        // like a receiver failure, so `last_error` says what is wrong.
        results = new Map([[wanted[0].id, { ok: false, error: 'subscription secret cannot be decrypted' }]]);
      }

      // Every attempt goes to the subscription's bounded delivery log (GET …/deliveries).
      if (results.size > 0) await tx.query(recordDeliveries(id, attemptsOf(sub, results), now));
      const failedEvent = wanted.find((e) => results.get(e.id)?.ok === false);
      const delivered = [...results.values()].filter((r) => r.ok).length;
      const lastId = events[events.length - 1].id;
      if (!failedEvent) {
        await tx.query(
          saveDeliveryState({
            id,
            cursor: lastId,
            attempts: 0,
            failingEventId: null,
            failingSince: null,
            nextAttemptAt: null,
            lastError: null,
            delivered,
            lastDeliveredAt: delivered > 0 ? now : null,
          }),
        );
        return { delivered, failed: 0, deadLettered: 0, more: rows.length === limit };
      }

      const failure = results.get(failedEvent.id) as { ok: false; error: string };
      const sameHead = sub.failing_event_id !== null && Number(sub.failing_event_id) === failedEvent.id;
      const attempts = sameHead ? sub.attempts + 1 : 1;
      // The retry window is the subscription's: it opens with the first failure and closes only
      // when the receiver takes an event again. A receiver down for longer than the window gets
      // one try per event, which then becomes a dead letter: the outbox never waits on it.
      const failingSince = sub.failing_since ?? now;
      const windowEnd = failingSince.getTime() + this.o.retryWindowMs;
      const failed = [...results.values()].filter((r) => !r.ok).length;

      if (now.getTime() >= windowEnd) {
        // Every event of the batch up to the first one not tried (a later event of a record whose
        // earlier one failed waits for the next batch, keeping the record's order) is settled:
        // delivered, or a dead letter.
        const untried = wanted.find((e) => !results.has(e.id));
        const upTo = untried ? untried.id - 1 : lastId;
        const dead = wanted.filter((e) => e.id <= upTo && results.get(e.id)?.ok === false);
        for (const e of dead) {
          const r = results.get(e.id) as { ok: false; error: string };
          await tx.query(
            insertDeadLetter({
              subscriptionId: id,
              event: e,
              attempts: e.id === failedEvent.id ? attempts : 1,
              lastError: r.error,
              failedAt: now,
            }),
          );
        }
        await tx.query(
          saveDeliveryState({
            id,
            cursor: upTo,
            attempts: 0,
            failingEventId: null,
            failingSince,
            nextAttemptAt: null,
            lastError: failure.error,
            delivered,
            lastDeliveredAt: delivered > 0 ? now : null,
          }),
        );
        this.deps.log.warn(
          { subscription: id, events: dead.map((e) => e.id), attempts, error: failure.error },
          'events moved to dead letters after the retry window',
        );
        return { delivered, failed, deadLettered: dead.length, more: true };
      }

      const delay = retryDelayMs(attempts, {
        baseMs: this.o.retryBaseMs,
        maxMs: this.o.retryMaxMs,
        random: this.deps.random,
      });
      // The last try lands exactly at the end of the window, not up to an hour after it.
      const next = new Date(Math.min(now.getTime() + delay, windowEnd));
      await tx.query(
        saveDeliveryState({
          id,
          cursor: failedEvent.id - 1 >= cursor ? failedEvent.id - 1 : cursor,
          attempts,
          failingEventId: failedEvent.id,
          failingSince,
          nextAttemptAt: next,
          lastError: failure.error,
          delivered,
          lastDeliveredAt: delivered > 0 ? now : null,
        }),
      );
      this.deps.log.info(
        {
          subscription: id,
          event: failedEvent.id,
          attempts,
          error: failure.error,
          retryAt: next.toISOString(),
        },
        'event delivery failed; will retry',
      );
      return { delivered, failed, deadLettered: 0, more: false };
    });
  }

  /**
   * Sends events with up to `concurrency` requests in flight, never two of one record at once and
   * always in id order per record; a record's chain stops at its first failure.
   */
  private async deliverInRecordOrder(
    url: string,
    secret: readonly string[],
    events: ChangeEvent[],
    now: Date,
  ): Promise<Map<number, PostResult>> {
    const chains = new Map<string, ChangeEvent[]>();
    for (const e of events) {
      const key = `${e.table_id ?? e.table}\u0000${e.record_id}`;
      const chain = chains.get(key);
      if (chain) chain.push(e);
      else chains.set(key, [e]);
    }
    const results = new Map<number, PostResult>();
    await mapLimit([...chains.values()], this.o.concurrency, async (chain) => {
      for (const event of chain) {
        const r = await postEvent({
          fetch: this.deps.fetch,
          url,
          secret,
          event,
          now,
          timeoutMs: this.o.requestTimeoutMs,
        });
        results.set(event.id, r);
        if (!r.ok) return;
      }
    });
    return results;
  }

  /** Drops outbox rows every subscription has passed, paused ones too (or old ones when there are none). */
  private async prune(horizon: number): Promise<number> {
    const min = (await this.db.query<{ cursor: number | null }>(minSubscriptionCursor())).rows[0]?.cursor;
    const q =
      min === null || min === undefined
        ? pruneOutboxBefore(new Date(this.now().getTime() - this.o.outboxRetentionMs), horizon, 5_000)
        : pruneOutboxUpTo(Math.min(Number(min), horizon), 5_000);
    return (await this.db.query(q)).rowCount ?? 0;
  }
}
