/** The write-through proxy: runtime-neutral core, Postgres writer, catch-up queue (src/catchup drains it). */
export { createProxy, type Proxy, type ProxyBudget, type ProxyDeps } from './app.ts';
export type { MirrorWrite, MirrorWriter, ApplyResult } from './writer.ts';
export { createPgWriter, TableNotMappedError, type PgWriter, type PgWriterOptions } from './pg-writer.ts';
export type { CatchupItem, CatchupSink } from '../src/catchup/types.ts';
export { CatchupQueue, type CatchupJournal, type CatchupQueueOptions } from './catchup-queue.ts';
