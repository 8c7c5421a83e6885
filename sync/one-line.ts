/**
 * An error as one short line for latest_error, sync_runs.error and the CLI. Messages come from
 * our own errors and the Airtable client's mapper, which never carry the token; the line is
 * still capped so a huge upstream body cannot bloat the bookkeeping.
 */
export function oneLine(err: unknown, max = 500): string {
  const e = err as { code?: unknown; message?: unknown } | undefined;
  const message = typeof e?.message === 'string' ? e.message : String(err);
  const code = typeof e?.code === 'string' && !message.includes(e.code) ? `${e.code}: ` : '';
  const line = (code + message).replace(/\s+/g, ' ').trim();
  return line.length > max ? line.slice(0, max - 1) + '…' : line || 'unknown error';
}
