/**
 * The one place identifiers are quoted (docs/DESIGN.md invariant 7). Every schema, table and column
 * name that reaches SQL text goes through `quoteIdent`; values never do — they are parameters.
 */
export function quoteIdent(name: string): string {
  if (typeof name !== 'string' || name.length === 0) {
    throw new TypeError('quoteIdent: identifier must be a non-empty string');
  }
  if (name.includes('\u0000')) throw new TypeError('quoteIdent: identifier contains a NUL byte');
  return `"${name.replace(/"/g, '""')}"`;
}

/** `"schema"."name"` */
export function quoteQualified(schema: string, name: string): string {
  return `${quoteIdent(schema)}.${quoteIdent(name)}`;
}

/** A comma list of quoted identifiers. */
export function quoteIdentList(names: readonly string[]): string {
  return names.map(quoteIdent).join(', ');
}

/** A SQL string literal, for the few places Postgres takes no parameters (COMMENT ON, DDL defaults). */
export function quoteLiteral(value: string): string {
  if (value.includes('\u0000')) throw new TypeError('quoteLiteral: value contains a NUL byte');
  return `'${value.replace(/'/g, "''")}'`;
}
