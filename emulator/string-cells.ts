/**
 * A cell as `cellFormat=string` shows it: user-facing text. docs/airtable-reference.md §1.1 calls
 * this format unstable and not to be mirrored, so the emulator only aims at the obvious renderings.
 */
export function stringCell(v: unknown): string {
  if (v === undefined || v === null) return '';
  if (typeof v === 'string') return v;
  if (typeof v === 'number') return String(v);
  if (typeof v === 'boolean') return v ? 'checked' : '';
  if (Array.isArray(v)) return v.map(stringCell).join(', ');
  if (typeof v === 'object') {
    const o = v as Record<string, unknown>;
    if ('error' in o) return String(o.error);
    if ('specialValue' in o) return String(o.specialValue);
    for (const k of ['name', 'label', 'text', 'filename', 'value', 'email', 'id']) {
      if (typeof o[k] === 'string') return o[k] as string;
    }
    return JSON.stringify(o);
  }
  return String(v);
}
