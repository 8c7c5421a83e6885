import type { GeneratedRows, StoredField, StoredRecord, StoredView } from './types.ts';

/**
 * One table: its schema and its records. Records live in `materialized` (created ones, and
 * generated ones once edited) plus, for seeded tables, `generated` rows made on demand from
 * their index, so a million-row table costs almost no memory until rows are touched.
 */
export class StoredTable {
  description?: string;
  primaryFieldId: string;
  readonly fields: StoredField[];
  readonly views: StoredView[];
  private readonly materialized = new Map<string, StoredRecord>();
  private readonly deletedGenerated = new Set<string>();
  // Created (non-generated) records in creation order, append-only with stale entries skipped,
  // so a page can seek to its start by binary search instead of walking every created record.
  private createdIds: string[] = [];
  private createdSeqs: number[] = [];
  private staleCreated = 0;
  private nextSeq: number;
  private liveGenerated: number;

  constructor(
    readonly id: string,
    public name: string,
    init: {
      fields: StoredField[];
      views: StoredView[];
      primaryFieldId?: string;
      description?: string;
    },
    private readonly generated?: GeneratedRows,
  ) {
    this.fields = init.fields;
    this.views = init.views;
    this.primaryFieldId = init.primaryFieldId ?? init.fields[0].id;
    this.description = init.description;
    this.nextSeq = generated?.count ?? 0;
    this.liveGenerated = generated?.count ?? 0;
  }

  get size(): number {
    return this.liveGenerated + this.createdIds.length - this.staleCreated;
  }

  /** Next creation sequence number (also the autoNumber source). */
  takeSeq(): number {
    return this.nextSeq++;
  }

  field(nameOrId: string): StoredField | undefined {
    return this.fields.find((f) => f.id === nameOrId) ?? this.fields.find((f) => f.name === nameOrId);
  }

  fieldById(id: string): StoredField | undefined {
    return this.fields.find((f) => f.id === id);
  }

  view(nameOrId: string): StoredView | undefined {
    return this.views.find((v) => v.id === nameOrId) ?? this.views.find((v) => v.name === nameOrId);
  }

  private isGeneratedSeq(seq: number): boolean {
    return this.generated !== undefined && seq < this.generated.count;
  }

  get(id: string): StoredRecord | undefined {
    const m = this.materialized.get(id);
    if (m) return m;
    if (!this.generated || this.deletedGenerated.has(id)) return undefined;
    const i = this.generated.indexOf(id);
    return i >= 0 && i < this.generated.count ? this.generated.make(i) : undefined;
  }

  has(id: string): boolean {
    return this.get(id) !== undefined;
  }

  /** Store a new or edited record (an edited generated row stays at its generated position). */
  put(record: StoredRecord): void {
    const isNew = !this.materialized.has(record.id);
    this.materialized.set(record.id, record);
    if (record.seq >= this.nextSeq) this.nextSeq = record.seq + 1;
    if (isNew && !this.isGeneratedSeq(record.seq)) {
      this.createdIds.push(record.id);
      this.createdSeqs.push(record.seq);
    }
  }

  delete(id: string): boolean {
    const m = this.materialized.get(id);
    if (m) {
      this.materialized.delete(id);
      if (this.isGeneratedSeq(m.seq)) {
        this.deletedGenerated.add(id);
        this.liveGenerated--;
      } else if (++this.staleCreated > 1024 && this.staleCreated > this.createdIds.length / 2) {
        this.compactCreated();
      }
      return true;
    }
    if (this.generated && !this.deletedGenerated.has(id)) {
      const i = this.generated.indexOf(id);
      if (i >= 0 && i < this.generated.count) {
        this.deletedGenerated.add(id);
        this.liveGenerated--;
        return true;
      }
    }
    return false;
  }

  /** Records in creation order, starting after creation sequence `afterSeq`. */
  *iterate(afterSeq = -1): Generator<StoredRecord> {
    const g = this.generated;
    if (g) {
      for (let i = Math.max(0, afterSeq + 1); i < g.count; i++) {
        const id = g.idAt(i);
        if (this.deletedGenerated.has(id)) continue;
        yield this.materialized.get(id) ?? g.make(i);
      }
    }
    const ids = this.createdIds;
    const seqs = this.createdSeqs;
    let lo = 0;
    let hi = seqs.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (seqs[mid] <= afterSeq) lo = mid + 1;
      else hi = mid;
    }
    for (let i = lo; i < ids.length; i++) {
      const r = this.materialized.get(ids[i]);
      if (r && r.seq === seqs[i]) yield r;
    }
  }

  private compactCreated(): void {
    const ids: string[] = [];
    const seqs: number[] = [];
    for (let i = 0; i < this.createdIds.length; i++) {
      const r = this.materialized.get(this.createdIds[i]);
      if (r && r.seq === this.createdSeqs[i]) {
        ids.push(this.createdIds[i]);
        seqs.push(this.createdSeqs[i]);
      }
    }
    this.createdIds = ids;
    this.createdSeqs = seqs;
    this.staleCreated = 0;
  }

  /** The creation sequence of a record id, or undefined when unknown/deleted. */
  seqOf(id: string): number | undefined {
    return this.get(id)?.seq;
  }
}
