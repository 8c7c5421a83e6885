import { compileFormula, FormulaError, isTruthy } from './formula/index.ts';
import type { FormulaEngine } from './store/formula-engine.ts';

/** The colleague-owned formula language (emulator/formula) plugged into the store. */
export const formulaEngine: FormulaEngine = {
  compileFormula,
  isTruthy,
  isFormulaError: (err) => err instanceof FormulaError,
};
