import { m001_bookkeeping } from './001_bookkeeping.ts';

export interface Migration {
  version: number;
  name: string;
  /** Statements run in order, in one transaction. */
  up: string[];
}

/** Every migration of the airmirror schema, oldest first. Append; never edit a released one. */
export const migrations: readonly Migration[] = [m001_bookkeeping];
