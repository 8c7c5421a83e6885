import type { Migration } from './index.ts';

/** Airtable webhook registrations (owned by src/webhooks). */
export const m006_webhooks: Migration = {
  version: 6,
  name: 'webhooks',
  up: [],
};
