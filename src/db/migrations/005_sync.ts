import type { Migration } from './index.ts';

/** syncer state (owned by sync/). */
export const m005_sync: Migration = {
  version: 5,
  name: 'sync',
  up: [],
};
