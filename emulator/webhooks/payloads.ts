import type {
  WebhookCellValues,
  WebhookPayload,
  WebhookSpecification,
  WebhookTableChanges,
} from '../types.ts';
import type { StoreChange, TableChange } from '../store/changes.ts';
import type { BaseView } from './base-view.ts';
import { toV2, type V2Context } from './v2-cells.ts';

export type HookOptions = WebhookSpecification['options'];

/** The table a hook's `recordChangeScope` resolves to (a view scopes to its table, plus the view). */
export interface HookScope {
  tableId?: string;
  viewId?: string;
}

/**
 * v0 payload from one store change, as a hook's specification sees it (docs/airtable-reference.md §4.2,
 * docs/airtable-reference.md §4.7), or undefined when the filters leave nothing. Pure: everything it reads comes from the arguments.
 *
 * Choices docs/airtable-reference.md leaves open (documented, not claimed as Airtable facts):
 * - `watchDataInFieldIds`: a changed record qualifies when one of its changed cells is watched,
 *   and then carries all its changed cells; created and destroyed records always qualify.
 * - `watchSchemasOfFieldIds` filters created/changed/destroyed fields to the listed ids.
 * - A view scope reports the table's record changes and repeats them under `changedViewsById`
 *   (the emulator does not track view membership).
 * - Created tables carry `metadata` / `fieldsById` / `recordsById` according to `dataTypes`.
 */
export function buildPayload(
  change: StoreChange,
  options: HookOptions,
  scope: HookScope,
  view: BaseView,
  baseTransactionNumber: number,
): WebhookPayload | undefined {
  const { filters } = options;
  if (filters.fromSources && !filters.fromSources.includes(change.source)) return undefined;
  const types = new Set(filters.dataTypes);
  const allowed = (t: 'add' | 'remove' | 'update') => !filters.changeTypes || filters.changeTypes.includes(t);

  const changedTablesById: Record<string, WebhookTableChanges> = {};
  for (const [tableId, tc] of Object.entries(change.tables)) {
    if (scope.tableId && tableId !== scope.tableId) continue;
    const out: WebhookTableChanges = {};
    if (types.has('tableData')) Object.assign(out, recordChanges(tableId, tc, options, view, allowed));
    if (types.has('tableFields')) Object.assign(out, fieldChanges(tc, options, allowed));
    if (types.has('tableMetadata') && tc.changedMetadata && allowed('update')) {
      out.changedMetadata = {
        current: { ...tc.changedMetadata.current },
        previous: { ...tc.changedMetadata.previous },
      };
    }
    if (scope.viewId && types.has('tableData')) {
      const inView: Record<string, unknown> = {};
      for (const key of ['createdRecordsById', 'changedRecordsById', 'destroyedRecordIds'] as const) {
        if (out[key]) inView[key] = out[key];
      }
      if (Object.keys(inView).length) out.changedViewsById = { [scope.viewId]: inView };
    }
    if (Object.keys(out).length) changedTablesById[tableId] = out;
  }

  const payload: WebhookPayload = {
    timestamp: change.timestamp,
    baseTransactionNumber,
    payloadFormat: 'v0',
    actionMetadata: actionMetadata(change, view),
  };
  if (Object.keys(changedTablesById).length) payload.changedTablesById = changedTablesById;
  if (!scope.tableId && change.createdTables?.length && allowed('add')) {
    const created: Record<string, unknown> = {};
    for (const t of change.createdTables) {
      const entry: Record<string, unknown> = {};
      if (types.has('tableMetadata')) entry.metadata = { name: t.name, description: t.description };
      if (types.has('tableFields')) {
        entry.fieldsById = Object.fromEntries(t.fields.map((f) => [f.id, { name: f.name, type: f.type }]));
      }
      if (types.has('tableData')) entry.recordsById = {};
      created[t.id] = entry;
    }
    payload.createdTablesById = created;
  }
  if (!scope.tableId && change.destroyedTableIds?.length && allowed('remove')) {
    payload.destroyedTableIds = [...change.destroyedTableIds];
  }
  const hasContent = payload.changedTablesById || payload.createdTablesById || payload.destroyedTableIds;
  return hasContent ? payload : undefined;
}

/**
 * The error payload a hook emits when its specification stops being valid (docs/airtable-reference.md §4.6,
 * docs/airtable-reference.md §4.7).
 */
export function errorPayload(
  change: StoreChange,
  view: BaseView,
  baseTransactionNumber: number,
  code: string,
): WebhookPayload {
  return {
    timestamp: change.timestamp,
    baseTransactionNumber,
    payloadFormat: 'v0',
    actionMetadata: actionMetadata(change, view),
    error: true,
    code,
  };
}

/**
 * Whether `change` invalidated the hook's specification: its scoped table or view, or a watched
 * field, no longer exists (docs/airtable-reference.md §4.2, §4.6). Returns the error code, or undefined.
 * Fields named only in `includeCellValuesInFieldIds` do not count ("harmless", docs/airtable-reference.md §4.2).
 */
