/**
 * The endpoint's own statements on a client's session (proxy/pg/relay.ts carries them): named,
 * extended-protocol statements closed after use, ending with Flush inside a client's batch or
 * Sync where the client waits for a whole answer; a deliberate failure that leaves the session as
 * an error would; a simple Query relayed to the client; a Describe for parameter types.
 */
import { bindMessage, serialize, T } from './protocol.ts';
import { SessionClosed, type Expect, type Kind, type Relay } from './relay.ts';

/** One statement the endpoint runs on the client's session (extended protocol, named, closed after). */
export interface Step {
  text: string;
  paramTypes: number[];
  params: (Buffer | null)[];
  paramFormats: number[];
  resultFormats: number[];
  /** Also fetch the RowDescription (Describe portal). */
  describe?: boolean;
  /**
   * Keep it prepared on the session (by text and parameter types) for the next run: the endpoint
   * runs the same few statements for every execution of a client's prepared write, and Postgres
   * then neither parses nor re-plans them. Privileges are still checked at every execution.
   */
  keep?: boolean;
}

/** Statements kept prepared per session; the oldest is closed beyond this. */
const KEPT = 32;

export interface StepResult {
  description?: Buffer;
  rows: Buffer[];
  tag?: string;
  /** Postgres' ErrorResponse frame, when this step failed. */
  error?: Buffer;
  /** Postgres skipped it (an earlier message of the batch failed). */
  skipped: boolean;
}

export class OwnStatements {
  private seq = 0;
  /** Statements of ours whose Close was skipped (or that were evicted): closed first thing next time. */
  private readonly leftovers = new Set<string>();
  /** Kept statements: `types\0text` → name, oldest first. */
  private readonly kept = new Map<string, string>();

  constructor(private readonly relay: Relay) {}

  private get closed(): boolean {
    return this.relay.closed;
  }

  private send(messages: Array<{ buf: Buffer; expect?: Expect }>): void {
    this.relay.send(messages);
  }

  /** The client may have dropped every prepared statement (DISCARD ALL, DEALLOCATE ALL). */
  forgetKept(): void {
    for (const name of this.kept.values()) this.leftovers.add(name);
    this.kept.clear();
  }

  private keep(key: string, name: string): void {
    this.kept.set(key, name);
    if (this.kept.size > KEPT) {
      const [oldestKey, oldest] = this.kept.entries().next().value!;
      this.kept.delete(oldestKey);
      this.leftovers.add(oldest);
    }
  }

