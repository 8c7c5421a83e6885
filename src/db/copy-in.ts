import type pg from 'pg';

/** The parts of pg's (untyped) Connection that a COPY … FROM STDIN uses. */
interface CopyConnection {
  query(text: string): void;
  sendCopyFromChunk(chunk: Uint8Array): void;
  endCopyFrom(): void;
}

/**
 * `COPY … FROM STDIN` as a pg query object: pg hands the connection to it when the server asks for
 * the data (CopyInResponse), and it sends `data` as it is — already in COPY text format — then
 * CopyDone. Settles with the row count of the server's `COPY n` once the server is ready again,
 * or with the server's error (the whole COPY is then undone, like any failed statement).
 *
 * pg's pipeline mode refuses query objects of its own kind, so this runs on a connection without
 * pipelining (Database.copyFrom keeps a small pool of them).
 */
export class CopyInQuery implements pg.Submittable {
  readonly done: Promise<number>;
  private rows = 0;
  private resolve!: (rows: number) => void;
  private reject!: (err: unknown) => void;

  constructor(
    private readonly text: string,
    private readonly data: readonly Uint8Array[],
  ) {
    this.done = new Promise<number>((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
    });
  }

  submit(connection: pg.Connection): void {
    (connection as unknown as CopyConnection).query(this.text);
  }

  handleCopyInResponse(connection: pg.Connection): void {
    const c = connection as unknown as CopyConnection;
    // pg copies each chunk with Buffer#copy: a plain Uint8Array (one transferred from a worker) is
    // viewed as a Buffer, without copying its bytes.
    for (const chunk of this.data)
      c.sendCopyFromChunk(
        Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength),
      );
    c.endCopyFrom();
  }

  handleCommandComplete(msg: { text?: string }): void {
    const m = /^COPY (\d+)$/.exec(msg.text ?? '');
    if (m) this.rows = Number(m[1]);
  }

  handleReadyForQuery(): void {
    this.resolve(this.rows);
  }

  /** The server's error (ReadyForQuery then goes to no query), or the connection's. */
  handleError(err: unknown): void {
    this.reject(err);
  }

  // A COPY FROM answers with none of these; pg calls them on whatever query is active.
  handleRowDescription(): void {}
  handleDataRow(): void {}
  handlePortalSuspended(): void {}
  handleEmptyQuery(): void {}
  handleCopyData(): void {}
}
