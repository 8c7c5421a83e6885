import { describe, expect, it } from 'vitest';
import {
  IllegalTransition,
  SYNC_EVENTS,
  canTransition,
  settle,
  transition,
  type StoredStatus,
  type SyncEvent,
} from '../../src/bookkeeping/state.ts';

const ALL: StoredStatus[] = [null, 'Running', 'Completed', 'Failed', 'Paused', 'Cancelled'];

describe('sync state machine', () => {
  it('runs a table through a normal life', () => {
    let s: StoredStatus = null;
    s = transition(s, 'start');
    expect(s).toBe('Running');
    s = transition(s, 'succeed');
    expect(s).toBe('Completed');
    s = transition(s, 'start');
    s = transition(s, 'fail');
    expect(s).toBe('Failed');
    s = transition(s, 'start');
    s = transition(s, 'cancel');
    expect(s).toBe('Cancelled');
    s = transition(s, 'pause');
    expect(s).toBe('Paused');
    s = transition(s, 'resume');
    expect(s).toBeNull();
  });

  it('allows exactly these transitions', () => {
    const allowed: string[] = [];
    for (const from of ALL) {
      for (const ev of SYNC_EVENTS)
        if (canTransition(from, ev))
          allowed.push(`${from ?? 'idle'} -${ev}-> ${transition(from, ev) ?? 'idle'}`);
    }
    expect(allowed.sort()).toEqual(
      [
        'idle -start-> Running',
        'idle -pause-> Paused',
        'Running -succeed-> Completed',
        'Running -fail-> Failed',
        'Running -cancel-> Cancelled',
        'Running -pause-> Paused',
        'Completed -start-> Running',
        'Completed -pause-> Paused',
        'Failed -start-> Running',
        'Failed -pause-> Paused',
        'Cancelled -start-> Running',
        'Cancelled -pause-> Paused',
        'Paused -resume-> idle',
        'Running -interrupt-> Failed',
        'idle -fault-> Failed',
        'Running -fault-> Failed',
        'Completed -fault-> Failed',
        'Failed -fault-> Failed',
      ].sort(),
    );
  });

  it('refuses a second start of a running table and outcomes of tables that are not running', () => {
    expect(() => transition('Running', 'start')).toThrow(IllegalTransition);
    expect(() => transition('Running', 'start')).toThrow('cannot start a table that is Running');
    for (const ev of ['succeed', 'fail', 'cancel'] as SyncEvent[]) {
      expect(() => transition('Completed', ev)).toThrow(IllegalTransition);
      expect(() => transition(null, ev)).toThrow('idle');
    }
    expect(() => transition('Paused', 'start')).toThrow(IllegalTransition);
    expect(() => transition('Paused', 'pause')).toThrow(IllegalTransition);
    expect(() => transition('Completed', 'resume')).toThrow(IllegalTransition);
  });

  it('fails a run its process left behind, and only a Running one', () => {
    expect(transition('Running', 'interrupt')).toBe('Failed');
    for (const from of ALL.filter((x) => x !== 'Running')) {
      expect(() => transition(from, 'interrupt')).toThrow(IllegalTransition);
    }
  });

  it('a fault (a run that failed before its outcome was recorded) leaves Paused and Cancelled alone', () => {
    for (const from of [null, 'Running', 'Completed', 'Failed'] as StoredStatus[]) {
      expect(transition(from, 'fault')).toBe('Failed');
    }
    expect(canTransition('Paused', 'fault')).toBe(false);
    expect(canTransition('Cancelled', 'fault')).toBe(false);
  });

  it('settles a finished run: a pause made meanwhile wins, otherwise the outcome', () => {
    expect(settle('Paused', 'succeed')).toBe('Paused');
    expect(settle('Paused', 'fail')).toBe('Paused');
    expect(settle('Running', 'fail')).toBe('Failed');
    expect(settle('Running', 'cancel')).toBe('Cancelled');
    // another actor overwrote Running (e.g. marked it interrupted): the finished run still counts
    expect(settle('Failed', 'succeed')).toBe('Completed');
    expect(settle(null, 'fail')).toBe('Failed');
  });
});
