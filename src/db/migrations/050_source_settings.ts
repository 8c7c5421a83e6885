import type { Migration } from './migration.ts';

/**
 * A source's description (PostHog's ExternalDataSource has one), changed with its name and token
 * by `PATCH /api/sources/{id}` (src/api/source-settings.ts).
 */
export const m050_source_settings: Migration = {
  version: 50,
  name: 'source settings',
  up: [`ALTER TABLE airmirror.sources ADD COLUMN description text`],
};
