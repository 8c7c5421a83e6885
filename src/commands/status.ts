import type { Command } from './args.ts';

// Placeholder until its issue lands: refuses clearly instead of pretending to work.
export const statusCommand: Command = {
  name: 'status',
  summary: 'show per-table sync status',
  async run() {
    process.stderr.write('airmirror status: not implemented yet\n');
    return 2;
  },
};
