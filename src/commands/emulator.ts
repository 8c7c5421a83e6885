import { createEmulator, DEMO_BASE_ID, EMULATOR_TOKEN } from '../../emulator/index.ts';
import { startEmulatorServer } from '../../emulator/server.ts';
import { parseLogSettings } from '../config.ts';
import { createCommandLogger } from '../log.ts';
import { intFlag, parseFlags, untilSignal, UsageError, type Command } from './args.ts';

const HELP = `usage: airmirror emulator [--port N] [--seed demo|empty] [--records N] [--rate-limit N|off]
                          [--monthly-quota N|off]

Runs the built-in Airtable emulator over HTTP until Ctrl-C.
  --port N          listen on 127.0.0.1:N (default 8788; 0 = any free port)
  --seed demo|empty seeded data (default demo: Customers, Products, Orders)
  --records N       records in the demo base's Orders table (default 40)
  --rate-limit N|off requests per second per base (default off; Airtable's is 5)
  --monthly-quota N|off calls a month per token (default off; Team plan: 100000); once spent,
                    data calls answer 429 PUBLIC_API_BILLING_LIMIT_EXCEEDED until the month resets
Logs on stderr: one readable line an event on a terminal, JSON otherwise or as
AIRMIRROR_LOG_FORMAT (json|pretty) says; AIRMIRROR_LOG_LEVEL sets the level.`;

export const emulatorCommand: Command = {
  name: 'emulator',
  async run(argv, env) {
    const parsed = parseFlags(
      argv,
      {
        port: { type: 'string' },
        seed: { type: 'string' },
        records: { type: 'string' },
        'rate-limit': { type: 'string' },
        'monthly-quota': { type: 'string' },
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
    const quota = v['monthly-quota'];
    const monthlyQuota =
      quota === undefined || quota === 'off' ? false : intFlag('monthly-quota', quota, 100_000, 0);
    // The same rule as `start`: pretty on a terminal, JSON when not, or as AIRMIRROR_LOG_FORMAT says.
    const settings = parseLogSettings(env);
    const log = await createCommandLogger({
      level: settings.logLevel,
      format: settings.logFormat,
      name: 'emulator',
      env,
    });
    const emulator = createEmulator({
      seed,
      records: intFlag('records', v.records, 40),
      rateLimit,
      monthlyQuota,
      log,
    });
    const server = await startEmulatorServer(emulator, { port: intFlag('port', v.port, 8788) });
    emulator.webhooks.start();
    log.info({ url: server.url, seed, rateLimit, monthlyQuota }, 'emulator listening');
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
    const signal = await untilSignal();
    await emulator.webhooks.stop();
    await server.close();
    log.info({ signal }, 'emulator stopped');
    return 0;
  },
};
