import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Queryable } from '../../src/db/database.ts';
import { sql } from '../../src/db/sql.ts';
import { createSecretBox } from '../../src/crypto/secrets.ts';
import type { SecretBox } from '../../src/crypto/secrets.ts';

/**
 * The outbox belongs to src/mirror (migration 002). While that migration may still be empty,
 * the tests create the table with exactly the agreed columns; once 002 has it, this is a no-op.
 */
export async function ensureOutbox(db: Queryable): Promise<void> {
  await db.query(
    sql(`CREATE TABLE IF NOT EXISTS airmirror.outbox (
      id bigserial PRIMARY KEY,
      source_id text,
      table_id text,
      mirror_schema text,
      mirror_table text,
      record_id text NOT NULL,
      op text NOT NULL,
      origin text NOT NULL,
      before jsonb,
      after jsonb,
      changed_columns text[],
      created_at timestamptz NOT NULL DEFAULT now()
    )`),
  );
}

export interface OutboxInput {
  record: string;
  op?: 'insert' | 'update' | 'delete';
  table?: string;
  tableId?: string;
  before?: Record<string, unknown> | null;
  after?: Record<string, unknown> | null;
  changed?: string[];
}

/** Writes outbox rows the way the mirror's write path does: one transaction, one NOTIFY. */
export async function writeOutbox(
  db: { tx<T>(fn: (c: Queryable) => Promise<T>): Promise<T> },
  rows: OutboxInput[],
): Promise<number[]> {
  return db.tx(async (tx) => {
    const ids: number[] = [];
    for (const r of rows) {
      const op = r.op ?? 'update';
      const res = await tx.query<{ id: number }>(
        sql(
          `INSERT INTO airmirror.outbox (source_id, table_id, mirror_schema, mirror_table, record_id, op, origin,
             before, after, changed_columns)
           VALUES ('src_1', $1, 'public', $2, $3, $4, 'proxy', $5, $6, $7) RETURNING id`,
          [
            r.tableId ?? 'tblAAAAAAAAAAAAAA',
            r.table ?? 'tasks',
            r.record,
            op,
            op === 'insert' ? null : JSON.stringify(r.before ?? { name: 'old' }),
            op === 'delete' ? null : JSON.stringify(r.after ?? { name: 'new' }),
            op === 'update' ? (r.changed ?? ['name']) : null,
          ],
        ),
      );
      ids.push(Number(res.rows[0].id));
    }
    await tx.query(sql("SELECT pg_notify('airmirror_outbox', '')"));
    return ids;
  });
}

/** The real secret box, with a test key. */
export const testSecrets: SecretBox = createSecretBox('test-key-0123456789abcdef');

export interface Received {
  headers: IncomingHttpHeaders;
  raw: string;
  body: { id: number; type: string; record_id: string; table: string; [k: string]: unknown };
}

/** A local HTTP receiver; `respond` decides each answer's status (default 200). */
export class Receiver {
  readonly received: Received[] = [];
  respond: (body: Received['body']) => number | Promise<number> = () => 200;
  private server: Server | undefined;
  url = '';

  async start(): Promise<this> {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', async () => {
        const raw = Buffer.concat(chunks).toString('utf8');
        const body = JSON.parse(raw) as Received['body'];
        const status = await this.respond(body);
        if (status >= 200 && status < 300) this.received.push({ headers: req.headers, raw, body });
        res.statusCode = status;
        res.end();
      });
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/hook`;
    return this;
  }

  async stop(): Promise<void> {
    await new Promise<void>((resolve) => this.server?.close(() => resolve()));
  }

  /** Event ids accepted for one record, in arrival order. */
  idsFor(record: string): number[] {
    return this.received.filter((r) => r.body.record_id === record).map((r) => r.body.id);
  }
}
