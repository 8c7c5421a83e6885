import type { Migration } from './migration.ts';

/**
 * The high-water mark of an incremental table on an integer field (an autoNumber: PostHog's
 * `integer` incremental_field_type), next to the time mark of a time field (sync/incremental.ts).
 */
export const m052_integer_cursor: Migration = {
  version: 52,
  name: 'integer cursor',
  up: [`ALTER TABLE airmirror.tables ADD COLUMN high_water_int bigint`],
};
