import { Hono } from 'hono';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { createApi } from '../../src/api/index.ts';
import { createSecretBox } from '../../src/crypto/secrets.ts';
import { EVENT_TYPES } from '../../src/events/types.ts';
import { createMetrics } from '../../src/metrics.ts';
import { createQuotaService } from '../../src/quota/index.ts';
import { apiExtraGroups, createServerApp } from '../../src/server.ts';
import { webhookReceiver } from '../../src/webhooks/routes.ts';
import { createWebhookService } from '../../src/webhooks/service.ts';
import { createTestDatabase } from '../support/db.ts';

/**
 * The OpenAPI document against the server as `airmirror start` composes it (src/node.ts): every
 * /api route any group mounts must be documented, and nothing documented may be missing, so a new
 * route without documentation fails here.
 */
const ADMIN_TOKEN = 'admin-token-for-openapi-tests-0123';
const { db } = await createTestDatabase();
const secrets = createSecretBox('openapi-test-key-0123456789');
const log = pino({ level: 'silent' });
const webhooks = createWebhookService({
  db,
  secrets,
  log,
  clientFor: () => {
    throw new Error('no Airtable in this test');
  },
});
const quota = createQuotaService({
  db,
  now: Date.now,
  defaultBudget: 100_000,
  appShare: 0.2,
  sourceTokenKey: async () => undefined,
});
/** The /api groups beside createApi, exactly as src/node.ts mounts them. */
const extras = apiExtraGroups({ db, secrets, fetch, webhooks, quota, log });
const server = createServerApp({
  db,
  metrics: createMetrics(),
  adminToken: ADMIN_TOKEN,
  guard: { host: '127.0.0.1' },
  api: createApi({ db, secrets, adminToken: ADMIN_TOKEN, log }),
  apiExtras: extras,
  hooks: webhookReceiver(webhooks, log),
  proxy: new Hono(),
});

type Doc = {
  paths: Record<string, Record<string, Operation>>;
  components: { schemas: Record<string, JsonSchema> };
};
type Operation = {
  parameters?: { name: string; in: string }[];
  requestBody?: { content: Record<string, { schema: JsonSchema }> };
  responses: Record<string, { content?: Record<string, { schema: JsonSchema }> }>;
  security?: unknown[];
};
type JsonSchema = { $ref?: string; properties?: Record<string, JsonSchema>; [k: string]: unknown };

const METHODS = ['get', 'post', 'put', 'patch', 'delete'];

async function servedDocument(): Promise<Doc> {
  // Public, like createApi's own answer: no token.
  const res = await server.request('/api/openapi.json');
  expect(res.status).toBe(200);
  return (await res.json()) as Doc;
}

/** `POST /api/schemas/:id/reload` → `POST /schemas/{id}/reload`, as the document (servers: /api) names it. */
function mountedApiRoutes(): string[] {
  const out = new Set<string>();
  for (const r of server.routes) {
    if (r.method === 'ALL' || !r.path.startsWith('/api/')) continue; // middleware and catch-alls
    out.add(`${r.method} ${r.path.slice('/api'.length).replace(/:(\w+)/g, '{$1}')}`);
  }
  return [...out].sort();
}

function documentedRoutes(doc: Doc): string[] {
  const out: string[] = [];
  for (const [path, item] of Object.entries(doc.paths)) {
    for (const method of Object.keys(item)) {
      if (METHODS.includes(method)) out.push(`${method.toUpperCase()} ${path}`);
    }
  }
  return out.sort();
}

/** Every schema reachable from `schema`, following $refs into the components. */
function reachable(doc: Doc, schema: JsonSchema, seen = new Set<unknown>()): JsonSchema[] {
  if (schema === null || typeof schema !== 'object' || seen.has(schema)) return [];
  seen.add(schema);
  const out = [schema];
  if (typeof schema.$ref === 'string') {
    const target = doc.components.schemas[schema.$ref.replace('#/components/schemas/', '')];
    expect(target, `dangling ${schema.$ref}`).toBeDefined();
    out.push(...reachable(doc, target, seen));
  }
  for (const v of Object.values(schema)) {
    for (const child of Array.isArray(v) ? v : [v]) {
      if (child && typeof child === 'object') out.push(...reachable(doc, child as JsonSchema, seen));
    }
  }
  return out;
}

/** Property names that would carry a secret (`has_token`, a flag, is fine to show). */
const isSecretName = (k: string) => k === 'token' || /secret|^mac/i.test(k);

