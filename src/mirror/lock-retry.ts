/**
 * Schema changes take ACCESS EXCLUSIVE locks on mirror tables. Waiting for one queues every new
 * reader behind the change, and a reader whose query touches several tables takes its locks in
 * its own order, so the two can deadlock (Postgres then aborts one of them — possibly the
 * reader). So a change waits for each lock at most DDL_LOCK_TIMEOUT_MS, well under Postgres'
 * deadlock_timeout (1 s by default): it always gives up first, rolls back (readers carry on with
 * the tables as they were) and tries again shortly after, with a growing, jittered delay.
 */
import { systemSleep, type Sleep } from '../lifecycle/clock.ts';

export const DDL_LOCK_TIMEOUT_MS = 200;
const ATTEMPTS = 25;

/** Whether `err` is a lock we gave up on (55P03 lock_not_available) or a deadlock (40P01). */
export function isLockConflict(err: unknown): boolean {
  const code = (err as { code?: string } | null)?.code;
  return code === '55P03' || code === '40P01';
}

export async function withLockRetry<T>(
  fn: () => Promise<T>,
  opts: {
    signal?: AbortSignal;
    attempts?: number;
    sleep?: Sleep;
    onRetry?: (attempt: number, err: unknown) => void;
  } = {},
): Promise<T> {
  const attempts = opts.attempts ?? ATTEMPTS;
  const sleep = opts.sleep ?? systemSleep;
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      if (!isLockConflict(err) || attempt >= attempts) throw err;
      opts.signal?.throwIfAborted();
      opts.onRetry?.(attempt, err);
      await sleep(Math.min(1000, 20 * 2 ** attempt) * (0.5 + Math.random() / 2), opts.signal);
    }
  }
}
