/** A SQL statement as data: text with `$n` placeholders and the values bound to them. */
export interface Sql {
  text: string;
  values: unknown[];
}

export function sql(text: string, values: unknown[] = []): Sql {
  return { text, values };
}
