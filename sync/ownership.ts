import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import {
  announce,
  baseKey,
  baseKeys,
  ensureBaseOwners,
  freeBases,
  liveMembers,
  markStopping,
  ownerGuard,
  pruneProcesses,
  removeProcess,
  takeBase,
  tryLockBase,
  unlockBase,
  type BaseLease,
  type BaseWork,
  type OwnershipMessage,
} from '../src/bookkeeping/ownership.ts';
import type { Database } from '../src/db/database.ts';
import { BackgroundLoop } from '../src/lifecycle/background-loop.ts';
import { Interruption } from '../src/lifecycle/interruption.ts';
import type { Logger } from '../src/log.ts';
import { recoverBase } from './base-recovery.ts';
import { guardedDatabase } from './guarded-db.ts';
import { oneLine } from './one-line.ts';
import { OwnershipSession } from './ownership-session.ts';
import { balancePlan, claimInWaves, FreeFor, preferenceOrder } from './ownership-share.ts';

export type { BaseLease, BaseWork, OwnershipMessage } from '../src/bookkeeping/ownership.ts';

/**
 * Who works on which base (docs/ownership.md). `start` processes share the bases fairly and hand
 * them over at quiet moments; a `once` process (sync --once, tests) claims free bases as it needs
 * them and lets them go when its work on them ends (or, after `start()`, when it stops).
 */
export interface BaseOwnership extends BaseWork {
  readonly processId: string;
  readonly role: 'start' | 'once';
  /** `start`: join and begin balancing. `once`: claim every free base now, held until stop. */
  start(): Promise<void>;
  /** Stops the work's leases, gives every base up at once, and leaves. */
  stop(): Promise<void>;
  /** Takes the base now if it is free (what `enter` does for a `once` process). */
  claim(sourceId: string): Promise<boolean>;
  /** Bases held now. */
  owned(): string[];
  announce(msg: OwnershipMessage): Promise<void>;
  /** Messages from other processes (and this one). */
  onMessage(fn: (msg: OwnershipMessage) => void): void;
  /** Called after a base was taken (and recovered): its work may start. */
  onAcquired(fn: (sourceId: string) => void): void;
}

export interface OwnershipOptions {
  db: Database;
  log: Logger;
  role: 'start' | 'once';
  /** Default: a random id; host and pid default to this process's. */
  processId?: string;
  host?: string;
  pid?: number;
  now?: () => number;
  /** Heartbeat and balance every this often (default 2 s). */
  tickMs?: number;
  /** The server ends a silent ownership session after this (default 20 s). */
  idleTimeoutMs?: number;
  /** We give up this much earlier (default 5 s). */
  marginMs?: number;
}

interface Claim {
  sourceId: string;
  key: number;
  epoch: number;
  db: Database;
  ac: AbortController;
  inflight: number;
  releasing: boolean;
  /** Held until stop (a `once` process's start()), not let go when idle. */
  pinned: boolean;
  /** When the hold was lost (the session gone) while work still held leases. */
  lostAt?: number;
}
/** How long a base lost with the session waits for its own runs to record their end. */
const DRAIN_MS = 10_000;

export function createBaseOwnership(opts: OwnershipOptions): BaseOwnership {
  return new OwnershipManager(opts);
}

class OwnershipManager implements BaseOwnership {
  readonly processId: string;
  readonly role: 'start' | 'once';
  private readonly claims = new Map<string, Claim>();
  private readonly pending = new Map<string, Promise<boolean>>();
  /** Claims lost with the session whose work still holds leases (recording how it ended). */
  private readonly draining = new Set<Claim>();
  private readonly session: OwnershipSession;
  private readonly loop: BackgroundLoop;
  private readonly messageHandlers: ((m: OwnershipMessage) => void)[] = [];
  private readonly acquiredHandlers: ((sourceId: string) => void)[] = [];
  private stopping = false;
  private lastPrune = 0;
  private freeFor: FreeFor;

  constructor(private readonly opts: OwnershipOptions) {
    this.processId = opts.processId ?? randomUUID();
    this.role = opts.role;
    const now = opts.now ?? Date.now;
    this.session = new OwnershipSession({
      db: opts.db,
      identity: {
        id: this.processId,
        host: opts.host ?? hostname(),
        pid: opts.pid ?? process.pid,
        role: this.role,
      },
      log: opts.log,
      now,
      idleTimeoutMs: opts.idleTimeoutMs ?? 20_000,
      marginMs: opts.marginMs ?? 5_000,
      onLost: (why) => this.loseAll(`lost its hold on the base (${why})`),
      onNotify: (payload) => this.received(payload),
    });
    const tick = opts.tickMs ?? 2_000;
    this.freeFor = new FreeFor(3 * tick);
    this.loop = new BackgroundLoop({
      name: 'base ownership',
      intervalMs: tick,
      retryMs: Math.min(1_000, tick),
      maxRetryMs: 30_000,
      log: opts.log,
      pass: () => this.pass(tick),
    });
  }

