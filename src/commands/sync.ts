import type { Command } from './args.ts';

// Placeholder until its issue lands: refuses clearly instead of pretending to work.
export const syncCommand: Command = {
  name: 'sync',
  summary: 'sync every configured table (--once), then exit',
  async run() {
    process.stderr.write('airmirror sync: not implemented yet\n');
    return 2;
  },
};
