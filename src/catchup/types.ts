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
}