export function invalidation(
  change: StoreChange,
  options: HookOptions,
  scope: HookScope,
  view: BaseView,
): string | undefined {
  const destroysSomething =
    (change.destroyedTableIds?.length ?? 0) > 0 ||
    Object.values(change.tables).some((t) => (t.destroyedFieldIds?.length ?? 0) > 0);
  if (!destroysSomething) return undefined;
  if (scope.tableId && !view.hasTable(scope.tableId)) return 'INVALID_HOOK';
  if (scope.viewId && view.tableOfView(scope.viewId) === undefined) return 'INVALID_HOOK';
  const watched = [
    ...(options.filters.watchDataInFieldIds ?? []),
    ...(options.filters.watchSchemasOfFieldIds ?? []),
  ];
  if (watched.some((id) => !view.hasField(id))) return 'INVALID_HOOK';
  return undefined;
}

function actionMetadata(change: StoreChange, view: BaseView): WebhookPayload['actionMetadata'] {
  if (change.source === 'client' || change.source === 'publicApi') {
    const c = view.collaborator(change.userId);
    const user: Record<string, unknown> = {
      id: change.userId,
      email: c?.email ?? '',
      permissionLevel: 'create',
    };
    if (c?.name) user.name = c.name;
    return { source: change.source, sourceMetadata: { user } };
  }
  return { source: change.source };
}

function recordChanges(
  tableId: string,
  tc: TableChange,
  options: HookOptions,
  view: BaseView,
  allowed: (t: 'add' | 'remove' | 'update') => boolean,
): WebhookTableChanges {
  const out: WebhookTableChanges = {};
  const { includes = {}, filters } = options;
  const field = (id: string) => view.field(tableId, id);

  if (tc.createdRecords?.length && allowed('add')) {
    out.createdRecordsById = {};
    for (const r of tc.createdRecords) {
      const ctx = v2Context(view, tableId, r.id, (fid) => r.cells[fid]);
      out.createdRecordsById[r.id] = {
        createdTime: r.createdTime,
        cellValuesByFieldId: convert(r.cells, field, ctx),
      };
    }
  }

  if (tc.changedRecords?.length && allowed('update')) {
    const watch = filters.watchDataInFieldIds;
    const include = includes.includeCellValuesInFieldIds;
    const changed: NonNullable<WebhookTableChanges['changedRecordsById']> = {};
    for (const r of tc.changedRecords) {
      if (watch && !Object.keys(r.current).some((fid) => watch.includes(fid))) continue;
      const currentCell = (fid: string) =>
        fid in r.current ? r.current[fid] : view.cell(tableId, r.id, fid);
      const previousCell = (fid: string) => (fid in r.previous ? r.previous[fid] : currentCell(fid));
      const entry: {
        current: WebhookCellValues;
        previous?: WebhookCellValues;
        unchanged?: WebhookCellValues;
      } = {
        current: {
          cellValuesByFieldId: convert(r.current, field, v2Context(view, tableId, r.id, currentCell)),
        },
      };
      if (includes.includePreviousCellValues) {
        entry.previous = {
          cellValuesByFieldId: convert(r.previous, field, v2Context(view, tableId, r.id, previousCell)),
        };
      }
      if (include) {
        const ids = include === 'all' ? view.fieldIds(tableId) : include;
        const unchanged: Record<string, unknown> = {};
        for (const fid of ids) {
          if (fid in r.current || !field(fid)) continue;
          unchanged[fid] = view.cell(tableId, r.id, fid) ?? null;
        }
        if (Object.keys(unchanged).length) {
          entry.unchanged = {
            cellValuesByFieldId: convert(unchanged, field, v2Context(view, tableId, r.id, currentCell)),
          };
        }
      }
      changed[r.id] = entry;
    }
    if (Object.keys(changed).length) out.changedRecordsById = changed;
  }

  if (tc.destroyedRecordIds?.length && allowed('remove')) out.destroyedRecordIds = [...tc.destroyedRecordIds];
  return out;
}

function fieldChanges(
  tc: TableChange,
  options: HookOptions,
  allowed: (t: 'add' | 'remove' | 'update') => boolean,
): WebhookTableChanges {
  const out: WebhookTableChanges = {};
  const watch = options.filters.watchSchemasOfFieldIds;
  const watched = (id: string) => !watch || watch.includes(id);
  const created = (tc.createdFields ?? []).filter((f) => watched(f.id));
  if (created.length && allowed('add')) {
    out.createdFieldsById = Object.fromEntries(created.map((f) => [f.id, { name: f.name, type: f.type }]));
  }
  const changed = (tc.changedFields ?? []).filter((f) => watched(f.id));
  if (changed.length && allowed('update')) {
    out.changedFieldsById = Object.fromEntries(
      changed.map((f) => [
        f.id,
        options.includes?.includePreviousFieldDefinitions
          ? { current: { ...f.current }, previous: { ...f.previous } }
          : { current: { ...f.current } },
      ]),
    );
  }
  const destroyed = (tc.destroyedFieldIds ?? []).filter(watched);
  if (destroyed.length && allowed('remove')) out.destroyedFieldIds = destroyed;
  return out;
}

function v2Context(
  view: BaseView,
  tableId: string,
  recordId: string,
  cell: (fid: string) => unknown,
): V2Context {
  return {
    view,
    tableId,
    recordId,
    linkCell: (fid) => {
      const v = cell(fid);
      return Array.isArray(v) ? (v as string[]) : [];
    },
  };
}

function convert(
  cells: Record<string, unknown>,
  field: (id: string) => ReturnType<BaseView['field']>,
  ctx: V2Context,
): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [fid, v] of Object.entries(cells)) out[fid] = toV2(field(fid), v, ctx);
  return out;
}
