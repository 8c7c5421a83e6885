import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { commands } from '../../src/commands/index.ts';
import { KNOWN_AIRMIRROR_VARS } from '../../src/config.ts';

/**
 * The README is the newcomer's contract: it must stay true and whole. (A scripted edit once cut
 * it down to its first table without anything noticing.)
 */
const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
const ci = readFileSync(new URL('../../.ci/run', import.meta.url), 'utf8');

describe('README', () => {
  it('opens with the demo command and the test command, and CI runs that test command', () => {
    const block = /^# airmirror\n\n```sh\n([\s\S]*?)```/.exec(readme);
    expect(block).not.toBeNull();
    const lines = block![1].trim().split('\n');
    expect(lines[0]).toMatch(/^npm install && npm start\s+#/);
    expect(lines[1]).toMatch(/^npm test\s+#/);
    expect(ci).toMatch(/^npm test$/m);
  });

  it('documents every configuration variable parseConfig accepts', () => {
    const documented = new Set([...readme.matchAll(/`(AIRMIRROR_[A-Z_]+)`/g)].map((m) => m[1]));
    expect([...KNOWN_AIRMIRROR_VARS].filter((v) => !documented.has(v))).toEqual([]);
    expect([...documented].filter((v) => !KNOWN_AIRMIRROR_VARS.has(v))).toEqual([]);
  });

  it('lists every CLI command', () => {
    for (const name of Object.keys(commands)) expect(readme).toContain(`\`airmirror ${name}`);
  });

  it('has every section a newcomer looks for, and well-formed tables', () => {
    for (const heading of [
      '## The demo',
      '## CLI',
      '## Configuration',
      '## HTTP',
      '## The mirror in Postgres',
      '## Development',
      '## Performance figures',
    ])
      expect(readme).toContain(`\n${heading}\n`);
    // Every row of a table has as many cells as its header.
    const tables: string[][] = [];
    let current: string[] | undefined;
    for (const line of readme.split('\n')) {
      if (!line.startsWith('|')) current = undefined;
      else if (current) current.push(line);
      else tables.push((current = [line]));
    }
    expect(tables.length).toBeGreaterThan(4);
    for (const rows of tables) {
      const cells = (row: string) => row.replace(/\\\|/g, '').split('|').length;
      for (const row of rows) expect(cells(row), row).toBe(cells(rows[0]));
    }
  });
});
