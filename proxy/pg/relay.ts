/**
 * The byte relay between a client and its session on Postgres, and the one way the endpoint
 * speaks on that session itself. Both directions are split only at message boundaries; runs of
 * messages that pass through are written out as the slices of the chunks they came in.
 *
 * Postgres answers messages in order, so the relay keeps a queue of expected answers, one per
 * message sent upstream that has one (Query → up to ReadyForQuery, Parse → ParseComplete …).
 * Each belongs to the client (relayed), to the endpoint (consumed) or is a `relay` one (relayed,
 * but its ReadyForQuery is the endpoint's). After an error in the extended protocol Postgres
 * skips every message up to Sync: their expectations are dropped as skipped.
 */
import type { Duplex } from 'node:stream';
import { bindMessage, FrameReader, serialize, T } from './protocol.ts';

export type Kind = 'query' | 'sync' | 'parse' | 'bind' | 'describeS' | 'describeP' | 'execute' | 'close';
export type Owner = 'client' | 'ours' | 'relay';

export interface Expect {
  kind: Kind;
  owner: Owner;
  /** Frames of the answer the endpoint sees (ours: all; relay: all too, though relayed). */
  onFrame?: (type: number, frame: Buffer) => void;
  onDone?: (skipped: boolean) => void;
}

const EXTENDED = new Set<Kind>(['parse', 'bind', 'describeS', 'describeP', 'execute', 'close']);

function completes(kind: Kind, type: number): boolean {
  switch (kind) {
    case 'query':
    case 'sync':
      return type === T.ready;
    case 'parse':
      return type === T.parseComplete || type === T.error;
    case 'bind':
      return type === T.bindComplete || type === T.error;
    case 'describeS':
    case 'describeP':
      return type === T.rowDescription || type === T.noData || type === T.error;
    case 'execute':
      return (
        type === T.commandComplete || type === T.emptyQuery || type === T.portalSuspended || type === T.error
      );
    case 'close':
      return type === T.closeComplete || type === T.error;
  }
}

/** One statement the endpoint runs on the client's session (extended protocol, named, closed after). */
export interface Step {
  text: string;
  paramTypes: number[];
  params: (Buffer | null)[];
  paramFormats: number[];
  resultFormats: number[];
  /** Also fetch the RowDescription (Describe portal). */
  describe?: boolean;
}

export interface StepResult {
  description?: Buffer;
  rows: Buffer[];
  tag?: string;
  /** Postgres' ErrorResponse frame, when this step failed. */
  error?: Buffer;
  /** Postgres skipped it (an earlier message of the batch failed). */
  skipped: boolean;
}

export class SessionClosed extends Error {
  constructor() {
    super('the session closed');
    this.name = 'SessionClosed';
  }
}

export interface RelayHooks {
  /** A client message; return true when the relay should not forward it (the hook took it). */
  onClientFrame(type: number, frame: Buffer): boolean;
  /** A frame about to reach the client: may return extra frames to send before it. */
  beforeClientFrame?(type: number, data: Buffer, start: number, end: number): Buffer | undefined;
  onClose(): void;
}

export class Relay {
  readonly expects: Expect[] = [];
  /** Transaction status of the last ReadyForQuery: 'I', 'T' or 'E' (char code). */
  status = 0x49;
  closed = false;
  private readonly fromClient = new FrameReader();
  private readonly fromUpstream = new FrameReader();
  private out: { data: Buffer; start: number; end: number } | undefined;
  private up: { data: Buffer; start: number; end: number } | undefined;
  private seq = 0;
  /** Statements of ours whose Close was skipped: closed first thing next time. */
  private readonly leftovers = new Set<string>();
  /** When true, client frames are held (the hooks drain them later). */
  hooks!: RelayHooks;

  constructor(
    readonly client: Duplex,
    readonly upstream: Duplex,
  ) {}

  start(hooks: RelayHooks, clientLeftover: Buffer, upstreamLeftover: Buffer): void {
    this.hooks = hooks;
    const onUp = (chunk: Buffer) =>
      this.fromUpstream.push(chunk, this.onUpstreamFrame, () => this.flushToClient());
    const onClient = (chunk: Buffer) =>
      this.fromClient.push(chunk, this.onClientFrame, () => this.flushToUpstream());
    this.upstream.on('data', onUp);
    this.client.on('data', onClient);
    const close = () => this.close();
    for (const s of [this.client, this.upstream]) {
      s.on('error', close);
      s.on('close', close);
      s.on('end', close);
    }
    if (upstreamLeftover.length > 0) onUp(upstreamLeftover);
    if (clientLeftover.length > 0) onClient(clientLeftover);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.client.destroy();
    this.upstream.destroy();
    const pending = this.expects.splice(0);
    for (const e of pending) e.onDone?.(true);
    this.hooks.onClose();
  }

  // ---- upstream → client ------------------------------------------------------------------------

