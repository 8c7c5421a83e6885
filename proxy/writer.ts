import type { AirtableRecord } from '../src/airtable/types.ts';

/** One write Airtable accepted, to be mirrored. */
export interface MirrorWrite {
  baseId: string;
  /** Table id or name, as the app addressed it. */
  tableIdOrName: string;
  /** How `records[].fields` are keyed (`returnFieldsByFieldId`). */
  keyedBy: 'id' | 'name';
  /** Whole records from Airtable's answer (PATCH answers carry every non-empty cell too). */
  records?: AirtableRecord[];
  deletedIds?: string[];
}

/**
 * - `not-mirrored`: the base has no source; nothing was written and nothing is owed.
 * - `pending`: the base is a source whose mirror is not built yet (its first sync is running or
 *   has not run). Nothing was written, but that first listing may already have passed these
 *   records, so they are owed: the proxy queues them for catch-up, which applies them once the
 *   mirror tables exist.
 * - `paused`: the table is paused, written by nothing; it owes a full listing when it resumes
 *   (`fill_pending`), which brings these records. Nothing is queued.
 */
export type ApplyResult = 'applied' | 'not-mirrored' | 'pending' | 'paused';

/** Where the proxy puts accepted writes. Throws when the mirror could not take it (the proxy then queues a catch-up). */
export interface MirrorWriter {
  apply(write: MirrorWrite): Promise<ApplyResult>;
}
