/**
 * Progress of long sweeps for `airmirror sync --once` (issue 7): on a TTY one live line per
 * table (records done, pages/s, ETA), redrawn in place; otherwise plain lines — one every
 * `plainEveryPages` pages and one when a table is done — so logs and CI output stay readable.
 * The ETA uses the table's row count from its previous run, the only total Airtable lets us know.
 */

export type { SyncProgress as ProgressEvent } from '../../sync/syncer.ts';
import type { SyncProgress as ProgressEvent } from '../../sync/syncer.ts';

export interface ProgressLine {
  name: string;
  records: number;
  pages: number;
  expected?: number;
  elapsedMs: number;
  phase: ProgressEvent['phase'];
}

const BAR = 20;

/** One table's line, e.g. `orders      [########------------]  40,000/100,000  41.2 pages/s  ETA 0:15`. */
export function formatProgress(l: ProgressLine, nameWidth = 16): string {
  const rate = l.elapsedMs > 0 ? (l.pages * 1000) / l.elapsedMs : 0;
  const name = l.name.length > nameWidth ? l.name.slice(0, nameWidth - 1) + '…' : l.name.padEnd(nameWidth);
  const count = l.expected ? `${fmt(l.records)}/${fmt(Math.max(l.expected, l.records))}` : fmt(l.records);
  if (l.phase === 'done') {
    return `${name}  done  ${fmt(l.records)} records in ${seconds(l.elapsedMs)} (${rate.toFixed(1)} pages/s)`;
  }
  const parts = [name];
  if (l.expected) {
    const filled = Math.min(BAR, Math.round((l.records / l.expected) * BAR));
    parts.push(`[${'#'.repeat(filled)}${'-'.repeat(BAR - filled)}]`);
  }
  parts.push(`${count} records`, `${rate.toFixed(1)} pages/s`);
  if (l.phase === 'deleting') parts.push('deleting unseen rows…');
  else if (l.expected && l.records > 0 && l.records < l.expected) {
    parts.push(`ETA ${clock(((l.expected - l.records) * l.elapsedMs) / l.records)}`);
  }
  return parts.join('  ');
}

function fmt(n: number): string {
  return n.toLocaleString('en-US');
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}

function clock(ms: number): string {
  const s = Math.round(ms / 1000);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${ss}` : `${m}:${ss}`;
}

export interface ProgressDisplayOptions {
  write: (s: string) => void;
  tty: boolean;
  now?: () => number;
  /** Rows each table had after its previous run (by Airtable table id), for the bar and ETA. */
  expected?: ReadonlyMap<string, number>;
  /** Plain mode: a line every this many pages (default 50). */
  plainEveryPages?: number;
  /** TTY mode: redraw at most this often (default 100 ms). */
  redrawMs?: number;
}

export class ProgressDisplay {
  private readonly lines = new Map<string, ProgressLine>();
  private drawn = 0;
  private lastDraw = 0;
  private readonly now: () => number;

  constructor(private readonly o: ProgressDisplayOptions) {
    this.now = o.now ?? Date.now;
  }

  readonly onProgress = (e: ProgressEvent): void => {
    const line: ProgressLine = {
      name: e.mirrorTable || e.tableName,
      records: e.records,
      pages: e.pages,
      expected: this.o.expected?.get(e.tableId) || undefined,
      elapsedMs: Math.max(0, this.now() - e.startedAt),
      phase: e.phase,
    };
    const previous = this.lines.get(e.tableId);
    this.lines.set(e.tableId, line);
    if (this.o.tty) {
      if (e.phase === 'done' || this.now() - this.lastDraw >= (this.o.redrawMs ?? 100)) this.redraw();
    } else if (e.phase === 'done') {
      this.o.write(formatProgress(line) + '\n');
    } else {
      const every = this.o.plainEveryPages ?? 50;
      if (Math.floor(e.pages / every) > Math.floor((previous?.pages ?? 0) / every)) {
        this.o.write(formatProgress(line) + '\n');
      }
    }
  };

  /** Leaves the final state on screen (TTY). */
  finish(): void {
    if (this.o.tty && this.lines.size > 0) this.redraw();
  }

  private redraw(): void {
    this.lastDraw = this.now();
    // Move up over what we drew last time and rewrite every line in place.
    let out = this.drawn > 0 ? `\x1b[${this.drawn}A` : '';
    for (const l of this.lines.values()) out += `\r\x1b[2K${formatProgress(l)}\n`;
    this.drawn = this.lines.size;
    this.o.write(out);
  }
}
