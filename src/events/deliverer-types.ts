import type pg from 'pg';
import type { Database } from '../db/database.ts';
import type { Logger } from '../log.ts';
import type { SecretBox } from '../crypto/secrets.ts';

/** The event deliverer's settings, results and surface (src/events/deliverer.ts). */

export interface DelivererOptions {
  db: Database;
  fetch: typeof fetch;
  secrets: SecretBox;
  log: Logger;
  now?: () => Date;
  /** The wait between passes (tests inject a fake clock's); must resolve, never reject, on abort. */
  sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
  /** Polling fallback when no notification arrives (LISTEN can miss while reconnecting). */
  pollIntervalMs?: number;
  /** Connection for LISTEN; defaults to a dedicated client of `db`. `false` = polling only. */
  listen?: (() => pg.Client) | false;
  random?: () => number;
  /** Outbox rows read per subscription per step. */
  batchSize?: number;
  /** Concurrent requests per subscription (different records only). */
  concurrency?: number;
  /** Subscriptions served at once (each holds one connection while delivering). */
  parallelSubscriptions?: number;
  retryWindowMs?: number;
  retryBaseMs?: number;
  retryMaxMs?: number;
  requestTimeoutMs?: number;
  /** With no subscription at all, outbox rows older than this are pruned. */
  outboxRetentionMs?: number;
  /** Called after every pass (metrics: deliveries, failures, dead letters). */
  onPass?: (result: PassResult) => void;
}

export interface PassResult {
  delivered: number;
  failed: number;
  deadLettered: number;
  pruned: number;
}

export interface Deliverer {
  start(): void;
  /** Stops the loop and the listener; resolves once the running pass has finished. */
  stop(): Promise<void>;
  /** One complete pass (all due subscriptions drained as far as possible, then pruning). */
  runOnce(): Promise<PassResult>;
  /** Asks the loop for a pass now (what a NOTIFY does). */
  wake(): void;
}

export interface Step {
  delivered: number;
  failed: number;
  deadLettered: number;
  /** More rows may be waiting right away (a full batch went through). */
  more: boolean;
}
