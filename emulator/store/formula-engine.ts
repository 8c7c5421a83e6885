/**
 * The slice of the formula language (emulator/formula, a colleague's part) the store needs.
 * Injected rather than imported so the store does not depend on how the language is built.
 */
export interface FormulaField {
  id: string;
  name: string;
  type: string;
}

export interface FormulaContextLike {
  recordId: string;
  createdTime: string;
  lastModifiedTime(fieldIds?: string[]): string | null;
  getCell(fieldId: string): unknown;
  now: number;
}

export interface CompiledFormulaLike {
  evaluate(ctx: FormulaContextLike): unknown;
  referencedFieldIds: string[];
}

export interface FormulaEngine {
  compileFormula(text: string, resolve: (nameOrId: string) => FormulaField | undefined): CompiledFormulaLike;
  isTruthy(value: unknown): boolean;
  /** True when `err` is the language's compile error (→ 422 INVALID_FILTER_BY_FORMULA). */
  isFormulaError(err: unknown): boolean;
}
