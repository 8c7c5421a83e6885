/** What a formula can see of one record (the public contract is re-exported from index.ts). */
export interface FormulaContext {
  recordId: string;
  /** ISO */
  createdTime: string;
  /** ISO of the last user edit (of those fields, when given); null when never edited. */
  lastModifiedTime(fieldIds?: string[]): string | null;
  /** REST (cellFormat=json) cell value, undefined when empty. */
  getCell(fieldId: string): unknown;
  /** ms since the epoch (injectable clock). */
  now: number;
}
