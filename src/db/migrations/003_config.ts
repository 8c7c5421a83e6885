import type { Migration } from './index.ts';

/** sync configuration additions (owned by src/api). */
export const m003_config: Migration = {
  version: 3,
  name: 'config',
  up: [],
};
