import { makeId, type Rng } from '../ids.ts';
import type { StoredField } from '../store/types.ts';

/** Small builders for seeded schemas; ids come from the seed's PRNG so they are stable. */
export function field(
  rng: Rng,
  name: string,
  type: string,
  options?: StoredField['options'],
  extra: Partial<StoredField> = {},
): StoredField {
  const f: StoredField = { id: makeId('fld', rng), name, type, ...extra };
  if (options !== undefined) f.options = options;
  return f;
}

export function choices(rng: Rng, names: string[], colors = true) {
  const palette = [
    'blueLight2',
    'greenLight2',
    'yellowLight2',
    'redLight2',
    'purpleLight2',
    'tealLight2',
    'orangeLight2',
    'grayLight2',
  ];
  return names.map((name, i) =>
    colors
      ? { id: makeId('sel', rng), name, color: palette[i % palette.length] }
      : { id: makeId('sel', rng), name },
  );
}

export const DATE_TIME_RESULT = {
  type: 'dateTime',
  options: {
    dateFormat: { name: 'iso', format: 'YYYY-MM-DD' },
    timeFormat: { name: '24hour', format: 'HH:mm' },
    timeZone: 'utc',
  },
};

export const DATE_FORMAT = { dateFormat: { name: 'iso', format: 'YYYY-MM-DD' } };

/** Deterministic per-row pseudo-random in [0,1) without state, so row i can be rebuilt alone. */
export function hash01(i: number, k: number): number {
  let x = Math.imul(i ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(k + 1, 0xc2b2ae35);
  x ^= x >>> 16;
  x = Math.imul(x, 0x7feb352d);
  x ^= x >>> 15;
  x = Math.imul(x, 0x846ca68b);
  x ^= x >>> 16;
  return (x >>> 0) / 4294967296;
}

export function pick<T>(items: readonly T[], r: number): T {
  return items[Math.floor(r * items.length)];
}
