/**
 * The per-table sync state machine. Pure: given the stored status and an event, it says what the
 * status becomes, or that the event is not allowed there. The names are the ones the management
 * API shows (PostHog's ExternalDataSchema statuses, docs/DESIGN.md / issue 5).
 *
 *   (none) ─start→ Running ─succeed→ Completed ─start→ Running …
 *                     │ ─fail→ Failed ─start→ Running
 *                     │ ─cancel→ Cancelled ─start→ Running
 *   any but Paused ─pause→ Paused ─resume→ (none)   (waits for its next run)
 *   Running ─interrupt→ Failed   (the process that ran it stopped mid-run; found at start-up)
 *   (none), Running, Completed, Failed ─fault→ Failed   (a run failed before the syncer could
 *                                                        record its outcome, e.g. it threw)
 *
 * `null` is a table that has never run (or was just resumed): the scheduler treats it as due.
 * A Running table cannot be started again (one run per table at a time); pausing a Running table
 * is allowed — the caller aborts the run, and the run's own succeed/fail/cancel that follows
 * then leaves it Paused (see `settle`).
 */
export const SYNC_STATUSES = ['Running', 'Completed', 'Failed', 'Paused', 'Cancelled'] as const;
export type SyncStatus = (typeof SYNC_STATUSES)[number];

export const SYNC_EVENTS = [
  'start',
  'succeed',
  'fail',
  'pause',
  'resume',
  'cancel',
  'interrupt',
  'fault',
] as const;
export type SyncEvent = (typeof SYNC_EVENTS)[number];

/** Stored status: one of the names, or null for "never ran / resumed, waiting". */
export type StoredStatus = SyncStatus | null;

export class IllegalTransition extends Error {
  constructor(
    readonly from: StoredStatus,
    readonly event: SyncEvent,
  ) {
    super(`cannot ${event} a table that is ${from ?? 'idle'}`);
    this.name = 'IllegalTransition';
  }
}

const TABLE: Record<SyncEvent, Partial<Record<SyncStatus | 'idle', StoredStatus>>> = {
  start: { idle: 'Running', Completed: 'Running', Failed: 'Running', Cancelled: 'Running' },
  succeed: { Running: 'Completed' },
  fail: { Running: 'Failed' },
  cancel: { Running: 'Cancelled' },
  pause: { idle: 'Paused', Running: 'Paused', Completed: 'Paused', Failed: 'Paused', Cancelled: 'Paused' },
  resume: { Paused: null },
  interrupt: { Running: 'Failed' },
  // Paused (a pause wins) and Cancelled (the run was stopped on purpose) keep their status.
  fault: { idle: 'Failed', Running: 'Failed', Completed: 'Failed', Failed: 'Failed' },
};

export function isSyncStatus(v: unknown): v is SyncStatus {
  return typeof v === 'string' && (SYNC_STATUSES as readonly string[]).includes(v);
}

/** Whether `event` is allowed from `from`. */
export function canTransition(from: StoredStatus, event: SyncEvent): boolean {
  return Object.hasOwn(TABLE[event], from ?? 'idle');
}

/** The status after `event`; throws IllegalTransition when the event is not allowed there. */
export function transition(from: StoredStatus, event: SyncEvent): StoredStatus {
  const row = TABLE[event];
  const key = from ?? 'idle';
  if (!Object.hasOwn(row, key)) throw new IllegalTransition(from, event);
  return row[key] as StoredStatus;
}

/**
 * The status a finished run leaves. Normally the table is Running and this is `transition`. If
 * another actor changed the status meanwhile, the run still finished: a pause wins (Paused
 * stays), otherwise the outcome is recorded (e.g. a table marked Failed as "interrupted" by a
 * second process's start-up, whose run then completes, is Completed). Never throws.
 */
export function settle(current: StoredStatus, event: 'succeed' | 'fail' | 'cancel'): StoredStatus {
  if (current === 'Paused') return 'Paused';
  return TABLE[event].Running as StoredStatus;
}
