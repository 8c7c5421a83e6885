/**
 * One client's session: the relay (proxy/pg/relay.ts) plus the few messages the endpoint looks
 * at. Query and Parse texts that may hold an INSERT, UPDATE or DELETE are parsed; one whose table
 * resolves to a mirror table is answered by the endpoint (proxy/pg/write.ts) at the point the
 * client runs it — a simple Query, or the Execute of a portal bound to such a prepared statement.
 * Everything else passes through untouched, and while the endpoint answers a write, the client's
 * next messages wait their turn (COPY data excepted).
 */
import type { Logger } from '../../src/log.ts';
import {
  bindExecute,
  classify,
  mayMatter,
  mayWrite,
  type DmlStatement,
  type PrepareStatement,
  type Statement,
} from './classify.ts';
import type { MirrorCatalog, MirrorTarget } from './catalog.ts';
import { PgError, SQLSTATE, warning } from './errors.ts';
import {
  commandComplete,
  parseText,
  portalSuspended,
  readBind,
  readCommandTag,
  readExecute,
  readParse,
  readQuery,
  readTarget,
  readyForQuery,
  T,
} from './protocol.ts';
import { SessionClosed, type Relay } from './relay.ts';
import { OwnStatements } from './statements.ts';
import { planWrite } from './store.ts';
import { Targets } from './targets.ts';
import { executeWrite, type BoundParams, type WriteDeps, type WriteOutcome } from './write.ts';

export interface SessionOptions {
  relay: Relay;
  /** undefined: the client's database is not airmirror's — a plain relay. */
  catalog?: MirrorCatalog;
  deps: WriteDeps;
  log?: Pick<Logger, 'warn' | 'error' | 'debug'>;
  onClose(): void;
}

interface PreparedWrite {
  stmt: DmlStatement;
  /** Parameter types as Postgres inferred them (Describe), when the client did not give them all. */
  types: Promise<number[] | undefined> | number[];
}

interface BoundWrite {
  prepared: PreparedWrite;
  bind: BoundParams;
  resultFormats: number[];
  /** Rows of an Execute that returned only `maxRows` (PortalSuspended), for the next Execute. */
  rest?: { rows: Buffer[]; tag: string };
}

/** Statements that may change what an unqualified table name resolves to. */
const NAME_CHANGES =
  /search_path|\b(?:temp|temporary|create|drop|alter|discard|reset|role|session_authorization)\b/i;
/** Statements that may drop the endpoint's prepared statements on the session. */
const DROPS_PREPARED = /\b(?:discard|deallocate)\b/i;
const COPY_FRAMES = new Set<number>([T.copyData, T.copyDone, T.copyFail]);

export class Session {
  private readonly relay: Relay;
  private readonly own: OwnStatements;
  private readonly targets: Targets;
  private busy = false;
  private readonly queue: Array<{ type: number; frame: Buffer }> = [];
  private readonly prepared = new Map<string, PreparedWrite>();
  private readonly portals = new Map<string, BoundWrite>();
  /** SQL-level prepared writes (PREPARE … AS INSERT/UPDATE/DELETE), by name. */
  private readonly sqlPrepared = new Map<string, PrepareStatement>();
  private writesInTx = 0;
  private cancelRequested = false;

  constructor(private readonly opts: SessionOptions) {
    this.relay = opts.relay;
    this.own = new OwnStatements(opts.relay);
    this.targets = new Targets(opts.catalog, this.own, opts.relay);
  }

  /** A CancelRequest for this session arrived: stop between Airtable batches. */
  cancel(): void {
    this.cancelRequested = true;
  }

  // ---- RelayHooks ---------------------------------------------------------------------------

  onClientFrame(type: number, data: Buffer, start: number, end: number): boolean {
    if (this.busy) {
      if (COPY_FRAMES.has(type)) return false;
      this.queue.push({ type, frame: Buffer.from(data.subarray(start, end)) });
      return true;
    }
    if (!this.opts.catalog) return false;
    switch (type) {
      case T.query: {
        // Most queries hold none of the words that matter: one test on the text, no view made.
        const text = data.toString('utf8', start + 5, end - 1);
        if (!mayMatter(text)) return false;
        return this.dispatch(type, data.subarray(start, end), text);
      }
      case T.bind:
      case T.execute:
      case T.close:
        if (this.prepared.size === 0 && this.portals.size === 0) return false;
        return this.dispatch(type, data.subarray(start, end));
      case T.parse: {
        // Drivers send one with nearly every query; with no prepared write, only its text counts.
        const text = this.prepared.size === 0 ? parseText(data, start, end) : undefined;
        if (text !== undefined && !mayMatter(text)) return false;
        return this.dispatch(type, data.subarray(start, end));
      }
      default:
        return false;
    }
  }

