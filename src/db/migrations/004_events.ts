import type { Migration } from './index.ts';

/** event subscriptions and deliveries (owned by src/events). */
export const m004_events: Migration = {
  version: 4,
  name: 'events',
  up: [],
};
