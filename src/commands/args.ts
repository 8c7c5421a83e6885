import { parseArgs, type ParseArgsConfig } from 'node:util';

/** Bad flags: the CLI prints the message on one line and exits 2. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

export interface Command {
  name: string;
  /** Resolves with the process exit code. */
  run(argv: string[], env: NodeJS.ProcessEnv): Promise<number>;
}

type Options = NonNullable<ParseArgsConfig['options']>;

/**
 * Strict flag parsing: unknown options and stray arguments are usage errors. `--help` is
 * always accepted; when present the caller prints `help` and exits 0.
 */
export function parseFlags<O extends Options>(argv: string[], options: O, help: string) {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      options: { ...options, help: { type: 'boolean', short: 'h' } },
      strict: true,
      allowPositionals: false,
    });
  } catch (err) {
    throw new UsageError(`${(err as Error).message.split('\n')[0]}\n${help}`);
  }
  if ((parsed.values as { help?: boolean }).help) {
    process.stdout.write(help + '\n');
    return { help: true as const, values: parsed.values };
  }
  return { help: false as const, values: parsed.values };
}

export function intFlag(name: string, raw: string | undefined, fallback: number, min = 0): number {
  if (raw === undefined) return fallback;
  if (!/^\d+$/.test(raw) || Number(raw) < min) {
    throw new UsageError(`--${name} must be a whole number ≥ ${min}, got "${raw}"`);
  }
  return Number(raw);
}

/**
 * Resolves on the first SIGINT or SIGTERM, so long-running commands can shut down cleanly.
 * Ctrl-C reaches every process of the terminal's group, and wrappers (npm, tsx) relay it again,
 * so repeats within a second are the same keypress and are ignored; a later one (the user
 * pressing Ctrl-C again because shutdown hangs) exits at once.
 */
export function untilSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    let first = 0;
    const onSignal = (sig: NodeJS.Signals) => {
      if (first === 0) {
        first = Date.now();
        resolve(sig);
      } else if (Date.now() - first > 1000) {
        process.stderr.write(`${sig} again: exiting without waiting\n`);
        process.exit(130);
      }
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });
}
