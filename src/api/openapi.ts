/**
 * `GET /api/openapi.json`, generated from the zod schemas that validate requests — model.ts for
 * createApi's routes, src/events/schemas.ts and src/webhooks/schemas.ts for the route groups the
 * server mounts beside it — so the document and the enforcement cannot disagree. Secrets are
 * write-only: they appear in request schemas only (test/api/openapi.test.ts holds every /api route
 * the server mounts to being documented here).
 */
import { z } from 'zod';
import {
  ChangeEventSchema,
  CreateSubscriptionRequest,
  DeadLetterList,
  DeadLetterResponse,
  DeliveryList,
  DeliveryResponse,
  PatchSubscriptionRequest,
  ReplayResponse,
  SubscriptionList,
  SubscriptionResponse,
} from '../events/schemas.ts';
import {
  WebhookInputsRequest,
  WebhookInputsResponse,
  WebhookRequest,
  WebhookResponse,
} from '../webhooks/schemas.ts';
import {
  CreateSourceRequest,
  ErrorResponse,
  IncrementalFieldsResponse,
  PatchSchemaRequest,
  PatchSchemaResponse,
  SchemaResponse,
  SourceResponse,
  StatusResponse,
} from './model.ts';
import { PatchSourceRequest } from './source-model.ts';
import { subscriptionPaths } from './openapi-subscriptions.ts';
import { quotaPaths } from './openapi-quota.ts';
import { QuotaBudgetRequest, QuotaEntry, QuotaResponse } from '../quota/schemas.ts';

const COMPONENTS = {
  CreateSourceRequest,
  PatchSourceRequest,
  PatchSchemaRequest,
  Source: SourceResponse,
  Schema: SchemaResponse,
  PatchSchemaResponse,
  IncrementalFields: IncrementalFieldsResponse,
  Status: StatusResponse,
  CreateSubscriptionRequest,
  PatchSubscriptionRequest,
  Subscription: SubscriptionResponse,
  SubscriptionList,
  DeadLetter: DeadLetterResponse,
  DeadLetterList,
  Delivery: DeliveryResponse,
  DeliveryList,
  ChangeEvent: ChangeEventSchema,
  Replay: ReplayResponse,
  WebhookRequest,
  WebhookInputsRequest,
  Webhook: WebhookResponse,
  WebhookInputs: WebhookInputsResponse,
  QuotaBudgetRequest,
  QuotaEntry,
  Quota: QuotaResponse,
  Error: ErrorResponse,
};

function componentSchemas(): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [name, schema] of Object.entries(COMPONENTS)) {
    const js = z.toJSONSchema(schema, {
      io: name.endsWith('Request') ? 'input' : 'output',
      unrepresentable: 'any',
    }) as Record<string, unknown>;
    delete js.$schema;
    // A schema with a meta id comes back as {$ref, $defs}: inline the definition itself.
    const defs = js.$defs as Record<string, unknown> | undefined;
    out[name] =
      defs && typeof js.$ref === 'string' ? defs[js.$ref.split('/').pop()!] : { ...js, $defs: undefined };
  }
  // Schemas with a meta id nested in others (Schema inside Source) are components themselves.
  return JSON.parse(JSON.stringify(out).replaceAll('"#/$defs/', '"#/components/schemas/'));
}

const ref = (name: keyof typeof COMPONENTS) => ({ $ref: `#/components/schemas/${name}` });
const json = (schema: unknown, description = 'OK') => ({
  description,
  content: { 'application/json': { schema } },
});
const errors = {
  '400': json(ref('Error'), 'Validation error; `attr` names the field'),
  '401': json(ref('Error'), 'Missing or wrong bearer token'),
  '404': json(ref('Error'), 'Not found'),
};
const idParam = (what: string) => ({
  name: 'id',
  in: 'path',
  required: true,
  schema: { type: 'string' },
  description: what,
});
const list = (name: keyof typeof COMPONENTS) => ({
  type: 'object',
  properties: { count: { type: 'integer' }, results: { type: 'array', items: ref(name) } },
});
const body = (name: keyof typeof COMPONENTS, required = true) => ({
  required,
  content: { 'application/json': { schema: ref(name) } },
});
const error = (description: string) => json(ref('Error'), description);
const unauthorized = error('Missing or wrong bearer token');
const sourceParam = idParam('source id');
const noWebhook = error('No source with that id, or the source has no webhook');
const unconfigured =
  'Validation error (`attr` names the field), or WEBHOOKS_NOT_CONFIGURED: AIRMIRROR_PUBLIC_URL is not set';

/** PostHog's update-webhook-inputs, under its name and ours (src/webhooks/schemas.ts). */
const webhookInputs = {
  summary:
    'No body: rotate — register a new webhook (new MAC secret), drain the old one, then delete it; no change is missed. {inputs: {signing_secret}}: the MAC secret of a webhook registered outside airmirror, stored encrypted; the webhook at Airtable is not touched',
  parameters: [sourceParam],
  requestBody: body('WebhookInputsRequest', false),
  responses: {
    '200': json(ref('WebhookInputs')),
    '400': error(`${unconfigured}; or inputs empty ("No inputs provided") or unknown`),
    '401': unauthorized,
    '404': noWebhook,
  },
};

