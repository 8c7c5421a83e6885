/**
 * The two ways a formula fails. A FormulaError is a *compile* error (bad syntax, unknown field or
 * function, wrong arity): the emulator answers 422 INVALID_FILTER_BY_FORMULA. A
 * FormulaRuntimeError is raised while evaluating one record (ERROR(), a bad date, ...) and becomes
 * the cell error value `{ error: '#ERROR!' }` (docs/airtable-reference.md §2.4) — it never escapes
 * `evaluate`.
 */
export class FormulaError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'FormulaError';
  }
}

export class FormulaRuntimeError extends Error {
  constructor(message = '#ERROR!') {
    super(message);
    this.name = 'FormulaRuntimeError';
  }
}
