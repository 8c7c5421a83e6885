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

/** `not-mirrored`: the base (or table) has no mirror; nothing was written and nothing is owed. */
export type ApplyResult = 'applied' | 'not-mirrored';

/** Where the proxy puts accepted writes. Throws when the mirror could not take it (the proxy then queues a catch-up). */
export interface MirrorWriter {
  apply(write: MirrorWrite): Promise<ApplyResult>;
}
