import { beforeAll, describe, expect, it } from 'vitest';
import { classify, loadParser, mayWrite, type DmlStatement } from '../../../proxy/pg/classify.ts';
import type { PgError } from '../../../proxy/pg/errors.ts';
import { planWrite } from '../../../proxy/pg/store.ts';
import { buildBaseMapping } from '../../../src/mirror/mapping.ts';

const table = buildBaseMapping('public', {
  tables: [
    {
      id: 'tblThings00000001',
      name: 'Things',
      primaryFieldId: 'fldName',
      views: [],
      fields: [
        { id: 'fldName', name: 'Name', type: 'singleLineText' },
        { id: 'fldPrice', name: 'Price', type: 'currency' },
        { id: 'fldDone', name: 'Done', type: 'checkbox' },
        { id: 'fldTotal', name: 'Total', type: 'formula', options: { result: { type: 'number' } } },
      ],
    },
  ],
}).tables[0];

beforeAll(() => loadParser());

const dml = (text: string) => classify(text)![0] as DmlStatement;
const plan = (text: string) => planWrite(dml(text), table);

function refusal(text: string): PgError {
  try {
    plan(text);
  } catch (err) {
    return err as PgError;
  }
  throw new Error(`${text} was planned`);
}

describe('classify', () => {
  it('parses only texts that may write, and finds each statement’s target', () => {
    expect(mayWrite('SELECT * FROM things')).toBe(false);
    expect(mayWrite('select 1; UPDATE things SET name = 1')).toBe(true);
    const stmts = classify(`SELECT 1; UPDATE "Public"."Things" SET a = 1; DELETE FROM things WHERE id = $3`)!;
    expect(stmts.map((s) => s.kind)).toEqual(['other', 'update', 'delete']);
    expect((stmts[1] as DmlStatement).relation).toEqual({ schema: 'Public', name: 'Things' });
    expect((stmts[2] as DmlStatement).paramCount).toBe(3);
    expect(stmts[2].text).toBe('DELETE FROM things WHERE id = $3');
    expect(classify('UPDATE things SET')).toBeNull();
  });
});

describe('planWrite', () => {
  it('UPDATE: the check is the statement itself; the read computes the new values, cast to the column types', () => {
    const p = plan('UPDATE things AS t SET price = price * 1.1, done = DEFAULT WHERE t.id = $1 RETURNING *');
    expect(p.check).toBe(
      'EXPLAIN UPDATE things AS t SET price = price * 1.1, done = DEFAULT WHERE t.id = $1 RETURNING *',
    );
    expect(p.columns.map((c) => c.column)).toEqual(['price', 'done']);
    expect(p.resolve).toBe(
      'SELECT row_to_json(ROW("t".id, CAST((price * 1.1) AS numeric), false)) FROM things AS t WHERE t.id = $1',
    );
    expect(p.returning).toBe(
      'SELECT * FROM things AS t WHERE "t".id = ANY($2::text[]) ORDER BY array_position($2::text[], "t".id)',
    );
  });

  it('INSERT … VALUES: every item cast in place, DEFAULT as the column default', () => {
    const p = plan(`INSERT INTO things (name, done) VALUES ('a', DEFAULT), ($1, true)`);
    expect(p.columns.map((c) => c.column)).toEqual(['name', 'done']);
    expect(p.resolve).toBe(
      "SELECT row_to_json(ROW(v.column1, v.column2)) FROM (VALUES (CAST(('a') AS text), false), (CAST(($1) AS text), CAST((true) AS boolean))) AS v",
    );
  });

  it('INSERT … SELECT: its columns by position', () => {
    const p = plan('INSERT INTO things (name, price) SELECT name, 2 FROM things');
    expect(p.resolve).toBe(
      'SELECT row_to_json(ROW(CAST((s.c1) AS text), CAST((s.c2) AS numeric))) FROM (SELECT name, 2 FROM things) AS s(c1, c2)',
    );
  });

  it('DELETE: ids and the RETURNING list in one read', () => {
    const p = plan(
      'WITH x AS (SELECT 1) DELETE FROM things USING x WHERE things.name = $1 RETURNING things.name',
    );
    expect(p.deleteReturning).toBe(true);
    expect(p.resolve).toBe(
      'WITH x AS (SELECT 1) SELECT "things".id, things.name FROM things, x WHERE things.name = $1',
    );
  });

  it.each([
    ['UPDATE things SET total = 1', '428C9', 'total'],
    ['UPDATE things SET id = $1', '428C9', 'id'],
    ["INSERT INTO things (id, name) VALUES ('recX', 'a')", '428C9', 'id'],
    ['UPDATE things SET nope = 1', '42703', 'nope'],
  ])('%s is refused (%s)', (text, code, column) => {
    const err = refusal(text);
    expect(err.sqlState).toBe(code);
    expect(err.column).toBe(column);
  });

  it.each([
    'INSERT INTO things (name) VALUES (1) ON CONFLICT DO NOTHING',
    'UPDATE things SET name = 1 WHERE CURRENT OF c',
    'UPDATE things SET (name, price) = (SELECT name, price FROM things LIMIT 1)',
    'WITH d AS (DELETE FROM other RETURNING 1) UPDATE things SET name = 1',
    'UPDATE things SET name = o.name FROM other o RETURNING o.name',
  ])('%s is not supported (0A000)', (text) => {
    expect(refusal(text).sqlState).toBe('0A000');
  });

  it('a positional INSERT may list the fixed and computed columns only as DEFAULT', () => {
    const p = plan(`INSERT INTO things VALUES (DEFAULT, DEFAULT, 'a', 2, true, DEFAULT)`);
    expect(p.columns.map((c) => c.column)).toEqual(['name', 'price', 'done']);
  });
});