  /**
   * Runs `steps` on the session as the endpoint's own statements, ending with Flush (inside the
   * client's extended-protocol batch) or Sync (where the client is waiting for a whole answer).
   * Resolves once Postgres answered all of it (each step's rows, tag, error, or skipped).
   */
  run(steps: Step[], end: 'flush' | 'sync'): Promise<StepResult[]> {
    if (this.closed) return Promise.reject(new SessionClosed());
    const results: StepResult[] = steps.map(() => ({ rows: [], skipped: false }));
    const messages: Array<{ buf: Buffer; expect?: Expect }> = [];
    const ours = (kind: Kind, onFrame?: Expect['onFrame'], onDone?: Expect['onDone']): Expect => ({
      kind,
      owner: 'ours',
      onFrame,
      onDone,
    });
    for (const name of this.leftovers) {
      messages.push({
        buf: serialize.close({ type: 'S', name }),
        expect: ours('close', undefined, (skipped) => {
          if (!skipped) this.leftovers.delete(name);
        }),
      });
    }
    steps.forEach((s, i) => {
      const r = results[i];
      const key = s.keep ? `${s.paramTypes.join(',')}\0${s.text}` : undefined;
      const known = key === undefined ? undefined : this.kept.get(key);
      const name = known ?? `airmirror_${++this.seq}`;
      const portal = known === undefined && key === undefined ? name : `airmirror_p${++this.seq}`;
      const fail = (type: number, frame: Buffer) => {
        if (type === T.error) r.error = frame;
      };
      const skip = (skipped: boolean) => {
        if (skipped && !r.error) r.skipped = true;
      };
      if (known === undefined) {
        messages.push({
          buf: serialize.parse({ name, text: s.text, types: s.paramTypes }),
          expect: ours('parse', fail, (skipped) => {
            skip(skipped);
            if (skipped || r.error) return;
            if (key === undefined) this.leftovers.add(name);
            else this.keep(key, name);
          }),
        });
      } else {
        // Least recently used goes first: this one is fresh again.
        this.kept.delete(key!);
        this.kept.set(key!, known);
      }
      messages.push({
        buf: bindMessage({
          portal,
          statement: name,
          paramFormats: s.paramFormats,
          params: s.params,
          resultFormats: s.resultFormats,
        }),
        expect: ours('bind', fail, skip),
      });
      if (s.describe) {
        messages.push({
          buf: serialize.describe({ type: 'P', name: portal }),
          expect: ours(
            'describeP',
            (type, frame) => {
              if (type === T.rowDescription) r.description = frame;
              fail(type, frame);
            },
            skip,
          ),
        });
      }
      messages.push({
        buf: serialize.execute({ portal, rows: 0 }),
        expect: ours(
          'execute',
          (type, frame) => {
            if (type === T.dataRow) r.rows.push(Buffer.from(frame));
            else if (type === T.commandComplete) r.tag = frame.toString('utf8', 5, frame.length - 1);
            fail(type, frame);
          },
          skip,
        ),
      });
      // A kept statement stays; its portal goes (an unclosed one would last to the end of the
      // transaction). Closing a statement closes its portal too.
      const closing = key === undefined ? { type: 'S' as const, name } : { type: 'P' as const, name: portal };
      messages.push({
        buf: serialize.close(closing),
        expect: ours('close', undefined, (skipped) => {
          if (!skipped && key === undefined) this.leftovers.delete(name);
        }),
      });
    });
    return new Promise((resolve, reject) => {
      const done = (skipped: boolean) => {
        if (this.closed && skipped) reject(new SessionClosed());
        else resolve(results);
      };
      if (end === 'sync') messages.push({ buf: serialize.sync(), expect: ours('sync', undefined, done) });
      else {
        // The last expectation of the run says when it is over (answered or skipped).
        const last = messages[messages.length - 1].expect!;
        const prev = last.onDone;
        last.onDone = (skipped) => {
          prev?.(skipped);
          done(skipped && this.closed);
        };
        messages.push({ buf: serialize.flush() });
      }
      this.send(messages);
    });
  }

  /**
   * Puts the session into the state an error leaves it in (the extended protocol skipping to
   * Sync; an explicit transaction aborted), for an error the endpoint raises itself: a Parse that
   * cannot succeed, its own error swallowed.
   */
  fail(end: 'flush' | 'sync'): Promise<void> {
    return new Promise((resolve, reject) => {
      const done = (skipped: boolean) => (this.closed && skipped ? reject(new SessionClosed()) : resolve());
      const parse: Expect = { kind: 'parse', owner: 'ours', onDone: end === 'flush' ? done : undefined };
      const messages: Array<{ buf: Buffer; expect?: Expect }> = [
        { buf: serialize.parse({ name: 'airmirror_failed', text: 'airmirror failed' }), expect: parse },
      ];
      if (end === 'sync') {
        messages.push({ buf: serialize.sync(), expect: { kind: 'sync', owner: 'ours', onDone: done } });
      } else messages.push({ buf: serialize.flush() });
      this.send(messages);
    });
  }

  /** Runs `text` as a simple Query whose answer goes to the client, except its ReadyForQuery. */
  relayQuery(text: string): Promise<{ failed: boolean }> {
    return new Promise((resolve, reject) => {
      let failed = false;
      this.send([
        {
          buf: serialize.query(text),
          expect: {
            kind: 'query',
            owner: 'relay',
            onFrame: (type) => {
              if (type === T.error) failed = true;
            },
            onDone: (skipped) => (skipped && this.closed ? reject(new SessionClosed()) : resolve({ failed })),
          },
        },
      ]);
    });
  }

  /** Describe of a statement as ours (its parameter types), answered whenever Postgres flushes. */
  describeStatement(name: string): Promise<number[] | undefined> {
    return new Promise((resolve) => {
      let types: number[] | undefined;
      this.send([
        {
          buf: serialize.describe({ type: 'S', name }),
          expect: {
            kind: 'describeS',
            owner: 'ours',
            onFrame: (type, frame) => {
              if (type === T.parameterDescription) types = readTypes(frame);
            },
            onDone: () => resolve(types),
          },
        },
        { buf: serialize.flush() },
      ]);
    });
  }
}

function readTypes(frame: Buffer): number[] {
  const n = frame.readInt16BE(5);
  const out: number[] = [];
  for (let i = 0; i < n; i++) out.push(frame.readUInt32BE(7 + 4 * i));
  return out;
}
