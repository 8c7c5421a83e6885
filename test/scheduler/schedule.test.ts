import { describe, expect, it } from 'vitest';
import { backoffMs, jitterMs, nextRunAt, timeOfDayMs } from '../../src/scheduler/schedule.ts';

const T = Date.UTC(2026, 0, 10, 13, 17, 5); // 13:17:05 UTC
const H = 3_600_000;
const DAY = 24 * H;

describe('nextRunAt', () => {
  it('is now for a table that never ran', () => {
    expect(nextRunAt({ syncFrequency: '1hour', syncTimeOfDay: null }, null, T)).toBe(T);
  });

  it('is null for never', () => {
    expect(nextRunAt({ syncFrequency: 'never', syncTimeOfDay: null }, T - DAY, T)).toBeNull();
    expect(nextRunAt({ syncFrequency: 'never', syncTimeOfDay: null }, null, T)).toBeNull();
  });

  it.each([
    ['1min', 60_000],
    ['5min', 300_000],
    ['15min', 900_000],
    ['30min', 1_800_000],
    ['1hour', H],
    ['6hour', 6 * H],
    ['12hour', 12 * H],
    ['24hour', DAY],
    ['7day', 7 * DAY],
    ['30day', 30 * DAY],
  ])('%s runs at a fixed rate from the last start', (f, ms) => {
    expect(nextRunAt({ syncFrequency: f, syncTimeOfDay: null }, T, T + 1000)).toBe(T + ms);
  });

  it('keeps a daily table on its time of day however long runs take', () => {
    const cfg = { syncFrequency: '24hour', syncTimeOfDay: '02:00:00' };
    expect(nextRunAt(cfg, T, T)).toBe(Date.UTC(2026, 0, 11, 2, 0, 0));
    // A run that started at 02:00:30 (jitter) still lands at 02:00 the next day.
    expect(nextRunAt(cfg, Date.UTC(2026, 0, 11, 2, 0, 30), T)).toBe(Date.UTC(2026, 0, 12, 2, 0, 0));
    // Before the time on the same day: that same day.
    expect(nextRunAt(cfg, Date.UTC(2026, 0, 11, 1, 0, 0), T)).toBe(Date.UTC(2026, 0, 11, 2, 0, 0));
  });

  it('puts shorter frequencies on a grid anchored at the time of day', () => {
    const cfg = { syncFrequency: '6hour', syncTimeOfDay: '01:30' };
    // grid: 01:30, 07:30, 13:30, 19:30 — after 13:17:05 comes 13:30
    expect(nextRunAt(cfg, T, T)).toBe(Date.UTC(2026, 0, 10, 13, 30, 0));
    expect(nextRunAt(cfg, Date.UTC(2026, 0, 10, 13, 30, 0), T)).toBe(Date.UTC(2026, 0, 10, 19, 30, 0));
  });

  it('parses HH:MM and HH:MM:SS', () => {
    expect(timeOfDayMs('00:00')).toBe(0);
    expect(timeOfDayMs('23:59:59')).toBe(DAY - 1000);
  });
});

describe('jitter and backoff', () => {
  it('jitters up to 10 % of the interval, at most 5 minutes', () => {
    const hourly = { syncFrequency: '1hour', syncTimeOfDay: null };
    expect(jitterMs(hourly, () => 0)).toBe(0);
    expect(jitterMs({ syncFrequency: '5min', syncTimeOfDay: null }, () => 0.999)).toBe(29_970);
    expect(jitterMs(hourly, () => 0.999)).toBe(299_700);
    expect(jitterMs({ syncFrequency: 'never', syncTimeOfDay: null }, () => 0.5)).toBe(0);
  });

  it('backs off exponentially from 30 s, capped at 6 h', () => {
    expect([1, 2, 3, 4].map(backoffMs)).toEqual([30_000, 60_000, 120_000, 240_000]);
    expect(backoffMs(30)).toBe(6 * H);
    expect(backoffMs(1000)).toBe(6 * H);
  });
});
