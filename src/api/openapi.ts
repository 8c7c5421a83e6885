/**
 * `GET /api/openapi.json`, generated from the zod schemas in model.ts — the same ones that
 * validate requests — so the document and the enforcement cannot disagree.
 */
import { z } from 'zod';
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

const COMPONENTS = {
  CreateSourceRequest,
  PatchSchemaRequest,
  Source: SourceResponse,
  Schema: SchemaResponse,
  PatchSchemaResponse,
  IncrementalFields: IncrementalFieldsResponse,
  Status: StatusResponse,
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
        'Sources (Airtable bases) and schemas (per-table sync configuration), modelled on PostHog ExternalDataSource/ExternalDataSchema. Errors: {type, code, detail, attr}.',
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
          summary: 'Per-table sync status',
          parameters: [{ name: 'source_id', in: 'query', required: false, schema: { type: 'string' } }],
          responses: { '200': json(ref('Status')), ...errors },
        },
      },
      '/openapi.json': {
        get: { summary: 'This document', security: [], responses: { '200': { description: 'OK' } } },
      },
    },
  };
  return cached;
}
