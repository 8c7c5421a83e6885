/**
 * An app that keeps writing through the proxy — creates, updates and deletes of Customers, one
 * request at a time — and remembers what Airtable acknowledged (a 2xx came back), so a test can
 * check afterwards that every acknowledged write is in the mirror. A write that got no 2xx may or
 * may not have happened; the records it touched are left to `verify` (mirror = Airtable).
 */
export interface WriteAttempt {
  op: 'create' | 'update' | 'delete';
  id?: string;
  /** ms since the epoch. */
  start: number;
  end: number;
  /** HTTP status, or 0 when no answer came (refused, reset, timed out). */
  status: number;
}

export interface ExpectedState {
  /** Records whose last write was acknowledged, with the Notes it set. */
  present: Map<string, string>;
  /** Records whose delete was acknowledged. */
  deleted: Set<string>;
}

export class ProxyWriter {
  readonly attempts: WriteAttempt[] = [];
  private readonly live = new Map<string, string>();
  private readonly deleted = new Set<string>();
  private readonly uncertain = new Set<string>();
  private running?: Promise<void>;
  private stopping = false;
  private n = 0;

  constructor(
    private readonly opts: {
      proxyUrl: string;
      baseId: string;
      token: string;
      table?: string;
      /** Pause between writes. */
      gapMs?: number;
    },
  ) {}

  start(): void {
    this.running ??= this.loop();
  }

  async stop(): Promise<void> {
    this.stopping = true;
    await this.running;
  }

  /** Writes acknowledged so far. */
  get acknowledged(): number {
    return this.attempts.filter((a) => a.status >= 200 && a.status < 300).length;
  }

  expected(): ExpectedState {
    const present = new Map([...this.live].filter(([id]) => !this.uncertain.has(id)));
    return { present, deleted: new Set([...this.deleted].filter((id) => !this.uncertain.has(id))) };
  }

  private async loop(): Promise<void> {
    while (!this.stopping) {
      await this.step();
      await new Promise((r) => setTimeout(r, this.opts.gapMs ?? 50));
    }
  }

  private async step(): Promise<void> {
    const n = ++this.n;
    const ids = [...this.live.keys()].filter((id) => !this.uncertain.has(id));
    const pick = () => ids[(n * 7919) % ids.length];
    const notes = `writer v${n}`;
    if (ids.length < 5 || n % 3 === 0) {
      const r = await this.send('create', 'POST', '', { fields: { Name: `writer ${n}`, Notes: notes } });
      const id = (r.body as { id?: string } | undefined)?.id;
      if (r.ok && id) this.live.set(id, notes);
    } else if (n % 7 === 2) {
      const id = pick();
      const r = await this.send('delete', 'DELETE', `/${id}`, undefined, id);
      if (r.ok) {
        this.live.delete(id);
        this.deleted.add(id);
      } else this.uncertain.add(id);
    } else {
      const id = pick();
      const r = await this.send('update', 'PATCH', `/${id}`, { fields: { Notes: notes } }, id);
      if (r.ok) this.live.set(id, notes);
      else this.uncertain.add(id);
    }
  }

  private async send(
    op: WriteAttempt['op'],
    method: string,
    suffix: string,
    body: unknown,
    id?: string,
  ): Promise<{ ok: boolean; body?: unknown }> {
    const table = encodeURIComponent(this.opts.table ?? 'Customers');
    const start = Date.now();
    let status = 0;
    let parsed: unknown;
    try {
      const res = await fetch(`${this.opts.proxyUrl}/v0/${this.opts.baseId}/${table}${suffix}`, {
        method,
        headers: {
          authorization: `Bearer ${this.opts.token}`,
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(60_000),
      });
      status = res.status;
      parsed = await res.json().catch(() => undefined);
    } catch {
      status = 0;
    }
    this.attempts.push({
      op,
      id: id ?? (parsed as { id?: string } | undefined)?.id,
      start,
      end: Date.now(),
      status,
    });
    return { ok: status >= 200 && status < 300, body: parsed };
  }
}

/** What the mirror lacks of the acknowledged writes: rows missing or with other Notes, deleted rows still there. */
export function lostWrites(
  expected: ExpectedState,
  mirror: Map<string, string | null>,
): { missing: string[]; stale: string[]; undeleted: string[] } {
  const missing: string[] = [];
  const stale: string[] = [];
  for (const [id, notes] of expected.present) {
    if (!mirror.has(id)) missing.push(id);
    else if (mirror.get(id) !== notes) stale.push(id);
  }
  const undeleted = [...expected.deleted].filter((id) => mirror.has(id));
  return { missing, stale, undeleted };
}
