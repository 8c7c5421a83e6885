import { makeId, type Rng } from '../ids.ts';
import { invalidValue, airtableError, rowDoesNotExist } from '../errors.ts';
import type { StoredBase } from './base.ts';
import { isComputedType, isEmptyCell } from './cell-values.ts';
import type { StoredTable } from './table.ts';
import type { Collaborator, StoredField } from './types.ts';

export interface WriteContext {
  base: StoredBase;
  table: StoredTable;
  typecast: boolean;
  rng: Rng;
  /** The cell's current value (attachments kept by `{id}` are resolved against it). */
  current: unknown;
  /** Called when typecast created a select option, so the change can be reported. */
  onSchemaChange?: (field: StoredField) => void;
}

const cannotAccept = (f: StoredField, v: unknown) =>
  invalidValue(`Field "${f.name}" cannot accept the provided value: ${JSON.stringify(v)?.slice(0, 200)}`);

const SELECT_COLORS = [
  'blueLight2',
  'cyanLight2',
  'tealLight2',
  'greenLight2',
  'yellowLight2',
  'orangeLight2',
  'redLight2',
  'pinkLight2',
  'purpleLight2',
  'grayLight2',
];

function selectOption(f: StoredField, name: string, ctx: WriteContext): string {
  const choices = ((f.options ??= {}).choices ??= []) as Array<{ id: string; name: string; color?: string }>;
  if (choices.some((c) => c.name === name)) return name;
  if (!ctx.typecast) {
    // docs/airtable-reference.md §1.3/§3.3: unknown option without typecast →
    // INVALID_MULTIPLE_CHOICE_OPTIONS.
    throw airtableError(
      422,
      'INVALID_MULTIPLE_CHOICE_OPTIONS',
      `Insufficient permissions to create new select option ""${name}""`,
    );
  }
  choices.push({
    id: makeId('sel', ctx.rng),
    name,
    color: SELECT_COLORS[choices.length % SELECT_COLORS.length],
  });
  ctx.onSchemaChange?.(f);
  return name;
}

function toNumber(f: StoredField, v: unknown, typecast: boolean): number {
  if (typeof v === 'number' && Number.isFinite(v)) return v;
  if (
    typecast &&
    typeof v === 'string' &&
    v.trim() !== '' &&
    Number.isFinite(Number(v.replace(/[,$%\s]/g, '')))
  ) {
    return Number(v.replace(/[,$%\s]/g, ''));
  }
  throw cannotAccept(f, v);
}

function toCollaborator(f: StoredField, v: unknown, base: StoredBase): Collaborator {
  const key =
    typeof v === 'string'
      ? v
      : typeof v === 'object' && v !== null
        ? ((v as { id?: string; email?: string }).id ?? (v as { email?: string }).email)
        : undefined;
  const c = key ? base.collaborators.find((u) => u.id === key || u.email === key) : undefined;
  if (!c) throw cannotAccept(f, v);
  return { ...c };
}

function toDate(f: StoredField, v: unknown, typecast: boolean): string {
  if (typeof v === 'string' && /^\d{4}-\d{2}-\d{2}$/.test(v)) return v;
  if (typecast && typeof v === 'string' && !Number.isNaN(Date.parse(v)))
    return new Date(v).toISOString().slice(0, 10);
  if (typeof v === 'string' && /^\d{4}-\d{2}-\d{2}T/.test(v) && !Number.isNaN(Date.parse(v)))
    return v.slice(0, 10);
  throw cannotAccept(f, v);
}

function toDateTime(f: StoredField, v: unknown): string {
  if (typeof v === 'string' && !Number.isNaN(Date.parse(v))) {
    // Offset-less input would be read in the field's time zone (docs/airtable-reference.md §3.3); the
    // emulator treats every field as UTC, so append Z when no offset is given.
    const withZone = /([zZ]|[+-]\d{2}:?\d{2})$/.test(v) || /^\d{4}-\d{2}-\d{2}$/.test(v) ? v : v + 'Z';
    const d = new Date(withZone);
    if (!Number.isNaN(d.getTime())) return d.toISOString();
  }
  if (typeof v === 'number' && Number.isFinite(v)) return new Date(v).toISOString();
  throw cannotAccept(f, v);
}