/** A source's Airtable webhook (src/webhooks/routes.ts). The MAC secret is never shown. */
const webhookPaths = {
  '/sources/{id}/webhook': {
    get: {
      summary: "Retrieve the source's webhook registration",
      parameters: [sourceParam],
      responses: { '200': json(ref('Webhook')), '401': unauthorized, '404': noWebhook },
    },
    post: {
      summary:
        'Register an Airtable webhook for the whole base, pinging AIRMIRROR_PUBLIC_URL; returns the existing one if there is one',
      parameters: [sourceParam],
      requestBody: body('WebhookRequest', false),
      responses: {
        '200': json(ref('Webhook'), 'Already registered'),
        '201': json(ref('Webhook'), 'Registered'),
        '400': error(unconfigured),
        '401': unauthorized,
        '404': error('No source with that id'),
      },
    },
    delete: {
      summary: 'Unregister the webhook at Airtable and here',
      parameters: [sourceParam],
      responses: {
        '204': { description: 'Deleted' },
        '401': unauthorized,
        '404': noWebhook,
        '409': error('WEBHOOK_IN_USE: tables still use the webhook sync type (`tables` lists them)'),
      },
    },
  },
  '/sources/{id}/webhook/inputs': { post: webhookInputs },
  '/sources/{id}/update-webhook-inputs': { post: webhookInputs },
};

const action = (summary: string, status: '200' | '202' = '202') => ({
  post: {
    summary,
    parameters: [idParam('schema id')],
    responses: {
      [status]: json(ref('Schema'), status === '202' ? 'Accepted: the run has started' : 'OK'),
      '409': json(ref('Error'), 'Running (cancel or wait), or nothing to cancel'),
      ...errors,
    },
  },
});

let cached: Record<string, unknown> | undefined;

export function openApiDocument(): Record<string, unknown> {
  cached ??= {
    openapi: '3.1.0',
    info: {
      title: 'airmirror management API',
      version: '1',
      description:
        'Sources (Airtable bases) and schemas (per-table sync configuration), modelled on PostHog ExternalDataSource/ExternalDataSchema; source webhooks; change-event subscriptions. Errors: {type, code, detail, attr}.',
    },
    servers: [{ url: '/api' }],
    components: {
      schemas: componentSchemas(),
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } },
    },
    security: [{ bearer: [] }],
    paths: {
      '/sources': {
        get: { summary: 'List sources', responses: { '200': json(list('Source')), ...errors } },
        post: {
          summary: 'Create a source (validates the token against the base; the token is stored encrypted)',
          requestBody: {
            required: true,
            content: { 'application/json': { schema: ref('CreateSourceRequest') } },
          },
          responses: {
            '201': json(ref('Source'), 'Created'),
            '409': json(ref('Error'), 'Base or schema taken'),
            ...errors,
          },
        },
      },
      '/sources/{id}': {
        get: {
          summary: 'Retrieve a source',
          parameters: [idParam('source id')],
          responses: { '200': json(ref('Source')), ...errors },
        },
        patch: {
          summary:
            'Change a source: a new token (checked against the base, stored encrypted, used from the next request on), its name or description, its freshness target max_lag_seconds. The mirror is not touched: no rebuild, no row written',
          parameters: [idParam('source id')],
          requestBody: body('PatchSourceRequest'),
          responses: {
            '200': json(ref('Source')),
            '503': error('AIRTABLE_UNAVAILABLE: no Airtable client in this process to check the token'),
            ...errors,
          },
        },
        delete: {
          summary: 'Delete a source and stop its syncs; drop_data=true also drops its mirror tables',
          parameters: [
            idParam('source id'),
            {
              name: 'drop_data',
              in: 'query',
              required: false,
              schema: { type: 'string', enum: ['true', 'false'] },
            },
          ],
          responses: { '204': { description: 'Deleted' }, ...errors },
        },
      },
      '/schemas': {
        get: {
          summary: 'List schemas (tables)',
          parameters: [{ name: 'source_id', in: 'query', required: false, schema: { type: 'string' } }],
          responses: { '200': json(list('Schema')), ...errors },
        },
      },
      '/schemas/{id}': {
        get: {
          summary: 'Retrieve a schema',
          parameters: [idParam('schema id')],
          responses: { '200': json(ref('Schema')), ...errors },
        },
        patch: {
          summary: 'Partially update a schema; only sent fields change',
          parameters: [idParam('schema id')],
          requestBody: {
            required: true,
            content: { 'application/json': { schema: ref('PatchSchemaRequest') } },
          },
          responses: {
            '200': json(ref('PatchSchemaResponse')),
            '409': json(ref('Error'), 'The schema is Running: cancel or wait'),
            ...errors,
          },
        },
      },
      '/schemas/{id}/incremental-fields': {
        post: {
          summary: "Re-read the live base: the table's incremental candidates and available sync types",
          parameters: [idParam('schema id')],
          responses: { '200': json(ref('IncrementalFields')), ...errors },
        },
      },
      '/schemas/{id}/reload': action('Sync now'),
      '/schemas/{id}/resync': action('Wipe sync state and re-import the table'),
      '/schemas/{id}/cancel': action('Stop the running sync, leaving the mirror consistent', '200'),
      '/schemas/{id}/delete-data': action('Empty the mirror table, keep the configuration', '200'),
      '/status': {
        get: {
          summary:
            "Per-table sync status, the sources' schema reads, the processes, and the monthly call quota per token key",
          parameters: [{ name: 'source_id', in: 'query', required: false, schema: { type: 'string' } }],
          responses: { '200': json(ref('Status')), ...errors },
        },
      },
      ...webhookPaths,
      ...subscriptionPaths,
      ...quotaPaths,
      '/openapi.json': {
        get: { summary: 'This document', security: [], responses: { '200': { description: 'OK' } } },
      },
    },
  };
  return cached;
}
