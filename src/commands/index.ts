import type { Command } from './args.ts';
import { startCommand } from './start.ts';

/** Every subcommand of `airmirror`, by name. */
export const commands: Record<string, Command> = {
  [startCommand.name]: startCommand,
};
