import {
  closeSync,
  existsSync,
  fdatasyncSync,
  mkdirSync,
  openSync,
  readFileSync,
  truncateSync,
  writeSync,
} from 'node:fs';
import { dirname, join } from 'node:path';
import type { CatchupJournal } from './catchup-queue.ts';
import type { CatchupItem } from '../src/catchup/types.ts';

export const JOURNAL_FILE = 'proxy-catchup.jsonl';

/**
 * Append-only JSON-lines journal (`<dataDir>/proxy-catchup.jsonl`) of catch-up items, so writes
 * Airtable accepted survive a restart while Postgres is down. Only ids, ops and times are written
 * (never tokens or record contents). Appends are synced to disk before the app gets its answer;
 * this is the slow path only, taken when the mirror could not apply a write.
 */
export function createFileJournal(dataDir: string): CatchupJournal & { path: string } {
  const path = join(dataDir, JOURNAL_FILE);
  return {
    path,
    append(items) {
      mkdirSync(dirname(path), { recursive: true });
      const text = items
        .map((i) =>
          JSON.stringify({
            baseId: i.baseId,
            tableRef: i.tableRef,
            recordId: i.recordId,
            op: i.op,
            queuedAt: i.queuedAt,
          }),
        )
        .join('\n');
      const fd = openSync(path, 'a', 0o600);
      try {
        writeSync(fd, text + '\n');
        fdatasyncSync(fd);
      } finally {
        closeSync(fd);
      }
    },
    load() {
      if (!existsSync(path)) return [];
      const out: CatchupItem[] = [];
      for (const line of readFileSync(path, 'utf8').split('\n')) {
        const item = parseLine(line);
        if (item) out.push(item);
      }
      return out;
    },
    clear() {
      if (existsSync(path)) truncateSync(path, 0);
    },
  };
}

/** A torn last line (crash mid-append) or anything malformed is skipped. */
function parseLine(line: string): CatchupItem | null {
  if (!line.trim()) return null;
  try {
    const v = JSON.parse(line) as Partial<CatchupItem>;
    if (
      typeof v.baseId === 'string' &&
      typeof v.tableRef === 'string' &&
      typeof v.recordId === 'string' &&
      (v.op === 'upsert' || v.op === 'delete') &&
      typeof v.queuedAt === 'string'
    ) {
      return { baseId: v.baseId, tableRef: v.tableRef, recordId: v.recordId, op: v.op, queuedAt: v.queuedAt };
    }
  } catch {
    // fall through
  }
  return null;
}
