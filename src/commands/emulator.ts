import { createEmulator, DEMO_BASE_ID, EMULATOR_TOKEN } from '../../emulator/index.ts';
import { startEmulatorServer } from '../../emulator/server.ts';
import { createLogger } from '../log.ts';
import { intFlag, parseFlags, untilSignal, UsageError, type Command } from './args.ts';

const HELP = `usage: airmirror emulator [--port N] [--seed demo|empty] [--records N] [--rate-limit N|off]

Runs the built-in Airtable emulator over HTTP until Ctrl-C.
  --port N          listen on 127.0.0.1:N (default 8788; 0 = any free port)
  --seed demo|empty seeded data (default demo: Customers, Products, Orders)
  --records N       records in the demo base's Orders table (default 40)
  --rate-limit N|off requests per second per base (default off; Airtable's is 5)`;

export const emulatorCommand: Command = {
  name: 'emulator',
  async run(argv) {
    const parsed = parseFlags(
      argv,
      {
        port: { type: 'string' },
        seed: { type: 'string' },
        records: { type: 'string' },
        'rate-limit': { type: 'string' },
      },
      HELP,
    );
    if (parsed.help) return 0;
    const v = parsed.values as Record<string, string | undefined>;
    const seed = v.seed ?? 'demo';
    if (seed !== 'demo' && seed !== 'empty')
      throw new UsageError(`--seed must be demo or empty, got "${seed}"`);
    const rate = v['rate-limit'];
    const rateLimit = rate === undefined || rate === 'off' ? false : intFlag('rate-limit', rate, 5, 1);
    const emulator = createEmulator({
      seed,
      records: intFlag('records', v.records, 40),
      rateLimit,
      log: createLogger({ name: 'emulator' }),
    });
    const server = await startEmulatorServer(emulator, { port: intFlag('port', v.port, 8788) });
    emulator.webhooks.start();
    process.stdout.write(
      [
        `airmirror emulator listening on ${server.url}`,
        `  endpointUrl: ${server.url}   (e.g. new Airtable({ apiKey, endpointUrl }))`,
        `  token:       ${EMULATOR_TOKEN}`,
        `  base:        ${DEMO_BASE_ID}`,
        `  control:     ${server.url}/__emulator/...`,
        '',
      ].join('\n'),
    );
    await untilSignal();
    await emulator.webhooks.stop();
    await server.close();
    return 0;
  },
};
