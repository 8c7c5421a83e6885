import type { Migration } from './migration.ts';

/**
 * Stock for the shared request budget (issue 12: "granted in small batches so a request rarely
 * waits on a round trip"). A process may hold a lease on a base or token key: `n` of the key's
 * slots per window, for itself, until `until` (this server's clock, epoch ms). It hands them out
 * in process (src/airtable/budget-stock.ts) with its own sliding window of `n` — no round trip —
 * and renews the lease every few hundred ms while it uses it, or lets it go.
 *
 * Why the sum stays within the limit: a lease's share counts against every point grant
 * (`budget_claim`, replaced here) from the moment it is granted until one window after `until`
 * (the holder's last start can be no later than `until`, and it counts for a window after); a
 * lease is only granted out of what is left after the other leases and every point start in the
 * last window or booked ahead (`budget_lease`). A lease given back, shrunk or lapsed stays
 * counted (what it shrank by, as a retired entry) for a window after the holder stopped using
 * it. A penalized base grants no lease and renews none: a 429 seen anywhere reaches every holder
 * at its next renewal. While the base's background work starves (budget_claim's rule), a lease
 * keeps one slot at most.
 *
 * Leases are for high priority (the proxy) only; background work claims points as before. The
 * in-process rules (budget-windows.ts) have no leases: with none held, `budget_claim` answers as
 * before (test/airtable/budget-rules.test.ts).
 */
