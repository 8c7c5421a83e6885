/** A SQL statement as data: text with `$n` placeholders and the values bound to them. */
export interface Sql {
  text: string;
  values: unknown[];
  /**
   * Optional prepared-statement name: each connection parses (and plans, once generic) the text
   * once and then only binds values. The name must always stand for the same text.
   */
  name?: string;
}

export function sql(text: string, values: unknown[] = []): Sql {
  return { text, values };
}
