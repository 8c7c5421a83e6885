export interface WaitOptions {
  /**
   * Real time after which the wait gives up and fails. Only that: it never decides what passes,
   * so it is generous (on a loaded 2-core machine Postgres round trips can take seconds).
   * Default 15 s.
   */
  timeoutMs?: number;
  /** Names what is awaited in the failure ("timed out waiting for <what>"). */
  what?: string;
  /** Pause between checks (default 10 ms). */
  intervalMs?: number;
  /**
   * A check that throws counts as "not yet" (e.g. a query while Postgres is down); the last
   * error is named if the wait times out. By default a throw fails the wait at once.
   */
  retryErrors?: boolean;
}

/**
 * Checks `cond` until it returns something other than false, undefined or null, and returns that
 * value: for asynchronous work a test cannot await directly (a background loop, a NOTIFY, a
 * child process). The one wait helper of the test suite.
 */
export async function waitUntil<T>(
  cond: () => T | Promise<T>,
  opts: WaitOptions = {},
): Promise<Exclude<T, false | undefined | null>> {
  const { timeoutMs = 15_000, what = 'condition', intervalMs = 10, retryErrors = false } = opts;
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const v = await cond();
      if (v !== false && v !== undefined && v !== null) return v as Exclude<T, false | undefined | null>;
    } catch (err) {
      if (!retryErrors) throw err;
      lastError = err;
    }
    if (Date.now() >= deadline) {
      const cause = lastError === undefined ? '' : ` (last error: ${String(lastError)})`;
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${cause}`);
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
