import type { Migration } from './migration.ts';

/**
 * The Airtable request budget shared by every process and Workers proxy on this Postgres
 * (docs/DESIGN.md invariants 6 and 9; src/airtable/shared-budget.ts is its client).
 *
 * `budget_keys` holds one row per base (`b:<baseId>`) and per token (`t:<sha256 prefix>`: never
 * the token, invariant 8): the start times granted in the last window, sorted (the sliding window
 * of docs/airtable-reference.md §2.1, as the in-process budget keeps it), the 429 penalty, and
 * when high-priority (proxy) and normal (background) demand was last seen. It is UNLOGGED: hot,
 * rewritten on every claim, worthless after a crash, so a claim writes no WAL and its commit
 * waits for no disk flush.
 *
 * `budget_claim` grants a batch of requests in one statement: the caller's waiters, in its
 * order, grouped by base. Each gets a delay (start in that many ms, by this server's clock) or a
 * refusal with the time to ask again. Keys are created and locked in sorted order, so concurrent
 * claims never deadlock. The same rules run in process in src/airtable/budget-windows.ts (the
 * fallback while Postgres is away, and the budget of a process without one); test/airtable
 * holds the two to the same answers.
 *
 * Calls granted are counted per token key, base and month (issue 17's quota builds on them):
 * first in the UNLOGGED `airtable_calls_pending` (same statement, no WAL), rolled up into the
 * durable `airtable_calls` by `budget_rollup` every few seconds. A Postgres crash loses at most
 * the counts since the last rollup.
 */
