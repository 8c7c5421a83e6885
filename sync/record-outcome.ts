import { NOT_OWNER } from '../src/bookkeeping/ownership.ts';
import { isConnectionError } from '../src/db/connection-errors.ts';
import { abortableSleep } from '../src/lifecycle/clock.ts';
import { isInterruption } from '../src/lifecycle/interruption.ts';
import type { Logger } from '../src/log.ts';
import { oneLine } from './one-line.ts';
import type { SyncerEnv } from './types.ts';

const FIRST_WAIT_MS = 250;
const MAX_WAIT_MS = 5_000;

/**
 * Records how a run ended — `fn` writes the table's status and the run's row — and, when
 * Postgres is away at that moment (a restart mid-run fails the run and its recording alike),
 * tries again with a growing wait until it answers. Giving up would leave the table `Running` in
 * Postgres for good: `reload` refused, the scheduler passing it by. Only the syncer stopping
 * (`signal`) ends the waiting; the next process's start-up recovery then fails the run
 * (failInterruptedRuns). An error that is not Postgres being away is thrown at once.
 */
export async function recordOutcome<T>(
  fn: () => Promise<T>,
  opts: {
    signal: AbortSignal;
    log: Pick<Logger, 'warn' | 'info'>;
    what: Record<string, unknown>;
    sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
  },
): Promise<T> {
  const sleep = opts.sleep ?? abortableSleep;
  let wait = FIRST_WAIT_MS;
  for (let attempt = 1; ; attempt++) {
    try {
      const result = await fn();
      if (attempt > 1)
        opts.log.info({ ...opts.what, attempts: attempt }, 'run outcome recorded after Postgres returned');
      return result;
    } catch (err) {
      if (!isConnectionError(err) || opts.signal.aborted) throw err;
      if (attempt === 1) {
        opts.log.warn(
          { ...opts.what, err: oneLine(err) },
          'Postgres is away; recording the run outcome when it answers',
        );
      }
      await sleep(wait, opts.signal);
      wait = Math.min(MAX_WAIT_MS, wait * 2);
    }
  }
}

/**
 * How a run that did not complete ended — one policy for every kind of run (docs/ownership.md):
 * - `interrupted`: its process stops, or it lost the base (another owner, or the ownership
 *   session gone with a Postgres restart). The table becomes Failed ("interrupted: …") and due
 *   now, so whoever owns the base next runs it again at once (invariant 12);
 * - `cancelled`: a cancel on purpose; the table is Cancelled and waits for its next period;
 * - `failed`: its own error.
 */
export interface RunStop {
  kind: 'interrupted' | 'cancelled' | 'failed';
  /** One line for latest_error and the run's row. */
  message: string;
}

export function howStopped(signal: AbortSignal, err: unknown): RunStop {
  if (!signal.aborted) return { kind: 'failed', message: oneLine(err) };
  if (isInterruption(signal.reason)) return { kind: 'interrupted', message: signal.reason.message };
  return { kind: 'cancelled', message: 'cancelled' };
}

/**
 * Records a run's end with `recordOutcome`, waiting for Postgres until the syncer stops (not
 * when the run is cancelled: a cancelled run's end must be recorded all the same). Every run's
 * end goes through here — table runs and refills alike — on the base's lease database.
 *
 * Returns false when the base's fence refused it (AM001): another owner took the base — or this
 * process took it again after its ownership session was lost — and that owner's recovery
 * (sync/base-recovery.ts) already ended the run as interrupted. Nothing stays Running either way.
 */
export async function recordEnd(
  env: Pick<SyncerEnv, 'controller' | 'log'>,
  what: Record<string, unknown>,
  fn: () => Promise<unknown>,
): Promise<boolean> {
  const stopping = env.controller();
  try {
    await recordOutcome(fn, { signal: stopping.ac.signal, log: env.log, what });
    return true;
  } catch (err) {
    if ((err as { code?: unknown }).code !== NOT_OWNER) throw err;
    env.log.info(what, "the base's new owner ended this run as interrupted");
    return false;
  } finally {
    stopping.done();
  }
}
