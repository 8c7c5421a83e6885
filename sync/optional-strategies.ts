import type { SyncStrategy } from './strategy.ts';

/**
 * The sync types written next to the syncer (sync/incremental.ts → `incrementalStrategy`,
 * sync/append.ts → `appendStrategy`), when present. Loaded by name so the syncer does not break
 * while they are being written; a module that exists but fails to load is an error, not a skip.
 */
export async function loadOptionalStrategies(): Promise<SyncStrategy[]> {
  const found: SyncStrategy[] = [];
  for (const [file, name] of [
    ['./incremental.ts', 'incrementalStrategy'],
    ['./append.ts', 'appendStrategy'],
  ] as const) {
    let mod: Record<string, unknown>;
    try {
      mod = (await import(file)) as Record<string, unknown>;
    } catch (err) {
      if ((err as { code?: string }).code === 'ERR_MODULE_NOT_FOUND' && String(err).includes(file.slice(2)))
        continue;
      throw err;
    }
    const s = mod[name] as SyncStrategy | undefined;
    if (s && typeof s.run === 'function' && typeof s.syncType === 'string') found.push(s);
  }
  return found;
}
