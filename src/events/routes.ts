import { randomBytes } from 'node:crypto';
import { Hono, type Context } from 'hono';
import type { Database } from '../db/database.ts';
import type { z } from 'zod';
import { parseRequest, readBodyText } from '../validation.ts';
import { AirmirrorError, apiErrorBody, asAirmirrorError, badRequest, notFound } from '../errors.ts';
import type { Logger } from '../log.ts';
import { postEvent } from './post.ts';
import {
  deleteSubscription,
  getDeadLetter,
  insertSubscription,
  listDeadLetters,
  listSubscriptions,
  markDeadLetterReplayed,
  recordDeliveries,
} from './store.ts';
import {
  CreateSubscriptionRequest,
  DeadLetterParams,
  type DeadLetterList,
  type ReplayResponse,
  type SubscriptionList,
} from './schemas.ts';
import type { SecretBox } from '../crypto/secrets.ts';
import { signingSecrets } from './signing.ts';
import { registerSubscriptionChanges } from './subscription-changes.ts';
import { distinct, load, presentDeadLetter, presentSubscription } from './present.ts';
import type { DeadLetterRow, SubscriptionRow } from './types.ts';

export interface SubscriptionRoutesDeps {
  db: Database;
  secrets: SecretBox;
  /** Used by dead-letter replay. */
  fetch: typeof fetch;
  log?: Logger;
  now?: () => Date;
  requestTimeoutMs?: number;
}

interface SubscriptionInput {
  url: string;
  secret: string;
  tables: string[] | null;
  eventTypes: string[] | null;
}

/**
 * `/subscriptions` routes (the lead mounts this under `/api`). The secret is write-only: it is
 * stored encrypted and never part of any answer.
 */
export function subscriptionRoutes(deps: SubscriptionRoutesDeps): Hono {
  const app = new Hono();
  const now = deps.now ?? (() => new Date());

  app.onError((err, c) => {
    const e = asAirmirrorError(err);
    if (e.status >= 500) deps.log?.error({ err: (err as Error).message }, 'subscription API error');
    return c.json(apiErrorBody(e), e.status as 400);
  });

  app.post('/subscriptions', async (c) => {
    const input = parseSubscriptionInput(await readJson(c));
    const id = `sub_${randomBytes(9).toString('base64url')}`;
    const secretEncrypted = await deps.secrets.encrypt(input.secret);
    const row = (
      await deps.db.query<SubscriptionRow>(
        insertSubscription({
          id,
          url: input.url,
          secretEncrypted,
          tables: input.tables,
          eventTypes: input.eventTypes,
        }),
      )
    ).rows[0];
    return c.json(presentSubscription(row), 201);
  });

  app.get('/subscriptions', async (c) => {
    const rows = (await deps.db.query<SubscriptionRow>(listSubscriptions())).rows;
    const page: z.output<typeof SubscriptionList> = {
      count: rows.length,
      next: null,
      previous: null,
      results: rows.map(presentSubscription),
    };
    return c.json(page);
  });

  app.get('/subscriptions/:id', async (c) =>
    c.json(presentSubscription(await load(deps.db, c.req.param('id')))),
  );

  app.delete('/subscriptions/:id', async (c) => {
    const r = await deps.db.query(deleteSubscription(c.req.param('id')));
    if (r.rowCount === 0) throw notFound('No subscription with that id.');
    return c.body(null, 204);
  });

  registerSubscriptionChanges(app, { db: deps.db, secrets: deps.secrets, now, log: deps.log });

  app.get('/subscriptions/:id/dead-letters', async (c) => {
    const sub = await load(deps.db, c.req.param('id'));
    const rows = (await deps.db.query<DeadLetterRow>(listDeadLetters(sub.id))).rows;
    const page: z.output<typeof DeadLetterList> = {
      count: rows.length,
      next: null,
      previous: null,
      results: rows.map(presentDeadLetter),
    };
    return c.json(page);
  });

  app.post('/subscriptions/:id/dead-letters/:eventId/replay', async (c) => {
    const eventId = Number(parseRequest(DeadLetterParams, c.req.param()).eventId);
    const sub = await load(deps.db, c.req.param('id'));
    const dead = (await deps.db.query<DeadLetterRow>(getDeadLetter(sub.id, eventId))).rows[0];
    if (!dead) throw notFound('No dead letter with that event id for this subscription.');
    const at = now();
    const result = await postEvent({
      fetch: deps.fetch,
      url: sub.url,
      secret: await signingSecrets(sub, deps.secrets, at),
      event: dead.event,
      now: at,
      timeoutMs: deps.requestTimeoutMs ?? 10_000,
    });
    await deps.db.query(
      markDeadLetterReplayed(sub.id, eventId, at, result.ok, result.ok ? null : result.error),
    );
    const attempt = {
      eventId,
      attempt: dead.attempts + 1,
      ok: result.ok,
      httpStatus: result.status ?? null,
      error: result.ok ? null : result.error,
    };
    await deps.db.query(recordDeliveries(sub.id, [attempt], at, true));
    if (!result.ok) {
      throw new AirmirrorError('REPLAY_FAILED', 502, `Replay failed: ${result.error}.`, {
        details: { event_id: eventId },
      });
    }
    const replayed: ReplayResponse = {
      event_id: eventId,
      delivered: true,
      status: result.status,
      replayed_at: at.toISOString(),
    };
    return c.json(replayed);
  });

  return app;
}

async function readJson(c: Context): Promise<unknown> {
  const text = await readBodyText(c);
  try {
    return JSON.parse(text);
  } catch {
    throw badRequest('The request body must be a JSON object.');
  }
}

/** Validates a subscription body (CreateSubscriptionRequest); each refusal names the field at fault. */
export function parseSubscriptionInput(body: unknown): SubscriptionInput {
  const b = parseRequest(CreateSubscriptionRequest, body);
  return { url: b.url, secret: b.secret, tables: distinct(b.tables), eventTypes: distinct(b.event_types) };
}
