import type { Migration } from './index.ts';

/** mirror tables' bookkeeping: row fence, outbox (owned by src/mirror). */
export const m002_mirror: Migration = {
  version: 2,
  name: 'mirror',
  up: [],
};
