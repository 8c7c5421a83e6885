import { compileFormula, type FormulaContext } from '../../formula/index.ts';

export interface TestField {
  id: string;
  name: string;
  type: string;
}

export const FIELDS: TestField[] = [
  { id: 'fldName0000000001', name: 'Name', type: 'singleLineText' },
  { id: 'fldNotes000000001', name: 'Long Notes', type: 'multilineText' },
  { id: 'fldCount000000001', name: 'Count', type: 'number' },
  { id: 'fldPrice000000001', name: 'Price', type: 'currency' },
  { id: 'fldDone0000000001', name: 'Done', type: 'checkbox' },
  { id: 'fldStatus00000001', name: 'Status', type: 'singleSelect' },
  { id: 'fldTags0000000001', name: 'Tags', type: 'multipleSelects' },
  { id: 'fldDue00000000001', name: 'Due Date', type: 'date' },
  { id: 'fldWhen0000000001', name: 'When', type: 'dateTime' },
  { id: 'fldLastMod0000001', name: 'Last Modified', type: 'lastModifiedTime' },
  { id: 'fldOwner000000001', name: 'Owner', type: 'singleCollaborator' },
  { id: 'fldPeople00000001', name: 'People', type: 'multipleCollaborators' },
  { id: 'fldFiles000000001', name: 'Files', type: 'multipleAttachments' },
  { id: 'fldLinks000000001', name: 'Links', type: 'multipleRecordLinks' },
  { id: 'fldLookup00000001', name: 'Lookup', type: 'multipleLookupValues' },
  { id: 'fldFormula0000001', name: 'Broken Formula', type: 'formula' },
  { id: 'fldBarcode0000001', name: 'Barcode', type: 'barcode' },
  { id: 'fldBrace000000001', name: 'Odd {name}', type: 'singleLineText' },
];

export function resolve(nameOrId: string): TestField | undefined {
  return FIELDS.find((f) => f.id === nameOrId || f.name === nameOrId);
}

export interface RecordSpec {
  id?: string;
  createdTime?: string;
  /** Cells keyed by field name. */
  cells?: Record<string, unknown>;
  /** Last user edit per field name; LAST_MODIFIED_TIME() is the max over the asked fields. */
  edits?: Record<string, string>;
  now?: string;
}

export function context(spec: RecordSpec = {}): FormulaContext {
  const byId = new Map<string, unknown>();
  for (const [name, value] of Object.entries(spec.cells ?? {})) byId.set(resolve(name)!.id, value);
  const edits = new Map<string, string>();
  for (const [name, iso] of Object.entries(spec.edits ?? {})) edits.set(resolve(name)!.id, iso);
  return {
    recordId: spec.id ?? 'recAAAAAAAAAAAAAA',
    createdTime: spec.createdTime ?? '2024-01-01T00:00:00.000Z',
    now: Date.parse(spec.now ?? '2024-02-10T12:34:56.789Z'),
    getCell: (id) => byId.get(id),
    lastModifiedTime(ids) {
      const times = [...edits].filter(([id]) => !ids || ids.includes(id)).map(([, t]) => t);
      return times.length ? times.sort().at(-1)! : null;
    },
  };
}

/** Compile and evaluate against one record. */
export function run(formula: string, spec: RecordSpec = {}): unknown {
  return compileFormula(formula, resolve).evaluate(context(spec));
}