  beforeClientFrame(type: number, data: Buffer, start: number): Buffer | undefined {
    if (type === T.ready && data[start + 5] === 0x49) {
      this.writesInTx = 0;
      this.relay.watch = false;
    }
    if (type !== T.commandComplete) return undefined;
    const tag = readCommandTag(data.subarray(start));
    if (tag !== 'ROLLBACK') return undefined;
    return warning(
      `ROLLBACK did not undo ${this.writesInTx} row(s) written to Airtable in this transaction`,
      { detail: 'Airtable cannot roll back; those rows stay in Airtable and in the mirror.' },
    );
  }

  onClose(): void {
    this.opts.onClose();
  }

  // ---- what the endpoint looks at -----------------------------------------------------------

  private dispatch(type: number, frame: Buffer, queryText?: string): boolean {
    switch (type) {
      case T.query: {
        const text = queryText ?? readQuery(frame);
        if (NAME_CHANGES.test(text)) this.targets.forget();
        if (DROPS_PREPARED.test(text)) this.own.forgetKept();
        if (!mayWrite(text, this.sqlPrepared.size > 0)) return false;
        const parsed = classify(text);
        if (!parsed) return false;
        const stmts = parsed.map((st) => this.sqlLevel(st));
        if (!stmts.some((st) => st.kind === 'insert' || st.kind === 'update' || st.kind === 'delete'))
          return false;
        this.async(() => this.onQuery(frame, stmts));
        return true;
      }
      case T.parse: {
        const m = readParse(frame);
        if (NAME_CHANGES.test(m.text)) this.targets.forget();
        if (DROPS_PREPARED.test(m.text)) this.own.forgetKept();
        this.prepared.delete(m.name);
        if (!mayWrite(m.text)) return false;
        const stmts = classify(m.text);
        if (!stmts || stmts.length !== 1) return false;
        const stmt = stmts[0];
        if (stmt.kind !== 'insert' && stmt.kind !== 'update' && stmt.kind !== 'delete') return false;
        this.async(async () => {
          this.relay.forward(type, frame);
          if (!(await this.targets.couldBeMirror(stmt))) return;
          const given = stmt.paramCount === 0 || (m.types.length >= stmt.paramCount && !m.types.includes(0));
          this.prepared.set(m.name, { stmt, types: given ? m.types : this.own.describeStatement(m.name) });
        });
        return true;
      }
      case T.bind: {
        if (this.prepared.size === 0 && this.portals.size === 0) return false;
        const b = readBind(frame);
        const prepared = this.prepared.get(b.statement);
        if (!prepared) {
          this.portals.delete(b.portal);
          return false;
        }
        this.portals.set(b.portal, {
          prepared,
          bind: { types: [], values: b.params, formats: b.paramFormats },
          resultFormats: b.resultFormats,
        });
        return false;
      }
      case T.execute: {
        if (this.portals.size === 0) return false;
        const { portal, maxRows } = readExecute(frame);
        const bound = this.portals.get(portal);
        if (!bound) return false;
        this.async(() => this.onExecute(frame, bound, maxRows));
        return true;
      }
      case T.close: {
        const t = readTarget(frame);
        if (t.kind === 'S') this.prepared.delete(t.name);
        else this.portals.delete(t.name);
        return false;
      }
      default:
        return false;
    }
  }

  /**
   * SQL-level PREPARE/EXECUTE/DEALLOCATE of writes: remembered, and an EXECUTE of a remembered
   * write becomes the write itself (its arguments in place of `$n`). Others are left as they are.
   */
  private sqlLevel(st: Statement): Statement {
    if (st.kind === 'prepare') this.sqlPrepared.set(st.name, st);
    else if (st.kind === 'deallocate') {
      if (st.name === undefined) this.sqlPrepared.clear();
      else this.sqlPrepared.delete(st.name);
    } else if (st.kind === 'execute') {
      const prepared = this.sqlPrepared.get(st.name);
      if (prepared) return { ...bindExecute(prepared, st.params), sourceText: st.text };
    }
    return st;
  }

  private async(work: () => Promise<void>): void {
    this.busy = true;
    work()
      .catch((err: unknown) => {
        if (!(err instanceof SessionClosed)) {
          this.opts.log?.error(
            { err: err instanceof Error ? err.message : String(err) },
            'pg endpoint: session failed',
          );
          this.relay.close();
        }
      })
      .finally(() => {
        this.busy = false;
        this.drain();
      });
  }

  private drain(): void {
    while (!this.busy && this.queue.length > 0 && !this.relay.closed) {
      const { type, frame } = this.queue.shift()!;
      if (!this.opts.catalog || !this.dispatch(type, frame)) this.relay.forward(type, frame);
    }
  }

  // ---- simple Query -------------------------------------------------------------------------

