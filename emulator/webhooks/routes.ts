import { Hono } from 'hono';
import { airtableError } from '../errors.ts';
import type { EmulatorWebhooks } from './service.ts';

export interface WebhookRoutesContext {
  webhooks: EmulatorWebhooks;
}

async function jsonBody(req: Request): Promise<unknown> {
  const text = await req.text();
  if (text.trim() === '') return {};
  try {
    return JSON.parse(text);
  } catch {
    // docs/airtable-reference.md §2.5: a body that is not valid JSON is a 400 (type not documented).
    throw airtableError(400, 'INVALID_REQUEST_BODY', 'The request body is not valid JSON');
  }
}

/**
 * The webhooks endpoints (docs/airtable-reference.md §4.1), to be mounted at `/v0/bases/:baseId/webhooks`
 * behind the emulator's auth and rate limit. Errors are thrown as AirtableError for the app's handler.
 */
export function webhookRoutes(ctx: WebhookRoutesContext): Hono {
  const { webhooks } = ctx;
  const app = new Hono();
  const baseId = (c: { req: { param(name: string): string | undefined } }) => c.req.param('baseId') ?? '';

  app.post('/', async (c) => c.json(webhooks.create(baseId(c), await jsonBody(c.req.raw))));
  app.get('/', (c) => c.json(webhooks.list(baseId(c))));
  app.delete('/:webhookId', (c) => {
    webhooks.delete(baseId(c), c.req.param('webhookId'));
    return c.body(null, 200);
  });
  app.post('/:webhookId/refresh', (c) => c.json(webhooks.refresh(baseId(c), c.req.param('webhookId'))));
  app.post('/:webhookId/enableNotifications', async (c) => {
    webhooks.enableNotifications(baseId(c), c.req.param('webhookId'), await jsonBody(c.req.raw));
    return c.body(null, 200);
  });
  app.get('/:webhookId/payloads', (c) =>
    c.json(
      webhooks.listPayloads(baseId(c), c.req.param('webhookId'), {
        cursor: c.req.query('cursor'),
        limit: c.req.query('limit'),
      }),
    ),
  );
  return app;
}
