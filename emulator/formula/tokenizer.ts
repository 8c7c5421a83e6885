import { FormulaError } from './errors.ts';

export type Token =
  | { kind: 'number'; value: number; pos: number }
  | { kind: 'string'; value: string; pos: number }
  /** `{Field Name}` or `{fldXXXX}`; `value` is the unescaped text between the braces. */
  | { kind: 'field'; value: string; pos: number }
  | { kind: 'ident'; value: string; pos: number }
  | { kind: 'op'; value: string; pos: number }
  | { kind: '(' | ')' | ','; pos: number }
  | { kind: 'eof'; pos: number };

const OPERATORS = ['!=', '<=', '>=', '+', '-', '*', '/', '&', '=', '<', '>'];
const ESCAPES: Record<string, string> = { n: '\n', t: '\t', r: '\r' };

/** Splits formula text into tokens; positions are 0-based offsets used in error messages. */
export function tokenize(text: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < text.length) {
    const c = text[i];
    if (/\s/.test(c)) {
      i++;
      continue;
    }
    const start = i;
    if (c === '(' || c === ')' || c === ',') {
      tokens.push({ kind: c, pos: start });
      i++;
    } else if (c === '{') {
      // Field reference. `\}` (and `\\`) escape inside braces so names may contain a brace.
      let name = '';
      i++;
      while (i < text.length && text[i] !== '}') {
        if (text[i] === '\\' && i + 1 < text.length) i++;
        name += text[i++];
      }
      if (i >= text.length) throw new FormulaError(`Unterminated field reference starting at ${start}`);
      i++;
      tokens.push({ kind: 'field', value: name, pos: start });
    } else if (c === '"' || c === "'") {
      let value = '';
      i++;
      while (i < text.length && text[i] !== c) {
        if (text[i] === '\\' && i + 1 < text.length) {
          const next = text[i + 1];
          value += ESCAPES[next] ?? next;
          i += 2;
        } else value += text[i++];
      }
      if (i >= text.length) throw new FormulaError(`Unterminated string literal starting at ${start}`);
      i++;
      tokens.push({ kind: 'string', value, pos: start });
    } else if (/[0-9.]/.test(c)) {
      const m = /^(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?/.exec(text.slice(i));
      if (!m) throw new FormulaError(`Unexpected character '${c}' at ${start}`);
      tokens.push({ kind: 'number', value: Number(m[0]), pos: start });
      i += m[0].length;
    } else if (/[A-Za-z_]/.test(c)) {
      const m = /^[A-Za-z_][A-Za-z0-9_]*/.exec(text.slice(i))!;
      tokens.push({ kind: 'ident', value: m[0], pos: start });
      i += m[0].length;
    } else {
      const op = OPERATORS.find((o) => text.startsWith(o, i));
      if (!op) throw new FormulaError(`Unexpected character '${c}' at ${start}`);
      tokens.push({ kind: 'op', value: op, pos: start });
      i += op.length;
    }
  }
  tokens.push({ kind: 'eof', pos: text.length });
  return tokens;
}
