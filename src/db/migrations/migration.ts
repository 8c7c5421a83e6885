/** One migration of the airmirror schema (the list is in ./index.ts). */
export interface Migration {
  version: number;
  name: string;
  /** Statements run in order, in one transaction. */
  up: string[];
}
