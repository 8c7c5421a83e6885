/**
 * Delay before retry number `attempt` (1 = first retry): exponential from `baseMs`, capped at
 * `maxMs`, with "equal jitter" (half fixed, half random) so many receivers failing together do
 * not retry in lockstep, while the delay still grows.
 */
export function retryDelayMs(
  attempt: number,
  opts: { baseMs?: number; maxMs?: number; random?: () => number } = {},
): number {
  const base = opts.baseMs ?? 1_000;
  const max = opts.maxMs ?? 60 * 60 * 1000;
  const random = opts.random ?? Math.random;
  const exp = Math.min(max, base * 2 ** Math.max(0, attempt - 1));
  return Math.round(exp / 2 + random() * (exp / 2));
}
