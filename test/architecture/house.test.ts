import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';
import { describe, expect, it } from 'vitest';

/**
 * The house rules that ESLint cannot see (eslint.config.js holds the walls between folders):
 * no import loop, type-only imports included (a loop means two files are one concept); no product
 * file over 400 lines; SQL text only in its named homes. Read from the tracked files themselves.
 */
const ROOT = join(dirname(new URL(import.meta.url).pathname), '..', '..');
const PRODUCT_DIRS = ['src/', 'proxy/', 'sync/', 'emulator/'];
const isProduct = (f: string) =>
  f.endsWith('.ts') && PRODUCT_DIRS.some((d) => f.startsWith(d)) && !f.startsWith('emulator/test/');

const files = execFileSync('git', ['ls-files', '--cached', '--others', '--exclude-standard'], {
  cwd: ROOT,
  encoding: 'utf8',
})
  .split('\n')
  .filter((f) => f && existsSync(join(ROOT, f)))
  .filter(isProduct);

const source = new Map(files.map((f) => [f, readFileSync(join(ROOT, f), 'utf8')]));

/** Every relative import, export-from and import() of a file, type-only ones included. */
function importsOf(file: string): string[] {
  const text = source.get(file)!;
  const out: string[] = [];
  const re =
    /(?:^|\n)\s*(?:import|export)\b[^'"]*?from\s*['"](\.[^'"]+)['"]|import\(\s*['"](\.[^'"]+)['"]\s*\)/g;
  for (const m of text.matchAll(re)) {
    const spec = m[1] ?? m[2];
    const target = normalize(join(dirname(file), spec));
    if (source.has(target)) out.push(target);
  }
  return out;
}

/** Strongly connected components of more than one file (or a file importing itself). */
function cycles(): string[][] {
  const graph = new Map(files.map((f) => [f, importsOf(f)]));
  let index = 0;
  const idx = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  const visit = (v: string) => {
    idx.set(v, index);
    low.set(v, index++);
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v)!) {
      if (!idx.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, idx.get(w)!));
    }
    if (low.get(v) === idx.get(v)) {
      const scc: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        scc.push(w);
      } while (w !== v);
      if (scc.length > 1 || graph.get(v)!.includes(v)) found.push(scc.sort());
    }
  };
  for (const f of files) if (!idx.has(f)) visit(f);
  return found;
}

/** Where SQL text may live (docs/ARCHITECTURE.md): the db seam, the bookkeeping rows, the mirror, a store. */
const SQL_HOME = /^(src\/db\/|src\/bookkeeping\/|src\/mirror\/)|\/store\.ts$|^emulator\//;
const SQL_TEXT =
  /['"`][^'"`\n]*\b(SELECT\s+[\w*(]|INSERT\s+INTO|UPDATE\s+[\w".]+\s+SET|DELETE\s+FROM|CREATE\s+(TABLE|SCHEMA|INDEX|VIEW)|ALTER\s+TABLE|DROP\s+(TABLE|SCHEMA)|TRUNCATE\s|LISTEN\s|NOTIFY\s)/;

describe('the house', () => {
  it('reads the product files', () => {
    expect(files.length).toBeGreaterThan(100);
    expect(files).toContain('src/db/database.ts');
  });

  it('has no import loop, type-only imports included', () => {
    expect(cycles()).toEqual([]);
  });

  it('keeps every product file under 400 lines', () => {
    const long = files
      .map((f) => [f, source.get(f)!.split('\n').length] as const)
      .filter(([, n]) => n > 400)
      .map(([f, n]) => `${f}: ${n} lines`);
    expect(long).toEqual([]);
  });

  it('keeps SQL text in src/db, src/bookkeeping, src/mirror and store.ts files', () => {
    const stray = files
      .filter((f) => !SQL_HOME.test(f))
      .flatMap((f) =>
        source
          .get(f)!
          .split('\n')
          .map((line, i) => [line, i + 1] as const)
          .filter(([line]) => !/^\s*(\*|\/\/)/.test(line) && SQL_TEXT.test(line))
          .map(([line, n]) => `${f}:${n}: ${line.trim()}`),
      );
    expect(stray).toEqual([]);
  });

  it('finds a loop, an oversized file and stray SQL when there is one (the checks can fail)', () => {
    expect(SQL_TEXT.test("q.query('SELECT 1')")).toBe(true);
    expect(SQL_TEXT.test('`UPDATE airmirror.tables SET x = 1`')).toBe(true);
    expect(SQL_TEXT.test("'select the fields you need'")).toBe(false);
    expect(relative(ROOT, join(ROOT, 'src'))).toBe('src');
  });
});