export const m021_budget_stock: Migration = {
  version: 21,
  name: 'shared budget stock (leases)',
  up: [
    `ALTER TABLE airmirror.budget_keys
       ADD COLUMN lease_holders text[] NOT NULL DEFAULT '{}',
       ADD COLUMN lease_n int[] NOT NULL DEFAULT '{}',
       ADD COLUMN lease_until bigint[] NOT NULL DEFAULT '{}'`,
    // The slots of a key leased out at now_ms: every entry whose holder may have started a
    // request in the window before (until + window > now).
    `CREATE FUNCTION airmirror.budget_leased(k airmirror.budget_keys, now_ms bigint, win int)
      RETURNS int LANGUAGE sql IMMUTABLE AS $fn$
      SELECT coalesce(sum(x.n), 0)::int FROM unnest(k.lease_n, k.lease_until) AS x(n, u) WHERE x.u + win > now_ms
    $fn$`,
    // budget_claim as in 020, less the slots leased out (see above).
    `CREATE OR REPLACE FUNCTION airmirror.budget_claim(
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
      bshare int := 0;
      tshare int;
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
          bshare := airmirror.budget_leased(b, now_ms, bwin);
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
        -- The slots leased to processes (stock they hand out themselves, to high priority only)
        -- are not for points; a lease is the proxy's headroom too.
        IF p_high[i] THEN
          eff := greatest(base_limit - CASE WHEN starved THEN headroom ELSE 0 END, 1) - bshare;
        ELSE
          eff := base_limit - greatest(bshare,
            CASE WHEN now_ms - b.high_at <= high_recent AND NOT starved THEN headroom ELSE 0 END);
          IF bshare = 0 THEN eff := greatest(eff, 1); END IF;
        END IF;
        IF eff < 1 THEN
          delay := NULL; retry := greatest(1, bwin / base_limit); reason := 'base';
          IF NOT p_high[i] AND b.normal_wait_at IS NULL THEN b.normal_wait_at := now_ms; END IF;
          RETURN NEXT;
          CONTINUE;
        END IF;
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
          tshare := token_limit - airmirror.budget_leased(tk, now_ms, bwin);
          IF tshare < 1 THEN tt := greatest(tt, now_ms + bwin);
          ELSIF c >= tshare THEN tt := greatest(tt, tk.starts[c - tshare + 1] + bwin); END IF;
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
    // Leases of one holder, in one statement: for each key (b:<base>, t:<token key>) the slots
    // wanted (0: give it back), and the calls the holder granted from its stock since the last
    // time, to count (as budget_claim counts its own). Answers per key: slots granted, for how
    // long (ms from this statement), and the penalty left when the base serves one.
    `CREATE FUNCTION airmirror.budget_lease(
        p_holder text, p_keys text[], p_want int[], p_cfg int[], p_lease_ms int,
        p_count_tokens text[], p_count_bases text[], p_count_n int[], p_now bigint DEFAULT NULL)
      RETURNS TABLE (key text, granted int, ms int, blocked int)
      LANGUAGE plpgsql AS $fn$
    #variable_conflict use_column
    DECLARE
      now_ms bigint := coalesce(p_now, floor(extract(epoch FROM clock_timestamp()) * 1000)::bigint);
      r airmirror.budget_keys;
      want int;
      lim int;
      rwin int;
      others int;
      points int;
      prev_n int;
      prev_until bigint;
      n int;
      hs text[];
      ns int[];
      us bigint[];
    BEGIN
      IF coalesce(cardinality(p_keys), 0) > 0 THEN
        INSERT INTO airmirror.budget_keys (key, updated_at) SELECT k, now_ms FROM unnest(p_keys) k
          WHERE NOT EXISTS (SELECT 1 FROM airmirror.budget_keys b WHERE b.key = k)
          ORDER BY k ON CONFLICT (key) DO NOTHING;
      END IF;
      IF p_now IS NULL THEN now_ms := floor(extract(epoch FROM clock_timestamp()) * 1000)::bigint; END IF;
      FOR r IN SELECT * FROM airmirror.budget_keys b WHERE b.key = ANY(p_keys) ORDER BY b.key FOR UPDATE LOOP
        want := p_want[array_position(p_keys, r.key)];
        -- Background work of the base waiting past its grace (budget_claim's "starved"): a lease
        -- keeps one slot at most, so the points it frees reach the waiting work.
        IF r.key LIKE 'b:%' AND r.normal_wait_at IS NOT NULL AND now_ms - r.normal_wait_at >= p_cfg[8]
            AND now_ms - r.normal_seen_at <= 2 * p_cfg[3] THEN
          want := least(want, 1);
        END IF;
        lim := CASE WHEN r.key LIKE 'b:%' THEN p_cfg[1] - p_cfg[6] ELSE p_cfg[2] - 1 END;
        rwin := p_cfg[3] + r.margin;
        hs := '{}'; ns := '{}'; us := '{}';
        prev_n := 0; prev_until := 0; others := 0;
        FOR j IN 1..coalesce(cardinality(r.lease_holders), 0) LOOP
          CONTINUE WHEN r.lease_until[j] + rwin <= now_ms;
          IF r.lease_holders[j] = p_holder THEN
            prev_n := r.lease_n[j]; prev_until := r.lease_until[j];
            CONTINUE;
          END IF;
          hs := hs || r.lease_holders[j]; ns := ns || r.lease_n[j]; us := us || r.lease_until[j];
          others := others + r.lease_n[j];
        END LOOP;
        n := 0;
        blocked := CASE WHEN r.blocked_until > now_ms THEN (r.blocked_until - now_ms)::int ELSE 0 END;
        IF prev_n > 0 AND (prev_until <= now_ms OR blocked > 0) THEN
          -- Lapsed or penalized: its starts stay counted a window after its end.
          hs := hs || (p_holder || '~'); ns := ns || prev_n; us := us || prev_until;
          others := others + prev_n;
          prev_n := 0;
        ELSIF prev_n > want THEN
          -- Shrinking: the holder stopped using the lease when it asked, and keeps its new size over
          -- its own last window, old starts included: it starts no more than the old size in any
          -- window until a window from now, and no more than the new one after.
          hs := hs || (p_holder || '~'); ns := ns || (prev_n - want); us := us || least(prev_until, now_ms);
          others := others + prev_n - want;
          prev_n := want;
        END IF;
        IF want > 0 AND blocked = 0 THEN
          points := (SELECT count(*) FROM unnest(r.starts) s WHERE s > now_ms - rwin);
          n := least(want, greatest(prev_n, lim - others - points));
        END IF;
        IF n > 0 THEN
          hs := hs || p_holder; ns := ns || n; us := us || (now_ms + p_lease_ms);
          IF r.key LIKE 'b:%' THEN r.high_at := now_ms; END IF;
        END IF;
        UPDATE airmirror.budget_keys k SET lease_holders = hs, lease_n = ns, lease_until = us,
            high_at = r.high_at, updated_at = now_ms
          WHERE k.key = r.key;
        key := r.key; granted := n; ms := p_lease_ms;
        RETURN NEXT;
      END LOOP;
      IF coalesce(cardinality(p_count_n), 0) > 0 THEN
        INSERT INTO airmirror.airtable_calls_pending AS p (month, token_key, base_id, calls)
          SELECT date_trunc('month', to_timestamp(now_ms / 1000.0) AT TIME ZONE 'UTC')::date, x.tk, x.bs, sum(x.c)
            FROM unnest(p_count_tokens, p_count_bases, p_count_n) AS x(tk, bs, c) GROUP BY x.tk, x.bs
          ON CONFLICT (month, token_key, base_id) DO UPDATE SET calls = p.calls + excluded.calls;
      END IF;
    END
    $fn$`,
  ],
};
