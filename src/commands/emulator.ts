import type { Command } from './args.ts';

// Placeholder until its issue lands: refuses clearly instead of pretending to work.
export const emulatorCommand: Command = {
  name: 'emulator',
  summary: 'run the Airtable emulator on its own',
  async run() {
    process.stderr.write('airmirror emulator: not implemented yet\n');
    return 2;
  },
};
