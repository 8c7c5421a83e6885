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
import { FrameReader, T } from './protocol.ts';

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

/** The client's expectations carry no state: one shared object per kind. */
const CLIENT = Object.fromEntries(
  (['query', 'sync', 'parse', 'bind', 'describeS', 'describeP', 'execute', 'close'] as const).map((kind) => [
    kind,
    Object.freeze({ kind, owner: 'client' as const }),
  ]),
) as Record<Kind, Expect>;

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

export class SessionClosed extends Error {
  constructor() {
    super('the session closed');
    this.name = 'SessionClosed';
  }
}

export interface RelayHooks {
  /**
   * A client message (`data.subarray(start, end)`); return true when the relay should not forward
   * it (the hook took it). Views are made only by hooks that look: this runs for every message.
   */
  onClientFrame(type: number, data: Buffer, start: number, end: number): boolean;
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
  // The runs of messages that pass through, as a range of the chunk they came in (no object per
  // message or chunk on the hot path): written out in one piece when something else comes.
  private outData: Buffer | undefined;
  private outStart = 0;
  private outEnd = 0;
  private upData: Buffer | undefined;
  private upStart = 0;
  private upEnd = 0;
  hooks!: RelayHooks;
  /** Ask the hooks about every frame bound for the client (beforeClientFrame); off on the hot path. */
  watch = false;

  constructor(
    readonly client: Duplex,
    readonly upstream: Duplex,
  ) {}

  start(hooks: RelayHooks, clientLeftover: Buffer, upstreamLeftover: Buffer): void {
    this.hooks = hooks;
    const toClient = () => this.flushToClient();
    const toUpstream = () => this.flushToUpstream();
    const onUp = (chunk: Buffer) => this.fromUpstream.push(chunk, this.onUpstreamFrame, toClient);
    const onClient = (chunk: Buffer) => this.fromClient.push(chunk, this.onClientFrame, toUpstream);
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
    const extra = this.watch ? this.hooks.beforeClientFrame?.(type, data, start, end) : undefined;
    if (extra) {
      this.flushToClient();
      this.writeClient(extra);
    }
    if (this.outData === data && this.outEnd === start) this.outEnd = end;
    else {
      this.flushToClient();
      this.outData = data;
      this.outStart = start;
      this.outEnd = end;
    }
  };

  /** Postgres skips everything after an extended-protocol error up to the next Sync. */
  private skipUntilSync(): void {
    while (this.expects.length > 0 && this.expects[0].kind !== 'sync' && this.expects[0].kind !== 'query') {
      this.expects.shift()!.onDone?.(true);
    }
  }

  private flushToClient(): void {
    const data = this.outData;
    if (!data) return;
    this.outData = undefined;
    this.writeClient(
      this.outStart === 0 && this.outEnd === data.length ? data : data.subarray(this.outStart, this.outEnd),
    );
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
    if (this.hooks.onClientFrame(type, data, start, end)) {
      this.flushToUpstream();
      return;
    }
    this.expectFor(type, data[start + 5]);
    if (this.upData === data && this.upEnd === start) this.upEnd = end;
    else {
      this.flushToUpstream();
      this.upData = data;
      this.upStart = start;
      this.upEnd = end;
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
    if (kind) this.expects.push(CLIENT[kind]);
  }

  flushToUpstream(): void {
    const data = this.upData;
    if (!data) return;
    this.upData = undefined;
    this.writeUpstream(
      this.upStart === 0 && this.upEnd === data.length ? data : data.subarray(this.upStart, this.upEnd),
    );
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