  private readonly onUpstreamFrame = (type: number, data: Buffer, start: number, end: number): void => {
    let toClient = true;
    if (type !== T.notice && type !== T.notification && type !== T.parameterStatus) {
      if (type === T.ready) this.status = data[start + 5];
      const head = this.expects[0];
      if (head) {
        toClient = head.owner === 'client' || (head.owner === 'relay' && type !== T.ready);
        if (head.owner !== 'client') head.onFrame?.(type, data.subarray(start, end));
        if (completes(head.kind, type)) {
          this.expects.shift();
          if (type === T.error && EXTENDED.has(head.kind)) this.skipUntilSync();
          head.onDone?.(false);
        }
      }
    }
    if (!toClient) {
      this.flushToClient();
      return;
    }
    const extra = this.hooks.beforeClientFrame?.(type, data, start, end);
    if (extra) {
      this.flushToClient();
      this.writeClient(extra);
    }
    if (this.out && this.out.data === data && this.out.end === start) this.out.end = end;
    else {
      this.flushToClient();
      this.out = { data, start, end };
    }
  };

  /** Postgres skips everything after an extended-protocol error up to the next Sync. */
  private skipUntilSync(): void {
    while (this.expects.length > 0 && this.expects[0].kind !== 'sync' && this.expects[0].kind !== 'query') {
      this.expects.shift()!.onDone?.(true);
    }
  }

  private flushToClient(): void {
    const o = this.out;
    if (!o) return;
    this.out = undefined;
    this.writeClient(o.data.subarray(o.start, o.end));
  }

  /** Writes to the client; while the client does not keep up, Postgres' answers wait. */
  writeClient(buf: Buffer): void {
    if (this.closed) return;
    if (!this.client.write(buf) && !this.upstream.isPaused()) {
      this.upstream.pause();
      this.client.once('drain', () => this.upstream.resume());
    }
  }

  // ---- client → upstream ------------------------------------------------------------------------

  private readonly onClientFrame = (type: number, data: Buffer, start: number, end: number): void => {
    if (this.closed) return;
    if (this.hooks.onClientFrame(type, data.subarray(start, end))) {
      this.flushToUpstream();
      return;
    }
    this.expectFor(type, data[start + 5]);
    if (this.up && this.up.data === data && this.up.end === start) this.up.end = end;
    else {
      this.flushToUpstream();
      this.up = { data, start, end };
    }
  };

  /** Forwards a client message the hooks held back or looked at (in order, after any pending). */
  forward(type: number, frame: Buffer): void {
    this.flushToUpstream();
    this.expectFor(type, frame[5]);
    this.writeUpstream(frame);
  }

  /** The expectation of a client message that Postgres answers (`sub`: Describe's S or P). */
  private expectFor(type: number, sub: number): void {
    const kind = type === T.describe ? (sub === 0x53 ? 'describeS' : 'describeP') : clientKind(type);
    if (kind) this.expects.push({ kind, owner: 'client' });
  }

  flushToUpstream(): void {
    const u = this.up;
    if (!u) return;
    this.up = undefined;
    this.writeUpstream(u.data.subarray(u.start, u.end));
  }

  writeUpstream(buf: Buffer): void {
    if (this.closed) return;
    if (!this.upstream.write(buf) && !this.client.isPaused()) {
      this.client.pause();
      this.upstream.once('drain', () => this.client.resume());
    }
  }

  // ---- the endpoint's own statements ----------------------------------------------------------

  /** Sends `messages` with their expectations, in order, after whatever the client sent before. */
  send(messages: Array<{ buf: Buffer; expect?: Expect }>): void {
    if (this.closed) throw new SessionClosed();
    this.flushToUpstream();
    for (const m of messages) if (m.expect) this.expects.push(m.expect);
    this.writeUpstream(messages.length === 1 ? messages[0].buf : Buffer.concat(messages.map((m) => m.buf)));
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
      const name = `airmirror_${++this.seq}`;
      const fail = (type: number, frame: Buffer) => {
        if (type === T.error) r.error = frame;
      };
      const skip = (skipped: boolean) => {
        if (skipped && !r.error) r.skipped = true;
      };
      messages.push({
        buf: serialize.parse({ name, text: s.text, types: s.paramTypes }),
        expect: ours('parse', fail, (skipped) => {
          skip(skipped);
          if (!skipped && !r.error) this.leftovers.add(name);
        }),
      });
      messages.push({
        buf: bindMessage({
          portal: name,
          statement: name,
          paramFormats: s.paramFormats,
          params: s.params,
          resultFormats: s.resultFormats,
        }),
        expect: ours('bind', fail, skip),
      });
      if (s.describe) {
        messages.push({
          buf: serialize.describe({ type: 'P', name }),
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
        buf: serialize.execute({ portal: name, rows: 0 }),
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
      messages.push({
        buf: serialize.close({ type: 'S', name }),
        expect: ours('close', undefined, (skipped) => {
          if (!skipped) this.leftovers.delete(name);
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

  nextName(): string {
    return `airmirror_${++this.seq}`;
  }
}

function readTypes(frame: Buffer): number[] {
  const n = frame.readInt16BE(5);
  const out: number[] = [];
  for (let i = 0; i < n; i++) out.push(frame.readUInt32BE(7 + 4 * i));
  return out;
}

/** What a frontend message's answer looks like (undefined: it has none). */
function clientKind(type: number): Kind | undefined {
  switch (type) {
    case T.query:
    case T.functionCall:
      return 'query';
    case T.sync:
      return 'sync';
    case T.parse:
      return 'parse';
    case T.bind:
      return 'bind';
    case T.execute:
      return 'execute';
    case T.close:
      return 'close';
    default:
      return undefined;
  }
}
