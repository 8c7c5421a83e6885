import type { Migration } from './migration.ts';

/**
 * The mirror's bookkeeping (owned by src/mirror): the row fence that keeps in-flight sweep pages
 * from rolling back proxy/webhook writes, the outbox written in the same transaction as every
 * mirror change, and what loadMapping needs to rebuild a BaseMapping (field JSON, table order).
 */
export const m002_mirror: Migration = {
  version: 2,
  name: 'mirror',
  up: [
    `CREATE SEQUENCE airmirror.fence_seq`,
    `CREATE TABLE airmirror.row_fence (
      source_id text NOT NULL,
      table_id text NOT NULL,
      record_id text NOT NULL,
      fence bigint NOT NULL,
      at timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (source_id, table_id, record_id)
    )`,
    `CREATE TABLE airmirror.outbox (
      id bigserial PRIMARY KEY,
      source_id text NOT NULL,
      table_id text NOT NULL,
      mirror_schema text NOT NULL,
      mirror_table text NOT NULL,
      record_id text NOT NULL,
      op text NOT NULL CHECK (op IN ('insert', 'update', 'delete')),
      origin text NOT NULL,
      before jsonb,
      after jsonb,
      changed_columns text[],
      created_at timestamptz NOT NULL DEFAULT now()
    )`,
    `CREATE INDEX outbox_record ON airmirror.outbox (source_id, table_id, record_id, id)`,
    `ALTER TABLE airmirror.columns ADD COLUMN field jsonb`,
    `ALTER TABLE airmirror.tables ADD COLUMN mirror_position integer`,
  ],
};