  private async onQuery(frame: Buffer, stmts: Statement[]): Promise<void> {
    // Whether a statement writes a mirror table. When an earlier statement of the string may change
    // where names lead (search_path, temporary tables …), that is only known when it comes.
    let any = false;
    let unsure = false;
    for (const st of stmts) {
      if (await this.targets.couldBeMirror(st)) {
        const t = unsure ? null : await this.targets.of(st as DmlStatement, 'sync');
        if (unsure || (t !== null && t !== 'skipped')) any = true;
      }
      if (NAME_CHANGES.test(st.text)) unsure = true;
    }
    if (!any) {
      this.relay.forward(T.query, frame);
      return;
    }
    // A query string with a mirror write runs statement by statement (docs/postgres-endpoint.md);
    // each write's table is looked up again just before it runs (an earlier statement of the
    // string may have changed the search_path).
    for (const st of stmts) {
      const target = (await this.targets.couldBeMirror(st))
        ? await this.targets.of(st as DmlStatement, 'sync')
        : null;
      if (target === null || target === 'skipped') {
        const { failed } = await this.own.relayQuery(('sourceText' in st && st.sourceText) || st.text);
        if (NAME_CHANGES.test(st.text)) this.targets.forget();
        if (failed) break;
        continue;
      }
      if (!(await this.simpleWrite(st as DmlStatement, target))) break;
    }
    if (this.relay.status === 0x49) {
      this.writesInTx = 0;
      this.relay.watch = false;
    }
    this.relay.writeClient(readyForQuery(this.relay.status));
  }

  /** One mirror write of a simple Query; false when it failed. */
  private async simpleWrite(stmt: DmlStatement, target: MirrorTarget): Promise<boolean> {
    const outcome = await this.write(stmt, target, { types: [], values: [], formats: [] }, [], 'sync', true);
    if (outcome.kind === 'done') {
      this.relay.writeClient(
        Buffer.concat([
          ...outcome.notices,
          ...(outcome.description ? [outcome.description] : []),
          ...outcome.rows,
          commandComplete(outcome.tag),
        ]),
      );
      return true;
    }
    if (outcome.kind === 'skipped') return false;
    if (!outcome.fromPostgres) await this.own.fail('sync');
    this.relay.writeClient(Buffer.concat([...outcome.notices, outcome.frame]));
    return false;
  }

  // ---- extended protocol: Execute of a mirror write -------------------------------------------

  private async onExecute(frame: Buffer, bound: BoundWrite, maxRows: number): Promise<void> {
    if (bound.rest) {
      this.sendRows(bound, bound.rest.rows, bound.rest.tag, maxRows);
      return;
    }
    const stmt = bound.prepared.stmt;
    const target = await this.targets.of(stmt, 'flush');
    if (target === 'skipped') return;
    if (!target) {
      this.relay.forward(T.execute, frame);
      return;
    }
    const types = (await bound.prepared.types) ?? [];
    const outcome = await this.write(
      stmt,
      target,
      { ...bound.bind, types },
      bound.resultFormats,
      'flush',
      false,
    );
    if (outcome.kind === 'skipped') return;
    if (outcome.kind === 'error') {
      if (!outcome.fromPostgres) await this.own.fail('flush');
      this.relay.writeClient(Buffer.concat([...outcome.notices, outcome.frame]));
      return;
    }
    if (outcome.notices.length > 0) this.relay.writeClient(Buffer.concat(outcome.notices));
    this.sendRows(bound, outcome.rows, outcome.tag, maxRows);
  }

  private sendRows(bound: BoundWrite, rows: Buffer[], tag: string, maxRows: number): void {
    if (maxRows > 0 && rows.length > maxRows) {
      bound.rest = { rows: rows.slice(maxRows), tag };
      this.relay.writeClient(Buffer.concat([...rows.slice(0, maxRows), portalSuspended()]));
      return;
    }
    bound.rest = undefined;
    this.relay.writeClient(Buffer.concat([...rows, commandComplete(tag)]));
  }

  // ---- both ---------------------------------------------------------------------------------

  private async write(
    stmt: DmlStatement,
    target: MirrorTarget,
    params: BoundParams,
    resultFormats: number[],
    end: 'flush' | 'sync',
    describe: boolean,
  ): Promise<WriteOutcome> {
    this.cancelRequested = false;
    try {
      const plan = planWrite(stmt, target.table);
      const outcome = await executeWrite(
        {
          run: (steps) => this.own.run(steps, end),
          status: () => this.relay.status,
          cancelled: () => this.cancelRequested,
        },
        this.opts.deps,
        { plan, target, params, resultFormats, describe },
      );
      if (outcome.kind === 'done' && this.relay.status !== 0x49 && outcome.rowCount > 0) {
        this.writesInTx += outcome.rowCount;
        this.relay.watch = true; // for the ROLLBACK warning
      }
      return outcome;
    } catch (err) {
      if (err instanceof SessionClosed) throw err;
      const pgErr =
        err instanceof PgError
          ? err
          : new PgError(SQLSTATE.internal, 'airmirror could not run the write', {
              detail: err instanceof Error ? err.message : String(err),
            });
      if (!(err instanceof PgError)) {
        this.opts.log?.error({ err: pgErr.detail }, 'pg endpoint: write failed');
      }
      return { kind: 'error', frame: pgErr.frame(), fromPostgres: false, notices: [] };
    }
  }
}
