import { parseConfig } from '../config.ts';
import { createCommandLogger, printableDatabaseUrl, redactUrl, withoutSuppliedPassword } from '../log.ts';
import { startAirmirror, type RunningAirmirror } from '../node.ts';
import { parseFlags, untilSignal, type Command } from './args.ts';

const HELP = `usage: airmirror start

Starts the write-through proxy, the management API and the syncer in one process.

With no configuration it runs a demo: an embedded Postgres under ./.airmirror/ and the built-in
Airtable emulator with a seeded base, synced at once. With DATABASE_URL, AIRTABLE_TOKEN,
AIRTABLE_BASES and AIRMIRROR_SECRET_KEY set it mirrors real bases instead.
Environment: see README.md ("Configuration").`;

export const startCommand: Command = {
  name: 'start',
  async run(argv, env) {
    if (parseFlags(argv, {}, HELP).help) return 0;
    const config = parseConfig(env);
    const log = await createCommandLogger({ level: config.logLevel, format: config.logFormat });
    const running = await startAirmirror(config, { log });
    process.stdout.write(banner(running));
    const signal = await untilSignal();
    process.stdout.write(`\n${signal}: stopping…\n`);
    await running.stop();
    process.stdout.write('stopped.\n');
    return 0;
  },
};

export function banner(r: RunningAirmirror): string {
  const proxy = `${r.url}/api.airtable.com`;
  // A password the operator supplied in DATABASE_URL is never shown; the demo's own is.
  const databaseUrl = printableDatabaseUrl(r.databaseUrl, Boolean(r.config.databaseUrl));
  const lines = [
    '',
    'airmirror is running.',
    '',
    `  proxy        ${proxy}`,
    `  management   ${r.url}/api   (OpenAPI: ${r.url}/api/openapi.json)`,
    `  metrics      ${r.url}/metrics`,
    `  postgres     psql "${databaseUrl}"`,
  ];
  // The Postgres endpoint: same user and password; its writes to mirror tables go to Airtable first.
  if (r.endpointUrl) lines.push(`  endpoint     psql "${r.endpointUrl}"   (writes go to Airtable first)`);
  if (r.emulator) {
    const base = r.emulator.baseId;
    lines.push(
      `  emulator     ${r.emulator.url}   (demo base ${base}, standing in for api.airtable.com)`,
      '',
      'Write through the proxy, then see it in Postgres:',
      '',
      `  curl -X POST '${proxy}/v0/${base}/Customers' \\`,
      `    -H 'Authorization: Bearer ${r.emulator.token}' -H 'Content-Type: application/json' \\`,
      `    -d '{"fields": {"Name": "Ada Lovelace"}}'`,
      `  psql "${databaseUrl}" -c "select id, name from customers order by created_time desc limit 3"`,
      '',
      ...(r.endpointUrl
        ? [
            'or write with SQL through the endpoint (Airtable first, then the mirror):',
            '',
            `  psql "${r.endpointUrl}" \\`,
            `    -c "update customers set tier = 'Gold' where name = 'Ada Lovelace' returning id, tier, last_modified"`,
            '',
          ]
        : []),
      'or with airtable.js:',
      '',
      `  new Airtable({ apiKey: '${r.emulator.token}', endpointUrl: '${proxy}' })`,
      `    .base('${base}')('Customers').create({ Name: 'Ada Lovelace' })`,
      '',
      'A change made in the emulator itself, not through the proxy, reaches Postgres within seconds',
      `through the demo base's Airtable webhook: the same curl with ${r.emulator.url} in place of`,
      `${proxy}.`,
    );
  } else {
    lines.push(`  upstream     ${redactUrl(r.config.airtableApiUrl)}`);
  }
  lines.push('', 'Press Ctrl-C to stop.', '');
  // Belt and braces: whatever line prints a connection string with the operator's credentials.
  return withoutSuppliedPassword(lines.join('\n') + '\n', r.config.databaseUrl);
}
