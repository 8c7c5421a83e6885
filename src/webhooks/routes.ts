import { Hono, type Context } from 'hono';
import { parseRequest, readJsonBody } from '../validation.ts';
import { nodeIncomingOf, readBodyLimited } from '../http/body.ts';
import { apiErrorBody, asAirmirrorError } from '../errors.ts';
import type { Logger } from '../log.ts';
import { verifyAirtableMac } from './mac.ts';
import { WebhookInputsRequest, WebhookRequest } from './schemas.ts';
import type { WebhookService } from './service.ts';

/**
 * `/sources/{id}/webhook` management routes (the lead mounts this under `/api`): register, show
 * (never the MAC secret), rotate (`/inputs`), unregister.
 */
export function webhookRoutes(service: WebhookService, log?: Logger): Hono {
  const app = new Hono();
  app.onError((err, c) => {
    const e = asAirmirrorError(err);
    if (e.status >= 500) log?.error({ err: (err as Error).message }, 'webhook API error');
    return c.json(apiErrorBody(e), e.status as 400);
  });
  app.post('/sources/:id/webhook', async (c) => {
    parseRequest(WebhookRequest, await readJsonBody(c));
    const { created, webhook } = await service.register(c.req.param('id'));
    return c.json(webhook, created ? 201 : 200);
  });
  app.get('/sources/:id/webhook', async (c) => c.json(await service.info(c.req.param('id'))));
  // PostHog's update-webhook-inputs, under its name and ours (schemas.ts WebhookInputsRequest).
  const inputs = async (c: Context) => {
    const body = parseRequest(WebhookInputsRequest, await readJsonBody(c), { requireObject: true });
    const secret = body.inputs?.signing_secret;
    const id = c.req.param('id')!;
    const webhook = secret === undefined ? await service.rotate(id) : await service.setMacSecret(id, secret);
    return c.json({ success: true as const, ...webhook });
  };
  app.post('/sources/:id/webhook/inputs', inputs);
  app.post('/sources/:id/update-webhook-inputs', inputs);
  app.delete('/sources/:id/webhook', async (c) => {
    await service.unregister(c.req.param('id'));
    return c.body(null, 204);
  });
  return app;
}

/** Pings are tiny (docs/airtable-reference.md §4.4); anything much bigger is not from Airtable. */
const MAX_PING_BYTES = 64 * 1024;

/**
 * `/hooks/airtable/{sourceId}`: checks `X-Airtable-Content-MAC` over the raw body in constant time
 * (401 otherwise), answers 200 with an empty body at once (Airtable gives up after 25 s and wants
 * 200/204, docs/airtable-reference.md §4.4), and leaves the payload work to a coalesced background drain.
 */
export function webhookReceiver(service: WebhookService, log?: Logger): Hono {
  const app = new Hono();
  app.post('/hooks/airtable/:sourceId', async (c) => {
    const sourceId = c.req.param('sourceId');
    let raw: Uint8Array;
    try {
      // Refused while reading: a body past the limit is never held (nor read to its end).
      raw = (await readBodyLimited(c.req.raw, MAX_PING_BYTES, nodeIncomingOf(c.env))) ?? new Uint8Array();
    } catch (err) {
      if (asAirmirrorError(err).status === 413) return c.body(null, 413);
      throw err;
    }
    let secret: string | undefined;
    try {
      secret = await service.macSecret(sourceId);
    } catch (err) {
      log?.error({ source: sourceId, err: (err as Error).message }, 'webhook secret unavailable');
      return c.body(null, 500);
    }
    if (!secret || !(await verifyAirtableMac(secret, raw, c.req.header('x-airtable-content-mac')))) {
      // The same answer for an unknown source and a bad MAC: nothing to learn by probing.
      return c.body(null, 401);
    }
    service.ping(sourceId);
    return c.body(null, 200);
  });
  return app;
}