describe('the OpenAPI document', () => {
  it('documents exactly the /api routes the server mounts', async () => {
    const doc = await servedDocument();
    const mounted = mountedApiRoutes();
    // The walk sees the extra groups, not just createApi.
    expect(mounted).toEqual(
      expect.arrayContaining([
        'POST /subscriptions/{id}/dead-letters/{eventId}/replay',
        'DELETE /sources/{id}/webhook',
        'PATCH /schemas/{id}',
        'GET /quota',
        'PUT /quota/{token_key}',
      ]),
    );
    expect(documentedRoutes(doc)).toEqual(mounted);
  });

  it('declares every path parameter it uses, and answers 401 wherever a token is needed', async () => {
    const doc = await servedDocument();
    for (const [path, item] of Object.entries(doc.paths)) {
      const names = [...path.matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort();
      for (const [method, op] of Object.entries(item)) {
        const where = `${method.toUpperCase()} ${path}`;
        const params = (op.parameters ?? []).filter((p) => p.in === 'path').map((p) => p.name);
        expect(params.sort(), where).toEqual(names);
        const success = Object.keys(op.responses).filter((s) => s.startsWith('2'));
        expect(success.length, where).toBeGreaterThan(0);
        if (path !== '/openapi.json') expect(op.responses['401'], where).toBeDefined();
      }
    }
  });

  it('answers 401 on the documented extra routes without the token, as documented', async () => {
    for (const path of ['/api/subscriptions', '/api/sources/any/webhook', '/api/quota']) {
      const res = await server.request(path);
      expect(res.status).toBe(401);
      expect(await res.json()).toMatchObject({ type: 'authentication_error', attr: null });
    }
  });

  it('documents request bodies from the validating schemas', async () => {
    const doc = await servedDocument();
    const create = doc.paths['/subscriptions'].post.requestBody!.content['application/json'].schema;
    expect(create.$ref).toBe('#/components/schemas/CreateSubscriptionRequest');
    const schema = doc.components.schemas.CreateSubscriptionRequest;
    expect(schema.additionalProperties).toBe(false);
    expect(schema.required).toEqual(['url', 'secret']);
    const eventTypes = JSON.stringify(schema.properties!.event_types);
    for (const t of EVENT_TYPES) expect(eventTypes).toContain(`"${t}"`);
    expect(schema.properties!.secret).toMatchObject({ minLength: 16, maxLength: 512, writeOnly: true });
    const bodyOf = (path: string) =>
      doc.paths[path].post.requestBody!.content['application/json'].schema.$ref;
    expect(bodyOf('/sources/{id}/webhook')).toBe('#/components/schemas/WebhookRequest');
    expect(doc.components.schemas.WebhookRequest.additionalProperties).toBe(false);
    // PostHog's update-webhook-inputs shape, under both names.
    for (const path of ['/sources/{id}/webhook/inputs', '/sources/{id}/update-webhook-inputs']) {
      expect(bodyOf(path)).toBe('#/components/schemas/WebhookInputsRequest');
    }
    const inputs = doc.components.schemas.WebhookInputsRequest.properties!.inputs;
    expect(inputs.properties!.signing_secret).toMatchObject({ type: 'string', writeOnly: true });
    expect(JSON.stringify(doc)).not.toContain('$defs');
  });

  it('keeps secrets write-only: in request schemas, in no response schema', async () => {
    const doc = await servedDocument();
    const secretsIn = (schema: JsonSchema) =>
      reachable(doc, schema).flatMap((s) => Object.keys(s.properties ?? {}).filter(isSecretName));
    const requested: string[] = [];
    let responses = 0;
    for (const item of Object.values(doc.paths)) {
      for (const op of Object.values(item)) {
        for (const media of Object.values(op.requestBody?.content ?? {}))
          requested.push(...secretsIn(media.schema));
        for (const [status, res] of Object.entries(op.responses)) {
          for (const media of Object.values(res.content ?? {})) {
            responses++;
            expect(secretsIn(media.schema), `a ${status} answer documents a secret`).toEqual([]);
          }
        }
      }
    }
    expect(responses).toBeGreaterThan(40);
    // The Airtable token of a source (created, rotated), a subscription's signing secret and a
    // webhook's MAC secret (PostHog's signing_secret input) are sent, never shown
    // (secret_overlap_seconds only names one: how long a replaced one still signs).
    expect([...new Set(requested)].sort()).toEqual([
      'secret',
      'secret_overlap_seconds',
      'signing_secret',
      'token',
    ]);
  });
});
