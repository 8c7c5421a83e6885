import type { Migration } from './index.ts';

/** Catch-up queue for proxy writes the mirror could not apply (owned by proxy/). */
export const m007_proxy: Migration = {
  version: 7,
  name: 'proxy',
  up: [],
};
