import type { WebhookSpecification } from '../types.ts';
import { invalidRequest } from '../errors.ts';
import type { BaseView } from './base-view.ts';
import type { HookScope } from './payloads.ts';

const DATA_TYPES = ['tableData', 'tableFields', 'tableMetadata'];
const CHANGE_TYPES = ['add', 'remove', 'update'];
const SOURCES = [
  'client',
  'publicApi',
  'formSubmission',
  'formPageSubmission',
  'automation',
  'system',
  'sync',
  'anonymousUser',
  'unknown',
];

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

function stringList(v: unknown, what: string, allowed?: string[]): string[] | undefined {
  if (v === undefined) return undefined;
  if (!Array.isArray(v) || v.some((x) => typeof x !== 'string' || (allowed && !allowed.includes(x)))) {
    throw invalidRequest(`Invalid ${what}${allowed ? `: allowed values are ${allowed.join(', ')}` : ''}`);
  }
  return v as string[];
}

/**
 * Validates a create-webhook body (docs/airtable-reference.md §4.1, §4.2) against the base, and returns the
 * normalised specification and the scope it resolves to. Failures are 422 INVALID_REQUEST_UNKNOWN
 * with a message naming the bad part (the exact Airtable error types here are not documented).
 */
export function parseCreateBody(
  body: unknown,
  view: BaseView,
): { notificationUrl: string | null; specification: WebhookSpecification; scope: HookScope } {
  if (!isObject(body)) throw invalidRequest('Request body must be a JSON object');
  let notificationUrl: string | null = null;
  if (body.notificationUrl !== undefined && body.notificationUrl !== null) {
    const url = body.notificationUrl;
    if (typeof url !== 'string' || !/^https?:\/\//i.test(url) || !URL.canParse(url)) {
      throw invalidRequest('notificationUrl must be an http(s) URL');
    }
    notificationUrl = url;
  }
  const spec = body.specification;
  if (!isObject(spec) || !isObject(spec.options) || !isObject(spec.options.filters)) {
    throw invalidRequest('specification.options.filters is required');
  }
  const f = spec.options.filters;
  const dataTypes = stringList(f.dataTypes, 'filters.dataTypes', DATA_TYPES);
  if (!dataTypes || dataTypes.length === 0)
    throw invalidRequest('filters.dataTypes must list at least one data type');

  const filters: WebhookSpecification['options']['filters'] = {
    dataTypes: dataTypes as WebhookSpecification['options']['filters']['dataTypes'],
  };
  const scope: HookScope = {};
  if (f.recordChangeScope !== undefined) {
    const id = f.recordChangeScope;
    if (typeof id !== 'string') throw invalidRequest('filters.recordChangeScope must be a table or view id');
    if (id.startsWith('tbl') && view.hasTable(id)) scope.tableId = id;
    else if (id.startsWith('viw') && view.tableOfView(id))
      Object.assign(scope, { tableId: view.tableOfView(id), viewId: id });
    else throw invalidRequest(`filters.recordChangeScope ${id} is not a table or view of this base`);
    filters.recordChangeScope = id;
  }
  const changeTypes = stringList(f.changeTypes, 'filters.changeTypes', CHANGE_TYPES);
  if (changeTypes) filters.changeTypes = changeTypes as typeof filters.changeTypes;
  const fromSources = stringList(f.fromSources, 'filters.fromSources', SOURCES);
  if (fromSources) filters.fromSources = fromSources;
  if (f.sourceOptions !== undefined) {
    if (!isObject(f.sourceOptions)) throw invalidRequest('filters.sourceOptions must be an object');
    filters.sourceOptions = f.sourceOptions;
  }
  for (const key of ['watchDataInFieldIds', 'watchSchemasOfFieldIds'] as const) {
    const ids = stringList(f[key], `filters.${key}`);
    if (!ids) continue;
    const missing = ids.filter(
      (id) => !view.hasField(id) || (scope.tableId && !view.field(scope.tableId, id)),
    );
    if (missing.length) throw invalidRequest(`filters.${key}: unknown field ids ${missing.join(', ')}`);
    filters[key] = ids;
  }

  const specification: WebhookSpecification = { options: { filters } };
  const inc = spec.options.includes;
  if (inc !== undefined) {
    if (!isObject(inc)) throw invalidRequest('specification.options.includes must be an object');
    const includes: NonNullable<WebhookSpecification['options']['includes']> = {};
    if (inc.includeCellValuesInFieldIds !== undefined) {
      includes.includeCellValuesInFieldIds =
        inc.includeCellValuesInFieldIds === 'all'
          ? 'all'
          : stringList(inc.includeCellValuesInFieldIds, 'includes.includeCellValuesInFieldIds');
    }
    for (const key of ['includePreviousCellValues', 'includePreviousFieldDefinitions'] as const) {
      if (inc[key] === undefined) continue;
      if (typeof inc[key] !== 'boolean') throw invalidRequest(`includes.${key} must be a boolean`);
      includes[key] = inc[key];
    }
    specification.options.includes = includes;
  }
  return { notificationUrl, specification, scope };
}