  async start(): Promise<void> {
    this.stopping = false;
    if (this.role === 'start') {
      await this.session.connect();
      await this.announce({ kind: 'members' });
    } else {
      await ensureBaseOwners(this.opts.db);
      for (const sourceId of (await baseKeys(this.opts.db)).keys()) {
        if (await this.claim(sourceId)) this.claims.get(sourceId)!.pinned = true;
      }
    }
    this.loop.start();
  }

  async stop(): Promise<void> {
    this.stopping = true;
    await this.loop.stop();
    const { db, log } = this.opts;
    if (this.session.open && this.role === 'start')
      await markStopping(db, this.processId).catch(() => undefined);
    for (const c of this.claims.values()) {
      c.releasing = true;
      c.ac.abort(new Interruption('interrupted: the process stopped during the run'));
    }
    // The composer stopped the work first; whatever still holds a lease settles within moments.
    const deadline = Date.now() + 10_000;
    while ([...this.claims.values()].some((c) => c.inflight > 0) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 20));
    }
    for (const c of [...this.claims.values()]) await this.unlock(c);
    this.claims.clear();
    if (this.session.open) {
      await this.announce({ kind: 'members' }).catch(() => undefined);
      await removeProcess(this.session.q, this.processId).catch(() => undefined);
    }
    await this.session.close();
    log.debug({ process: this.processId }, 'ownership stopped');
  }

  owns(sourceId: string): boolean {
    const c = this.claims.get(sourceId);
    return c !== undefined && !c.releasing && !c.ac.signal.aborted;
  }

  owned(): string[] {
    return [...this.claims.keys()].filter((s) => this.owns(s));
  }

  async enter(sourceId: string): Promise<BaseLease | undefined> {
    if (this.stopping) return undefined;
    if (!this.claims.has(sourceId) && this.role === 'once') await this.claim(sourceId).catch(() => false);
    const c = this.claims.get(sourceId);
    if (!c || c.releasing || c.ac.signal.aborted) return undefined;
    c.inflight++;
    let done = false;
    return {
      sourceId,
      db: c.db,
      signal: c.ac.signal,
      release: () => {
        if (done) return;
        done = true;
        c.inflight--;
        if (c.inflight === 0) this.draining.delete(c);
        if (c.inflight === 0 && (c.releasing || (this.role === 'once' && !c.pinned))) void this.letGo(c);
      },
    };
  }

  claim(sourceId: string): Promise<boolean> {
    if (this.claims.has(sourceId)) return Promise.resolve(true);
    if (this.stopping) return Promise.resolve(false);
    let p = this.pending.get(sourceId);
    if (!p) {
      p = this.take(sourceId).finally(() => this.pending.delete(sourceId));
      this.pending.set(sourceId, p);
    }
    return p;
  }

  async announce(msg: OwnershipMessage): Promise<void> {
    await announce(this.opts.db, JSON.stringify(msg));
  }

  onMessage(fn: (msg: OwnershipMessage) => void): void {
    this.messageHandlers.push(fn);
  }

  onAcquired(fn: (sourceId: string) => void): void {
    this.acquiredHandlers.push(fn);
  }

  /** Lock, new epoch, recovery: the base is ours. */
  private async take(sourceId: string): Promise<boolean> {
    const { db, log } = this.opts;
    if (!this.session.open) {
      if (this.role === 'start') return false; // the loop reconnects and balances
      await this.session.connect();
      this.loop.start();
    }
    // Our runs of the base stopped when the session was lost (a Postgres restart) record their
    // end — with their reason — before a new epoch fences them (bounded: DRAIN_MS). A `start`
    // process tries at a later pass (another may take it: FreeFor), a `once` process waits.
    while (!this.drained(sourceId)) {
      if (this.role === 'start') return false;
      await new Promise((r) => setTimeout(r, 100));
    }
    const key = await baseKey(db, sourceId);
    if (key === undefined) return false;
    if (!(await tryLockBase(this.session.q, key))) return false;
    const backendPid = this.session.backendPid;
    const claim: Claim = {
      sourceId,
      key,
      epoch: 0,
      db: db,
      ac: new AbortController(),
      inflight: 0,
      releasing: false,
      pinned: false,
    };
    try {
      const epoch = await takeBase(db, { sourceId, key, processId: this.processId, backendPid });
      if (epoch === undefined || this.session.backendPid !== backendPid || !this.session.open) {
        await this.unlock(claim);
        return false;
      }
      claim.epoch = epoch;
      claim.db = guardedDatabase(db, ownerGuard(key, epoch), () => this.fenced(claim));
      await recoverBase(claim.db, sourceId, log);
    } catch (err) {
      await this.unlock(claim);
      throw err;
    }
    if (this.stopping || !this.session.open || this.session.backendPid !== backendPid) {
      await this.unlock(claim);
      return false;
    }
    this.claims.set(sourceId, claim);
    log.info({ source: sourceId, epoch: claim.epoch, process: this.processId }, 'took the base');
    for (const h of this.acquiredHandlers) {
      try {
        h(sourceId);
      } catch (err) {
        log.warn({ err: oneLine(err) }, 'onAcquired handler failed');
      }
    }
    return true;
  }

  /** Hands a base over once no work on it is in flight (a quiet moment, never mid-run). */
  private async letGo(c: Claim): Promise<void> {
    if (this.claims.get(c.sourceId) !== c) return;
    c.releasing = true;
    if (c.inflight > 0) return; // the last lease to end calls this again
    this.claims.delete(c.sourceId);
    c.ac.abort(new Interruption('interrupted: the base was handed over'));
    await this.unlock(c);
    this.opts.log.debug({ source: c.sourceId, process: this.processId }, 'let the base go');
  }

  private async unlock(c: Claim): Promise<void> {
    if (this.session.open) await unlockBase(this.session.q, c.key).catch(() => undefined);
  }

  /** A guarded statement found another owner: the base is not ours any more. */
  private fenced(c: Claim): void {
    if (this.claims.get(c.sourceId) !== c) return;
    this.claims.delete(c.sourceId);
    c.ac.abort(new Interruption('interrupted: another process took the base over'));
    void this.unlock(c);
    this.opts.log.warn({ source: c.sourceId }, 'another process took the base over; its work here stops');
  }

  /** No run of a lost hold on the base is still recording its end here (or DRAIN_MS passed). */
  private drained(sourceId: string): boolean {
    const now = Date.now();
    for (const c of this.draining) if (now - c.lostAt! >= DRAIN_MS || !c.inflight) this.draining.delete(c);
    return ![...this.draining].some((c) => c.sourceId === sourceId);
  }

  private loseAll(why: string): void {
    for (const c of this.claims.values()) {
      c.ac.abort(new Interruption(`interrupted: ${why}`));
      if (c.inflight > 0) this.draining.add(Object.assign(c, { lostAt: Date.now() }));
    }
    this.claims.clear();
    if (!this.stopping) this.loop.nudge();
  }

  private received(payload: string): void {
    let msg: OwnershipMessage;
    try {
      msg = JSON.parse(payload) as OwnershipMessage;
    } catch {
      return;
    }
    if (msg.kind === 'members' && this.role === 'start') this.loop.nudge();
    for (const h of this.messageHandlers) {
      try {
        h(msg);
      } catch (err) {
        this.opts.log.warn({ err: oneLine(err) }, 'ownership message handler failed');
      }
    }
  }

  private async pass(tick: number): Promise<number | undefined> {
    if (this.stopping) return tick;
    if (!this.session.open) {
      if (this.role === 'once') return tick; // opened again by the next claim
      await this.session.connect();
    }
    await this.session.beat();
    if (this.role === 'start') await this.balance();
    const now = Date.now();
    if (now - this.lastPrune > 60_000) {
      this.lastPrune = now;
      await pruneProcesses(this.opts.db, 3600).catch(() => undefined);
    }
    return tick;
  }

  /** Take free bases up to the fair share; hand surplus over to members below theirs. */
  private async balance(): Promise<void> {
    const { db } = this.opts;
    await ensureBaseOwners(db);
    const keys = await baseKeys(db);
    for (const c of [...this.claims.values()]) {
      if (!keys.has(c.sourceId)) {
        // The source was deleted: nothing of it is left to work on.
        this.claims.delete(c.sourceId);
        c.ac.abort(new Interruption('interrupted: the source was deleted'));
        await this.unlock(c);
      }
    }
    const members = (await liveMembers(db)).filter((m) => m.role === 'start' && !m.stopping);
    if (!members.some((m) => m.id === this.processId))
      members.push({ id: this.processId, role: 'start', stopping: false, bases: 0 });
    const mine = this.owned().length;
    const plan = balancePlan({ me: this.processId, members, bases: keys.size, mine });
    const free = await freeBases(db);
    const freeIds = free.map((f) => f.sourceId);
    const overdue = this.freeFor.overdue(freeIds, Date.now());
    const claim = (id: string) => this.claim(id).catch(() => false);
    const stopping = () => this.stopping;
    if (plan.take > 0) {
      const order = preferenceOrder(this.processId, free).map((f) => f.sourceId);
      await claimInWaves(order, plan.take, claim, stopping);
    } else if (overdue.length > 0) {
      // Free too long for whoever's share it is: taken here, handed over later.
      await claimInWaves(overdue, overdue.length, claim, stopping);
    } else if (plan.handOver > 0) {
      const idle = [...this.claims.values()].filter((c) => c.inflight === 0 && !c.releasing);
      const give = preferenceOrder(this.processId, idle).reverse().slice(0, plan.handOver);
      for (const c of give) await this.letGo(c);
      if (give.length > 0) await this.announce({ kind: 'members' });
    }
  }
}
