import type { Command } from './args.ts';
import { emulatorCommand } from './emulator.ts';
import { startCommand } from './start.ts';
import { statusCommand } from './status.ts';
import { syncCommand } from './sync.ts';
import { verifyCommand } from './verify.ts';

/** Every subcommand of `airmirror`, by name. */
export const commands: Record<string, Command> = Object.fromEntries(
  [startCommand, syncCommand, statusCommand, verifyCommand, emulatorCommand].map((c) => [c.name, c]),
);
