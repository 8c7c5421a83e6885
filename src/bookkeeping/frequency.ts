/**
 * Sync frequencies (issue 5) and their length. A leaf module: the API validates with it, the
 * scheduler plans with it, and the incremental sync type times its reconciliation with it.
 */
export const SYNC_FREQUENCIES = [
  '1min',
  '5min',
  '15min',
  '30min',
  '1hour',
  '6hour',
  '12hour',
  '24hour',
  '7day',
  '30day',
  'never',
] as const;
export type SyncFrequency = (typeof SYNC_FREQUENCIES)[number];

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
const FREQUENCY_MS: Record<Exclude<SyncFrequency, 'never'>, number> = {
  '1min': MINUTE,
  '5min': 5 * MINUTE,
  '15min': 15 * MINUTE,
  '30min': 30 * MINUTE,
  '1hour': HOUR,
  '6hour': 6 * HOUR,
  '12hour': 12 * HOUR,
  '24hour': DAY,
  '7day': 7 * DAY,
  '30day': 30 * DAY,
};

/** Milliseconds of a frequency; undefined for `never` or an unknown value. */
export function frequencyMs(f: string): number | undefined {
  return (FREQUENCY_MS as Record<string, number | undefined>)[f];
}
