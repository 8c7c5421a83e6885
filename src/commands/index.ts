import type { Command } from './args.ts';

/** What `airmirror --help` shows of a command, and how to load the rest of it. */
export interface CommandEntry {
  name: string;
  summary: string;
  load(): Promise<Command>;
}

/**
 * Every subcommand of `airmirror`, by name. Each is loaded only when it runs: `status` must not
 * pay for the proxy, the syncer and the emulator that `start` pulls in (a cron job starts the CLI
 * every minute; bench/cli-start.ts measures it).
 */
export const commands: Record<string, CommandEntry> = Object.fromEntries(
  (
    [
      {
        name: 'start',
        summary: 'run the proxy, management API and syncer (demo mode without configuration)',
        load: async () => (await import('./start.ts')).startCommand,
      },
      {
        name: 'sync',
        summary: 'sync every configured table (--once), then exit',
        load: async () => (await import('./sync.ts')).syncCommand,
      },
      {
        name: 'status',
        summary: 'show per-table sync status',
        load: async () => (await import('./status.ts')).statusCommand,
      },
      {
        name: 'verify',
        summary: 'compare Airtable with the mirror, record by record',
        load: async () => (await import('./verify.ts')).verifyCommand,
      },
      {
        name: 'emulator',
        summary: 'run the Airtable emulator on its own',
        load: async () => (await import('./emulator.ts')).emulatorCommand,
      },
    ] satisfies CommandEntry[]
  ).map((c) => [c.name, c]),
);