function toAttachment(f: StoredField, v: unknown, ctx: WriteContext): Record<string, unknown> {
  if (typeof v !== 'object' || v === null) throw cannotAccept(f, v);
  const item = v as { id?: string; url?: string; filename?: string };
  if (item.id && !item.url) {
    const existing = (Array.isArray(ctx.current) ? ctx.current : []).find(
      (a: { id?: string }) => a.id === item.id,
    );
    if (!existing) throw cannotAccept(f, v);
    return existing as Record<string, unknown>;
  }
  if (typeof item.url !== 'string' || !/^https?:\/\//.test(item.url)) throw cannotAccept(f, v);
  const id = makeId('att', ctx.rng);
  const filename = item.filename ?? item.url.split('/').pop()?.split('?')[0] ?? 'file';
  const type = /\.(png)$/i.test(filename)
    ? 'image/png'
    : /\.(jpe?g)$/i.test(filename)
      ? 'image/jpeg'
      : 'application/octet-stream';
  const url = (size: string) =>
    `https://v5.airtableusercontent.com/emulator/${id}/${size}/${encodeURIComponent(filename)}`;
  const out: Record<string, unknown> = { id, url: url('full'), filename, size: 0, type };
  // Images get width/height and thumbnails (docs/airtable-reference.md §3.3); the emulator never downloads
  // the file.
  if (type.startsWith('image/')) {
    Object.assign(out, {
      width: 1024,
      height: 768,
      thumbnails: {
        small: { url: url('small'), width: 48, height: 36 },
        large: { url: url('large'), width: 512, height: 384 },
        full: { url: url('full'), width: 1024, height: 768 },
      },
    });
  }
  return out;
}

/**
 * Validate (and with `typecast`, convert) one written value into the stored REST value, or
 * undefined for an empty cell. Computed fields are refused (docs/airtable-reference.md §1.4).
 */
export function acceptCell(f: StoredField, v: unknown, ctx: WriteContext): unknown {
  if (isComputedType(f.type) || !KNOWN_WRITABLE.has(f.type)) {
    throw invalidValue(`Field "${f.name}" cannot accept a value because the field is computed`);
  }
  if (v === null || v === undefined || v === '' || (Array.isArray(v) && v.length === 0)) return undefined;
  const tc = ctx.typecast;
  switch (f.type) {
    case 'singleLineText':
    case 'multilineText':
    case 'richText':
    case 'email':
    case 'url':
    case 'phoneNumber':
      if (typeof v === 'string') return v;
      if (tc && (typeof v === 'number' || typeof v === 'boolean')) return String(v);
      throw cannotAccept(f, v);
    case 'number':
    case 'percent':
    case 'currency':
    case 'duration':
      return toNumber(f, v, tc);
    case 'rating': {
      const n = toNumber(f, v, tc);
      const max = (f.options?.max as number | undefined) ?? 5;
      if (!Number.isInteger(n) || n < 0 || n > max) throw cannotAccept(f, v);
      return n === 0 ? undefined : n;
    }
    case 'checkbox':
      if (typeof v === 'boolean') return v || undefined;
      if (tc) return ['true', '1', 'yes', 'checked', 'on'].includes(String(v).toLowerCase()) || undefined;
      throw cannotAccept(f, v);
    case 'date':
      return toDate(f, v, tc);
    case 'dateTime':
      return toDateTime(f, v);
    case 'singleSelect':
      if (typeof v !== 'string') throw cannotAccept(f, v);
      return selectOption(f, v, ctx);
    case 'multipleSelects': {
      const items = Array.isArray(v)
        ? v
        : tc && typeof v === 'string'
          ? v.split(',').map((s) => s.trim())
          : null;
      if (!items || items.some((s) => typeof s !== 'string')) throw cannotAccept(f, v);
      return [...new Set(items as string[])].filter((s) => s !== '').map((s) => selectOption(f, s, ctx));
    }
    case 'singleCollaborator':
      return toCollaborator(f, v, ctx.base);
    case 'multipleCollaborators': {
      if (!Array.isArray(v)) throw cannotAccept(f, v);
      return v.map((x) => toCollaborator(f, x, ctx.base));
    }
    case 'multipleRecordLinks': {
      const items = Array.isArray(v) ? v : tc && typeof v === 'string' ? [v] : null;
      if (!items || items.some((s) => typeof s !== 'string')) throw cannotAccept(f, v);
      const target = ctx.base.tables.find((t) => t.id === f.options?.linkedTableId);
      for (const id of items as string[]) if (!target?.has(id)) throw rowDoesNotExist(id);
      return [...new Set(items as string[])];
    }
    case 'multipleAttachments':
      if (!Array.isArray(v)) throw cannotAccept(f, v);
      return v.map((x) => toAttachment(f, x, ctx));
    case 'barcode':
      if (typeof v === 'object' && v !== null && typeof (v as { text?: unknown }).text === 'string') {
        const b = v as { text: string; type?: string | null };
        return b.type === undefined ? { text: b.text } : { text: b.text, type: b.type };
      }
      if (tc && typeof v === 'string') return { text: v };
      throw cannotAccept(f, v);
  }
  throw cannotAccept(f, v);
}

const KNOWN_WRITABLE = new Set([
  'singleLineText',
  'multilineText',
  'richText',
  'email',
  'url',
  'phoneNumber',
  'number',
  'percent',
  'currency',
  'duration',
  'rating',
  'checkbox',
  'date',
  'dateTime',
  'singleSelect',
  'multipleSelects',
  'singleCollaborator',
  'multipleCollaborators',
  'multipleRecordLinks',
  'multipleAttachments',
  'barcode',
]);

export { isEmptyCell };