export const m020_budget: Migration = {
  version: 20,
  name: 'shared request budget',
  up: [
    `CREATE UNLOGGED TABLE airmirror.budget_keys (
      key text PRIMARY KEY,
      starts bigint[] NOT NULL DEFAULT '{}',
      blocked_until bigint NOT NULL DEFAULT 0,
      high_at bigint NOT NULL DEFAULT 0,
      normal_seen_at bigint NOT NULL DEFAULT 0,
      normal_wait_at bigint,
      margin int NOT NULL DEFAULT 0,
      margin_at bigint NOT NULL DEFAULT 0,
      updated_at bigint NOT NULL
    ) WITH (fillfactor = 50)`,
    `CREATE UNLOGGED TABLE airmirror.airtable_calls_pending (
      month date NOT NULL,
      token_key text NOT NULL,
      base_id text NOT NULL,
      calls bigint NOT NULL,
      PRIMARY KEY (month, token_key, base_id)
    )`,
    `CREATE TABLE airmirror.airtable_calls (
      month date NOT NULL,
      token_key text NOT NULL,
      base_id text NOT NULL,
      calls bigint NOT NULL,
      updated_at timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (month, token_key, base_id)
    )`,
    // p_cfg: {base limit, token limit, window ms, high horizon ms, normal horizon ms, headroom,
    // high-recent ms, normal grace ms, base gap ms, token gap ms, the caller's lag margin ms}. Items: base id, token key (NULL: no per-token window),
    // high priority, and what to count the call under (base id or '*', token key or '*').
    `CREATE FUNCTION airmirror.budget_claim(
        p_bases text[], p_tokens text[], p_high boolean[], p_count_tokens text[], p_count_bases text[],
        p_cfg int[], p_now bigint DEFAULT NULL)
      RETURNS TABLE (delay int, retry int, reason text)
      LANGUAGE plpgsql AS $fn$
    DECLARE
      now_ms bigint := coalesce(p_now, floor(extract(epoch FROM clock_timestamp()) * 1000)::bigint);
      base_limit int := p_cfg[1];
      token_limit int := p_cfg[2];
      win int := p_cfg[3];
      high_horizon int := p_cfg[4];
      normal_horizon int := p_cfg[5];
      headroom int := p_cfg[6];
      high_recent int := p_cfg[7];
      grace int := p_cfg[8];
      base_gap int := coalesce(p_cfg[9], 0);
      token_gap int := coalesce(p_cfg[10], 0);
      my_margin int := coalesce(p_cfg[11], 0);
      bwin int;
      n int := coalesce(cardinality(p_bases), 0);
      wanted text[];
      ks airmirror.budget_keys[];
      bi int := 0;
      ti int;
      b airmirror.budget_keys;
      tk airmirror.budget_keys;
      stop_high boolean[];
      stop_normal boolean[];
      stop_retry int[];
      starved boolean;
      eff int;
      horizon int;
      t bigint;
      tt bigint;
      why text;
      c int;
      ct text[] := '{}';
      cb text[] := '{}';
    BEGIN
      IF n = 0 THEN RETURN; END IF;
      wanted := ARRAY(SELECT DISTINCT k FROM (
          SELECT 'b:' || x AS k FROM unnest(p_bases) x
          UNION ALL SELECT 't:' || x FROM unnest(p_tokens) x WHERE x IS NOT NULL) u ORDER BY k);
      -- Lock and load every key in one sorted pass; create the missing ones (sorted) first.
      ks := ARRAY(SELECT r FROM airmirror.budget_keys r WHERE r.key = ANY(wanted) ORDER BY r.key FOR UPDATE);
      IF cardinality(ks) < cardinality(wanted) THEN
        INSERT INTO airmirror.budget_keys (key, updated_at) SELECT k, now_ms FROM unnest(wanted) k
          ON CONFLICT (key) DO NOTHING;
        ks := ARRAY(SELECT r FROM airmirror.budget_keys r WHERE r.key = ANY(wanted) ORDER BY r.key FOR UPDATE);
      END IF;
      -- The time of the grants is taken once the rows are ours: a claim that queued behind another
      -- must not hand out start times that have already passed.
      IF p_now IS NULL THEN now_ms := floor(extract(epoch FROM clock_timestamp()) * 1000)::bigint; END IF;
      stop_high := array_fill(false, ARRAY[cardinality(wanted)]);
      stop_normal := stop_high;
      stop_retry := array_fill(0, ARRAY[cardinality(wanted)]);
      FOR i IN 1..n LOOP
        IF bi = 0 OR b.key <> 'b:' || p_bases[i] THEN
          IF bi > 0 THEN ks[bi] := b; END IF;
          bi := array_position(wanted, 'b:' || p_bases[i]);
          b := ks[bi];
          -- The window of this base: Airtable's second, the margin, and the largest lag margin a
          -- process reported for it in the last minute (a late departure of any of them counts).
          IF b.margin_at < now_ms - 60000 OR my_margin >= b.margin THEN
            b.margin := my_margin;
            b.margin_at := now_ms;
          END IF;
          bwin := win + b.margin;
        END IF;
        IF p_high[i] THEN b.high_at := now_ms; ELSE b.normal_seen_at := now_ms; END IF;
        IF b.blocked_until > now_ms THEN
          delay := NULL; retry := b.blocked_until - now_ms; reason := 'penalty';
          RETURN NEXT;
          CONTINUE;
        END IF;
        IF (p_high[i] AND stop_high[bi]) OR (NOT p_high[i] AND stop_normal[bi]) THEN
          delay := NULL; retry := stop_retry[bi]; reason := 'base';
          IF NOT p_high[i] AND b.normal_wait_at IS NULL THEN b.normal_wait_at := now_ms; END IF;
          RETURN NEXT;
          CONTINUE;
        END IF;
        starved := b.normal_wait_at IS NOT NULL AND now_ms - b.normal_wait_at >= grace
          AND now_ms - b.normal_seen_at <= 2 * win;
        IF p_high[i] THEN
          eff := base_limit - CASE WHEN starved THEN headroom ELSE 0 END;
        ELSE
          eff := base_limit - CASE WHEN now_ms - b.high_at <= high_recent AND NOT starved THEN headroom ELSE 0 END;
        END IF;
        eff := greatest(eff, 1);
        c := coalesce(cardinality(b.starts), 0);
        t := now_ms;
        IF c > 0 THEN t := greatest(t, b.starts[c] + base_gap); END IF;
        IF c >= eff THEN t := greatest(t, b.starts[c - eff + 1] + bwin); END IF;
        why := 'base';
        ti := 0;
        IF p_tokens[i] IS NOT NULL THEN
          ti := array_position(wanted, 't:' || p_tokens[i]);
          tk := ks[ti];
          c := coalesce(cardinality(tk.starts), 0);
          tt := t;
          IF c > 0 THEN tt := greatest(tt, tk.starts[c] + token_gap); END IF;
          IF c >= token_limit THEN tt := greatest(tt, tk.starts[c - token_limit + 1] + bwin); END IF;
          IF tt > t THEN t := tt; why := 'token'; END IF;
        END IF;
        -- While background work starves, the proxy books nothing ahead: a slot booked ahead would
        -- come before the one kept free for background work, which can only take a slot that is due.
        horizon := CASE WHEN NOT p_high[i] THEN normal_horizon WHEN starved THEN 0 ELSE high_horizon END;
        IF t - now_ms > horizon THEN
          delay := NULL;
          retry := greatest(1, t - now_ms - horizon);
          reason := why;
          IF NOT p_high[i] AND b.normal_wait_at IS NULL THEN b.normal_wait_at := now_ms; END IF;
          IF why = 'base' THEN
            IF p_high[i] THEN stop_high[bi] := true; ELSE stop_normal[bi] := true; END IF;
            stop_retry[bi] := retry;
          END IF;
          RETURN NEXT;
          CONTINUE;
        END IF;
        b.starts := b.starts || t;
        c := cardinality(b.starts);
        IF c > base_limit THEN b.starts := b.starts[c - base_limit + 1 : c]; END IF;
        IF NOT p_high[i] THEN b.normal_wait_at := NULL; END IF;
        IF ti > 0 THEN
          tk.starts := tk.starts || t;
          c := cardinality(tk.starts);
          IF c > token_limit THEN tk.starts := tk.starts[c - token_limit + 1 : c]; END IF;
          ks[ti] := tk;
        END IF;
        ct := ct || coalesce(p_count_tokens[i], '*');
        cb := cb || coalesce(p_count_bases[i], '*');
        delay := t - now_ms; retry := NULL; reason := NULL;
        RETURN NEXT;
      END LOOP;
      ks[bi] := b;
      UPDATE airmirror.budget_keys k SET starts = u.starts, high_at = u.high_at,
          normal_seen_at = u.normal_seen_at, normal_wait_at = u.normal_wait_at,
          margin = u.margin, margin_at = u.margin_at, updated_at = now_ms
        FROM unnest(ks) u WHERE k.key = u.key;
      IF cardinality(ct) > 0 THEN
        INSERT INTO airmirror.airtable_calls_pending AS p (month, token_key, base_id, calls)
          SELECT date_trunc('month', to_timestamp(now_ms / 1000.0) AT TIME ZONE 'UTC')::date, x.tk, x.bs, count(*)
            FROM unnest(ct, cb) AS x(tk, bs) GROUP BY x.tk, x.bs
          ON CONFLICT (month, token_key, base_id) DO UPDATE SET calls = p.calls + excluded.calls;
      END IF;
    END
    $fn$`,
  ],
};
