/**
 * The `airmirror` command. Each subcommand lives in src/commands/<name>.ts and exports a
 * `Command`, loaded only when it runs (src/commands/index.ts); this file only dispatches and turns
 * failures into one clear line and an exit code. `npm run build` bundles it into dist/ (the
 * package's bin runs that); tsx runs it from source in development.
 */
import { ConfigError } from './config.ts';
import { AirmirrorError } from './errors.ts';
import { commands } from './commands/index.ts';
import { UsageError } from './commands/args.ts';

const USAGE = `usage: airmirror <command> [options]

commands:
${Object.values(commands)
  .map((c) => `  ${c.name.padEnd(10)} ${c.summary}`)
  .join('\n')}

Run "airmirror <command> --help" for a command's options.`;

export async function main(argv: string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(USAGE + '\n');
    return name ? 0 : 2;
  }
  const entry = commands[name];
  if (!entry) {
    process.stderr.write(`airmirror: unknown command "${name}"\n${USAGE}\n`);
    return 2;
  }
  try {
    const command = await entry.load();
    return await command.run(rest, env);
  } catch (err) {
    if (err instanceof UsageError || err instanceof ConfigError) {
      process.stderr.write(`airmirror ${name}: ${err.message}\n`);
      return 2;
    }
    const message = err instanceof AirmirrorError || err instanceof Error ? err.message : String(err);
    process.stderr.write(`airmirror ${name}: ${message}\n`);
    return 1;
  }
}

const code = await main(process.argv.slice(2));
// Long-running commands (start, emulator) resolve only when they have shut down.
process.exit(code);
