import { describe, expect, it } from 'vitest';
import { compileFormula, FormulaError } from '../../formula/index.ts';
import { resolve, run } from './helpers.ts';

function compileError(formula: string): string {
  try {
    compileFormula(formula, resolve);
  } catch (err) {
    expect(err).toBeInstanceOf(FormulaError);
    return (err as Error).message;
  }
  throw new Error(`expected ${formula} not to compile`);
}

describe('formula parsing', () => {
  it('applies operator precedence: * / over + -, arithmetic over &, & over comparisons', () => {
    expect(run('1 + 2 * 3')).toBe(7);
    expect(run('(1 + 2) * 3')).toBe(9);
    expect(run('10 - 4 - 3')).toBe(3);
    expect(run('12 / 3 / 2')).toBe(2);
    expect(run('1 + 2 & 3 * 4')).toBe('312');
    expect(run("'a' & 'b' = 'ab'")).toBe(true);
    expect(run('1 + 1 = 2')).toBe(true);
    expect(run('-2 * -3')).toBe(6);
    expect(run('- (1 + 2)')).toBe(-3);
  });

  it('reads numbers in every written form', () => {
    expect(run('1.5 + .5 + 1e2')).toBe(102);
  });

  it('reads single- and double-quoted strings with backslash escapes', () => {
    expect(run(`'it\\'s'`)).toBe("it's");
    expect(run(`"say \\"hi\\""`)).toBe('say "hi"');
    expect(run(`"a'b" & 'c"d'`)).toBe(`a'bc"d`);
    expect(run(`'back\\\\slash'`)).toBe('back\\slash');
    expect(run(`'line\\nbreak'`)).toBe('line\nbreak');
  });

  it('resolves field references by name, by id, with spaces and escaped braces', () => {
    const cells = { Name: 'Alice', 'Long Notes': 'notes', 'Odd {name}': 'odd' };
    expect(run('{Name}', { cells })).toBe('Alice');
    expect(run('{fldName0000000001}', { cells })).toBe('Alice');
    expect(run('{Long Notes}', { cells })).toBe('notes');
    expect(run('{Odd {name\\}}', { cells })).toBe('odd');
    expect(run('Name', { cells })).toBe('Alice'); // a single-word name without braces
  });

  it('lists the fields a formula reads, once each, including LAST_MODIFIED_TIME arguments', () => {
    const f = compileFormula(
      'IF({Name} = {fldName0000000001}, LAST_MODIFIED_TIME({Count}), {Done})',
      resolve,
    );
    expect(f.referencedFieldIds.sort()).toEqual([
      'fldCount000000001',
      'fldDone0000000001',
      'fldName0000000001',
    ]);
  });

  it('accepts function names in any case and bare TRUE/FALSE', () => {
    expect(run("upper('x')")).toBe('X');
    expect(run('AND(TRUE, NOT(FALSE))')).toBe(true);
  });

  it('rejects unknown fields, naming all of them', () => {
    expect(compileError('{Nmae} = 1')).toBe('Unknown field names: Nmae');
    expect(compileError('{Nope} & {Long notes} & {Nope}')).toBe('Unknown field names: Nope, Long notes');
    // Multi-word names need braces: the bare words are separate tokens and do not parse.
    expect(compileError('Long Notes')).toMatch(/Unexpected 'Notes'/);
  });

  it('rejects unknown functions and wrong arity with clear messages', () => {
    expect(compileError('FOO(1)')).toMatch(/^Unknown function name: FOO/);
    expect(compileError('LEFT("abc")')).toBe('LEFT() takes 2 argument(s), got 1');
    expect(compileError('IF(1, 2, 3, 4)')).toBe('IF() takes 2 to 3 argument(s), got 4');
    expect(compileError('LAST_MODIFIED_TIME("x")')).toMatch(/only accepts field references/);
  });

  it('rejects malformed text', () => {
    expect(compileError('1 +')).toMatch(/Unexpected end of formula/);
    expect(compileError('(1 + 2')).toMatch(/Expected '\)'/);
    expect(compileError("'abc")).toMatch(/Unterminated string/);
    expect(compileError('{Name')).toMatch(/Unterminated field reference/);
    expect(compileError('1 ^ 2')).toMatch(/Unexpected character '\^'/);
    expect(compileError('1 2')).toMatch(/Unexpected '2'/);
    expect(compileError('')).toMatch(/Unexpected end of formula/);
  });
});
