import type { Duplex } from 'node:stream';

/**
 * Reads whole packets from a socket during connection start-up (before the relay takes over):
 * untyped start-up packets, typed messages, single bytes (the SSL answer). `release()` hands back
 * whatever arrived beyond what was read, for the relay to start with.
 */
export class SocketReader {
  private buf: Buffer = Buffer.alloc(0);
  private waiter: (() => void) | undefined;
  private failure: Error | undefined;
  private readonly onData = (d: Buffer) => {
    this.buf = this.buf.length === 0 ? d : Buffer.concat([this.buf, d]);
    this.wake();
  };
  private readonly onEnd = () => this.fail(new Error('the connection closed during start-up'));
  private readonly onError = (err: Error) => this.fail(err);

  constructor(private readonly socket: Duplex) {
    socket.on('data', this.onData);
    socket.on('end', this.onEnd);
    socket.on('close', this.onEnd);
    socket.on('error', this.onError);
  }

  private fail(err: Error): void {
    this.failure ??= err;
    this.wake();
  }

  private wake(): void {
    const w = this.waiter;
    this.waiter = undefined;
    w?.();
  }

  private async atLeast(n: number): Promise<void> {
    while (this.buf.length < n) {
      if (this.failure) throw this.failure;
      await new Promise<void>((resolve) => (this.waiter = resolve));
    }
  }

  private take(n: number): Buffer {
    const out = this.buf.subarray(0, n);
    this.buf = this.buf.subarray(n);
    return out;
  }

  async byte(): Promise<number> {
    await this.atLeast(1);
    return this.take(1)[0];
  }

  /** A start-up packet: int32 length (itself included), then the body. */
  async untyped(maxBytes = 10_000): Promise<Buffer> {
    await this.atLeast(4);
    const len = this.buf.readInt32BE(0);
    if (len < 8 || len > maxBytes) throw new Error(`invalid start-up packet length ${len}`);
    await this.atLeast(len);
    return this.take(len);
  }

  /** A typed message: type byte, int32 length, body. */
  async typed(maxBytes = 1_000_000): Promise<Buffer> {
    await this.atLeast(5);
    const len = this.buf.readInt32BE(1);
    if (len < 4 || len > maxBytes) throw new Error(`invalid message length ${len}`);
    await this.atLeast(1 + len);
    return this.take(1 + len);
  }

  /** Stops reading; returns the bytes received but not read. */
  release(): Buffer {
    this.socket.off('data', this.onData);
    this.socket.off('end', this.onEnd);
    this.socket.off('close', this.onEnd);
    this.socket.off('error', this.onError);
    const rest = this.buf;
    this.buf = Buffer.alloc(0);
    return rest;
  }
}
