/**
 * Day two of a subscription (issue 16): `PATCH /subscriptions/{id}` — pause and resume, a new URL,
 * a new secret with an overlap, new filters — and `GET /subscriptions/{id}/deliveries`, its
 * recent delivery attempts (delivery-log.ts says what is kept and why).
 *
 * Pausing stops delivery and keeps the events: the outbox is not pruned below a paused
 * subscription's cursor, and resuming delivers what waited, in order. A rotated secret keeps
 * signing beside the new one for the overlap (24 h unless told otherwise), so receivers can switch
 * at their pace: `X-Airmirror-Signature: sha256=<new>,sha256=<old>` (README, "Change events").
 */
import type { Hono } from 'hono';
import type { z } from 'zod';
import type { SecretBox } from '../crypto/secrets.ts';
import type { Database } from '../db/database.ts';
import { badRequest, notFound } from '../errors.ts';
import type { Logger } from '../log.ts';
import { parseRequest, readJsonBody } from '../validation.ts';
import { OUTBOX_CHANNEL } from './listener.ts';
import { distinct, load, presentSubscription } from './present.ts';
import {
  DEFAULT_SECRET_OVERLAP_SECONDS,
  DeliveriesQuery,
  PatchSubscriptionRequest,
  type DeliveryList,
} from './schemas.ts';
import { listDeliveries, notifyDeliverers, updateSubscription } from './store.ts';
import type { DeliveryRow, SubscriptionRow } from './types.ts';

export interface SubscriptionChangesDeps {
  db: Database;
  secrets: SecretBox;
  now: () => Date;
  log?: Logger;
}

export function registerSubscriptionChanges(app: Hono, deps: SubscriptionChangesDeps): void {
  app.patch('/subscriptions/:id', async (c) => {
    const body = parseRequest(PatchSubscriptionRequest, await readJsonBody(c));
    const current = await load(deps.db, c.req.param('id'));
    const now = deps.now();
    const overlap = body.secret_overlap_seconds;
    let previousExpiresAt: Date | null | undefined;
    if (body.secret !== undefined) {
      const seconds = overlap ?? DEFAULT_SECRET_OVERLAP_SECONDS;
      previousExpiresAt = seconds > 0 ? new Date(now.getTime() + seconds * 1000) : null;
    } else if (overlap !== undefined) {
      const running =
        current.previous_secret_encrypted !== null &&
        current.previous_secret_expires_at !== null &&
        current.previous_secret_expires_at.getTime() > now.getTime();
      if (!running) {
        throw badRequest(
          'secret_overlap_seconds needs a new secret, or a rotation whose overlap is still running.',
          'secret_overlap_seconds',
        );
      }
      previousExpiresAt = new Date(now.getTime() + overlap * 1000);
    }
    const resumed = body.active === true && !current.active;
    const moved = body.url !== undefined && body.url !== current.url;
    const row = (
      await deps.db.query<SubscriptionRow>(
        updateSubscription(current.id, {
          url: body.url,
          active: body.active,
          secretEncrypted: body.secret === undefined ? undefined : await deps.secrets.encrypt(body.secret),
          previousExpiresAt,
          tables: body.tables === undefined ? undefined : distinct(body.tables),
          eventTypes: body.event_types === undefined ? undefined : distinct(body.event_types),
          // A receiver back, or at a new address: its pending retry goes out now, not after its backoff.
          retryNow: resumed || moved,
        }),
      )
    ).rows[0];
    if (!row) throw notFound('No subscription with that id.');
    // Wake the deliverers (of every process: they LISTEN on the outbox channel).
    if (resumed || moved) await deps.db.query(notifyDeliverers(OUTBOX_CHANNEL));
    const changed = Object.keys(body).filter((k) => body[k as keyof typeof body] !== undefined);
    deps.log?.info({ subscription: row.id, changed }, 'subscription updated');
    return c.json(presentSubscription(row));
  });

  app.get('/subscriptions/:id/deliveries', async (c) => {
    const q = parseRequest(DeliveriesQuery, c.req.query());
    const sub = await load(deps.db, c.req.param('id'));
    const rows = (
      await deps.db.query<DeliveryRow>(
        listDeliveries(sub.id, {
          ok: q.status === undefined ? undefined : q.status === 'delivered',
          eventId: q.event_id === undefined ? undefined : Number(q.event_id),
          limit: q.limit === undefined ? 100 : Number(q.limit),
        }),
      )
    ).rows;
    const page: z.output<typeof DeliveryList> = {
      count: rows.length,
      next: null,
      previous: null,
      results: rows.map((r) => ({
        event_id: Number(r.event_id),
        attempt: r.attempt,
        status: r.ok ? 'delivered' : 'failed',
        http_status: r.http_status,
        error: r.error,
        replay: r.replay,
        attempted_at: new Date(r.attempted_at).toISOString(),
        delivered_at: r.ok ? new Date(r.attempted_at).toISOString() : null,
      })),
    };
    return c.json(page);
  });
}
