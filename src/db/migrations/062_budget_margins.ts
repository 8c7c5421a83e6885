import type { Migration } from './migration.ts';

/**
 * Lag margins per caller (issue 12, fan-in). Since 020 a base's window is Airtable's second, the
 * fixed margin, and the largest lag margin any process reported for the base in the last minute:
 * a process whose event loop runs late leaves late, and its late request must not share
 * Airtable's second with the next window's first ones. But a process's own requests are now
 * spaced as they really leave (src/airtable/departure-pacer.ts): its own lateness is covered
 * there, and counting it again here made a lone process's every base 2–10% slower than
 * Airtable allows (a 100-ms stall held every window 10% longer for a minute).
 *
 * So `budget_claim` (restated from 021, as released migrations are never edited) takes the
 * caller's name and keeps each caller's largest margin of the last minute, and a named caller
 * ALONE on the base — no other caller's margin in the last minute, no other holder's lease — gets
 * the window without any margin. Once the base is shared, every claim's window counts everyone's
 * margin, its own included, as in 020: a process paces only its own departures, against the
 * base's whole limit, so neither another process's late request nor its own late one within a
 * smaller share is covered there (a Worker reports no margin at all). A caller without a name (a
 * Worker, a process of an earlier version) is never alone. `margin` is now the largest of the
 * callers' margins, derived from them, and `budget_lease` reads it as before.
 */
export const m062_budget_margins: Migration = {
  version: 62,
  name: 'shared budget margins per caller',
  up: [
    `ALTER TABLE airmirror.budget_keys
       ADD COLUMN margin_holders text[] NOT NULL DEFAULT '{}',
       ADD COLUMN margin_values int[] NOT NULL DEFAULT '{}',
       ADD COLUMN margin_ats bigint[] NOT NULL DEFAULT '{}'`,
    // A new argument: the old signature goes, so a call of the seven arguments (a process of an
    // earlier version, during a rolling deploy) reaches this one, unnamed.
    `DROP FUNCTION airmirror.budget_claim(text[], text[], boolean[], text[], text[], int[], bigint)`,
    `CREATE FUNCTION airmirror.budget_claim(
        p_bases text[], p_tokens text[], p_high boolean[], p_count_tokens text[], p_count_bases text[],
        p_cfg int[], p_now bigint DEFAULT NULL, p_holder text DEFAULT NULL)
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
      me text := coalesce(p_holder, '');
      j int;
      alone boolean;
      mh text[];
      mv int[];
      ma bigint[];
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
          -- Each reporter's own largest margin in the last minute (a caller without a name is '').
          SELECT coalesce(array_agg(x.h), '{}'), coalesce(array_agg(x.v), '{}'), coalesce(array_agg(x.a), '{}')
            INTO mh, mv, ma
            FROM unnest(b.margin_holders, b.margin_values, b.margin_ats) AS x(h, v, a)
            WHERE x.a >= now_ms - 60000 AND x.h <> me;
          j := array_position(b.margin_holders, me);
          IF j IS NOT NULL AND b.margin_ats[j] >= now_ms - 60000 AND b.margin_values[j] > my_margin THEN
            mh := mh || me; mv := mv || b.margin_values[j]; ma := ma || b.margin_ats[j];
          ELSE
            mh := mh || me; mv := mv || my_margin; ma := ma || now_ms;
          END IF;
          b.margin_holders := mh; b.margin_values := mv; b.margin_ats := ma;
          -- The window of this base for this caller: Airtable's second and the margin, and, unless
          -- the caller is alone on the base, the largest lag margin anyone reported (a late
          -- departure of any of them counts). A named caller alone on it — no other caller's margin
          -- in the last minute, no other holder's lease — spaces its own departures as they really
          -- leave (src/airtable/departure-pacer.ts). A caller without a name is never alone.
          alone := p_holder IS NOT NULL
            AND NOT EXISTS (SELECT 1 FROM unnest(mh) AS x(h) WHERE x.h <> p_holder)
            AND NOT EXISTS (SELECT 1 FROM unnest(b.lease_holders, b.lease_until) AS y(h, u)
              WHERE y.u + win > now_ms AND y.h <> p_holder AND y.h <> p_holder || '~');
          -- The largest of them: this window's, and the one leases count (budget_lease reads margin).
          b.margin := (SELECT coalesce(max(x.v), 0) FROM unnest(mv) AS x(v));
          b.margin_at := now_ms;
          bwin := win + CASE WHEN alone THEN 0 ELSE b.margin END;
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
          margin = u.margin, margin_at = u.margin_at, margin_holders = u.margin_holders,
          margin_values = u.margin_values, margin_ats = u.margin_ats, updated_at = now_ms
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
