import type { AirtableRecord } from '../airtable/types.ts';

/**
 * One record whose proxy write Airtable accepted but the mirror could not apply. Ids only:
 * never record contents or tokens (docs/DESIGN.md invariant 8), so it may sit in a journal file.
 */
export interface CatchupItem {
  baseId: string;
  /** Table id or name, as the app addressed it. */
  tableRef: string;
  recordId: string;
  op: 'upsert' | 'delete';
  /** ISO time the write was accepted. */
  queuedAt: string;
}

/** Takes catch-up items without waiting and without throwing (the app's answer must not depend on it). */
export interface CatchupSink {
  enqueue(items: CatchupItem[]): void;
  /**
   * The same, with the records of Airtable's answer (when the sink can carry them: the Workers
   * proxy). Without it the proxy enqueues the ids, and the syncer re-fetches them.
   */
  enqueueWrite?(write: CatchupWrite): void;
}

/**
 * A write Airtable accepted that the mirror could not take, with the records Airtable answered:
 * where no process can re-fetch them later (a Worker holds no Airtable token), they travel
 * themselves and are applied once Postgres answers (src/catchup/apply-write.ts). Record contents
 * are data the mirror holds anyway, not secrets; the app's token is never part of it.
 */
export interface CatchupWrite {
  baseId: string;
  /** Table id or name, as the app addressed it. */
  tableRef: string;
  /** How the records' fields are keyed (`returnFieldsByFieldId`). */
  keyedBy: 'id' | 'name';
  records: AirtableRecord[];
  deletedIds: string[];
  /** ISO time Airtable's answer arrived. */
  answeredAt: string;
}
