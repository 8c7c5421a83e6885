import type { BaseSchema } from '../src/airtable/types.ts';

/** How long a schema handed over stays good for its source's next schema step. */
export const PRIMED_SCHEMA_MS = 5_000;
/** Entries kept at most (each is a source created moments ago: a handful, unless scripted). */
const MAX_ENTRIES = 1_000;

/**
 * Base schemas read moments ago elsewhere in this process, for the source's next schema step:
 * creating a source reads the base schema to check its token and base (POST /api/sources), and
 * the first build would read it again a moment later. At Airtable's 5 requests/s a base, that
 * second read takes a slot of the build's first second — every page of the first listing then
 * comes a fifth of a second later — and a call of the month's quota.
 *
 * One use each, and only while fresh: a change to the base after the read is caught by the next
 * read, as a change after any read is. A source built by another process never takes its entry;
 * it lapses.
 */
export class PrimedSchemas {
  private readonly entries = new Map<string, { schema: BaseSchema; at: number }>();

  constructor(private readonly now: () => number) {}

  put(sourceId: string, schema: BaseSchema): void {
    const t = this.now();
    for (const [id, e] of this.entries) if (t - e.at > PRIMED_SCHEMA_MS) this.entries.delete(id);
    if (this.entries.size >= MAX_ENTRIES) this.entries.delete(this.entries.keys().next().value!);
    this.entries.set(sourceId, { schema, at: t });
  }

  /** The schema handed over for this source, if it is still fresh; gone afterwards either way. */
  take(sourceId: string): BaseSchema | undefined {
    const e = this.entries.get(sourceId);
    if (!e) return undefined;
    this.entries.delete(sourceId);
    return this.now() - e.at <= PRIMED_SCHEMA_MS ? e.schema : undefined;
  }
}
