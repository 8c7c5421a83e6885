import type { Command } from './args.ts';

// Placeholder until its issue lands: refuses clearly instead of pretending to work.
export const verifyCommand: Command = {
  name: 'verify',
  summary: 'compare Airtable with the mirror, record by record',
  async run() {
    process.stderr.write('airmirror verify: not implemented yet\n');
    return 2;
  },
};
