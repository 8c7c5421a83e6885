import { join } from 'node:path';
import { parseConfig } from '../config.ts';
import { createDatabase } from '../db/database.ts';
import { startEmbeddedPostgres } from '../db/embedded.ts';
import { migrate } from '../db/migrate.ts';
import { redactUrl } from '../log.ts';
import { parseFlags, untilSignal, type Command } from './args.ts';

const HELP = `usage: airmirror start

Starts the proxy, the management API and the syncer in one process. With no configuration it
runs a demo: an embedded Postgres and the built-in Airtable emulator with a seeded base.`;

export const startCommand: Command = {
  name: 'start',
  summary: 'run the proxy, management API and syncer (demo mode without configuration)',
  async run(argv, env) {
    if (parseFlags(argv, {}, HELP).help) return 0;
    const config = parseConfig(env);
    const embedded = config.databaseUrl
      ? undefined
      : await startEmbeddedPostgres({ dataDir: join(config.dataDir, 'pg') });
    const databaseUrl = config.databaseUrl ?? embedded!.url;
    const db = createDatabase(databaseUrl);
    try {
      await migrate(db);
      process.stdout.write(`postgres: ${redactUrl(databaseUrl)}\n`);
      process.stdout.write(`psql:     psql "${databaseUrl}"\n`);
      process.stdout.write('Press Ctrl-C to stop.\n');
      await untilSignal();
      return 0;
    } finally {
      await db.close();
      await embedded?.stop();
    }
  },
};
