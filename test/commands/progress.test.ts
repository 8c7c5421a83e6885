import { describe, expect, it } from 'vitest';
import { formatProgress, ProgressDisplay, type ProgressEvent } from '../../src/commands/progress.ts';

const event = (over: Partial<ProgressEvent> = {}): ProgressEvent => ({
  sourceId: 's',
  tableId: 'tblOrders',
  tableName: 'Orders',
  mirrorTable: 'orders',
  phase: 'listing',
  pages: 0,
  records: 0,
  startedAt: 0,
  ...over,
});

describe('formatProgress', () => {
  it('shows a bar, counts, pages/s and an ETA from the expected total', () => {
    const line = formatProgress({
      name: 'orders',
      records: 40_000,
      pages: 400,
      expected: 100_000,
      elapsedMs: 10_000,
      phase: 'listing',
    });
    expect(line).toBe(
      `${'orders'.padEnd(16)}  [########------------]  40,000/100,000 records  40.0 pages/s  ETA 0:15`,
    );
  });

  it('has no bar or ETA when the total is unknown (first run)', () => {
    const line = formatProgress({
      name: 'orders',
      records: 1_500,
      pages: 15,
      elapsedMs: 3_000,
      phase: 'listing',
    });
    expect(line).toBe(`${'orders'.padEnd(16)}  1,500 records  5.0 pages/s`);
  });

  it('says when it deletes, and sums up when done', () => {
    expect(
      formatProgress({ name: 't', records: 10, pages: 1, expected: 10, elapsedMs: 500, phase: 'deleting' }),
    ).toContain('deleting unseen rows');
    expect(formatProgress({ name: 't', records: 10, pages: 2, elapsedMs: 4_000, phase: 'done' })).toBe(
      `${'t'.padEnd(16)}  done  10 records in 4.0 s (0.5 pages/s)`,
    );
  });

  it('formats ETAs over an hour as h:mm:ss', () => {
    const line = formatProgress({
      name: 't',
      records: 1,
      pages: 1,
      expected: 4_000,
      elapsedMs: 1_000,
      phase: 'listing',
    });
    expect(line).toContain('ETA 1:06:39');
  });
});

describe('ProgressDisplay', () => {
  it('on a TTY redraws every table in place', () => {
    let t = 0;
    const out: string[] = [];
    const r = new ProgressDisplay({ write: (s) => out.push(s), tty: true, now: () => t, redrawMs: 0 });
    t = 1_000;
    r.onProgress(event({ pages: 1, records: 100 }));
    r.onProgress(event({ tableId: 'tblCustomers', mirrorTable: 'customers', pages: 1, records: 100 }));
    r.onProgress(event({ pages: 2, records: 200 }));
    // Third draw moves the cursor up over the two lines drawn before and rewrites both.
    expect(out[2].startsWith('\x1b[2A')).toBe(true);
    expect(out[2].split('\x1b[2K')).toHaveLength(3);
    expect(out[2]).toContain(`${'orders'.padEnd(16)}  200 records`);
  });

  it('off a TTY writes a plain line every N pages and when a table is done', () => {
    const out: string[] = [];
    const r = new ProgressDisplay({
      write: (s) => out.push(s),
      tty: false,
      now: () => 2_000,
      plainEveryPages: 2,
    });
    for (let p = 1; p <= 5; p++) r.onProgress(event({ pages: p, records: p * 100 }));
    r.onProgress(event({ phase: 'done', pages: 5, records: 500 }));
    expect(out).toEqual([
      `${'orders'.padEnd(16)}  200 records  1.0 pages/s\n`,
      `${'orders'.padEnd(16)}  400 records  2.0 pages/s\n`,
      `${'orders'.padEnd(16)}  done  500 records in 2.0 s (2.5 pages/s)\n`,
    ]);
    expect(out.join('')).not.toContain('\x1b');
  });

  it("uses the previous run's row count for the bar", () => {
    const out: string[] = [];
    const r = new ProgressDisplay({
      write: (s) => out.push(s),
      tty: false,
      now: () => 1_000,
      plainEveryPages: 1,
      expected: new Map([['tblOrders', 400]]),
    });
    r.onProgress(event({ pages: 1, records: 100 }));
    expect(out[0]).toContain('[#####---------------]  100/400 records');
  });
});
