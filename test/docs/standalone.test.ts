import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, normalize } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { KNOWN_AIRMIRROR_VARS } from '../../src/config.ts';

/**
 * The repository stands alone (issue 11): no tracked file points outside it, and every section of
 * docs/airtable-reference.md and every invariant or flow of docs/DESIGN.md that a file cites
 * exists there. (Patterns are spelled with escapes so this file does not match itself.)
 */
const root = fileURLToPath(new URL('../..', import.meta.url));
const REFERENCE = 'docs/airtable-reference.md';
const CONTRACT = 'docs/DESIGN.md';

const SECTION_SIGN = '\u00a7';
/** A section citation: the sign and a number such as 2, 2.1 or 3.3 (a trailing full stop is not part of it). */
const CITATION = new RegExp(`${SECTION_SIGN}(\\d+(?:\\.\\d+)*)`, 'g');
/** "RFC 9110 <sign>7.6.1" and the like cite someone else's document. */
const OTHER_SPEC = /\b(?:RFC|ECMA|ISO|IEC)[- ]?\d+(?:-\d+)?\s*$/;
/** A path into the old shared folder outside the repository. */
const OUTSIDE = /\.\.\/shared\b|\bshared\/(?:reference\/|design\.md)/i;
/** "reference <sign>2.1", "the reference (<sign>2.1": a citation that names no file. */
const UNNAMED_REFERENCE = new RegExp(`(?<![\\w/.-])reference(?:'s)?\\s*\\(?${SECTION_SIGN}`, 'i');

interface TrackedFile {
  path: string;
  text: string;
}

const tracked: TrackedFile[] = execFileSync('git', ['ls-files', '-z'], { cwd: root, encoding: 'utf8' })
  .split('\0')
  .filter((path) => path !== '' && path !== 'package-lock.json' && existsSync(join(root, path)))
  .map((path) => ({ path, buffer: readFileSync(join(root, path)) }))
  .filter(({ buffer }) => !buffer.includes(0))
  .map(({ path, buffer }) => ({ path, text: buffer.toString('utf8') }));

const reference = readFileSync(join(root, REFERENCE), 'utf8');
const contract = readFileSync(join(root, CONTRACT), 'utf8');

/** Our own section citations in `text`: the numbers, with the line they are on. */
function sectionCitations(text: string): { section: string; line: number }[] {
  const out: { section: string; line: number }[] = [];
  text.split('\n').forEach((line, i) => {
    for (const m of line.matchAll(CITATION)) {
      if (!OTHER_SPEC.test(line.slice(0, m.index))) out.push({ section: m[1], line: i + 1 });
    }
  });
  return out;
}

/** The numbered items of one `## heading` section of docs/DESIGN.md. */
function numberedItems(heading: string): number[] {
  const start = contract.indexOf(`\n## ${heading}\n`);
  expect(start, `docs/DESIGN.md has a "## ${heading}" section`).toBeGreaterThanOrEqual(0);
  const end = contract.indexOf('\n## ', start + 1);
  const body = contract.slice(start, end === -1 ? undefined : end);
  return [...body.matchAll(/^(\d+)\. /gm)].map((m) => Number(m[1]));
}

/** Every number cited as `word N` (also "words 3 and 4", "words 6, 9"), with where it was cited. */
function numberCitations(word: string): { n: number; where: string }[] {
  const pattern = new RegExp(`\\b${word}s?\\s+(\\d+(?:\\s*(?:,|and|or|&|–)\\s*\\d+)*)`, 'gi');
  const out: { n: number; where: string }[] = [];
  for (const { path, text } of tracked) {
    text.split('\n').forEach((line, i) => {
      for (const m of line.matchAll(pattern)) {
        for (const n of m[1].match(/\d+/g)!) out.push({ n: Number(n), where: `${path}:${i + 1}` });
      }
    });
  }
  return out;
}

describe('the repository stands alone', () => {
  it('no tracked file points at the shared folder outside the repository', () => {
    const offenders = tracked.flatMap(({ path, text }) =>
      text
        .split('\n')
        .map((line, i) => ({ line, where: `${path}:${i + 1}` }))
        .filter(({ line }) => OUTSIDE.test(line))
        .map(({ where, line }) => `${where}: ${line.trim()}`),
    );
    expect(offenders).toEqual([]);
  });

  it('section citations name docs/airtable-reference.md', () => {
    const offenders: string[] = [];
    for (const { path, text } of tracked) {
      if (path === REFERENCE) continue;
      text.split('\n').forEach((line, i) => {
        if (UNNAMED_REFERENCE.test(line)) offenders.push(`${path}:${i + 1}: ${line.trim()}`);
      });
      // A file may cite a bare section after naming the document, but it must name it somewhere.
      if (sectionCitations(text).length > 0 && !text.includes('airtable-reference.md'))
        offenders.push(`${path}: cites sections but never names ${REFERENCE}`);
    }
    expect(offenders).toEqual([]);
  });

  it('every cited section of docs/airtable-reference.md exists there', () => {
    const sections = new Set([...reference.matchAll(/^#{2,6} (\d+(?:\.\d+)*)\.? /gm)].map((m) => m[1]));
    // The numbering code comments rely on (issue 11 kept the source's numbers).
    for (const s of ['0', '1', '1.1', '1.7', '2', '2.1', '2.5', '3', '3.3', '4', '4.1', '4.7', '5', '6', '7'])
      expect(sections, `section ${s}`).toContain(s);
    const missing: string[] = [];
    for (const { path, text } of tracked) {
      if (path !== REFERENCE && !text.includes('airtable-reference.md')) continue;
      for (const { section, line } of sectionCitations(text))
        if (!sections.has(section)) missing.push(`${path}:${line}: ${SECTION_SIGN}${section}`);
    }
    expect(missing).toEqual([]);
  });

  it('every cited invariant and flow exists in docs/DESIGN.md, numbered without gaps', () => {
    const invariants = numberedItems('Invariants');
    expect(invariants).toEqual(Array.from({ length: 13 }, (_, i) => i + 1));
    const flows = numberedItems('The flows');
    expect(flows).toEqual(Array.from({ length: 7 }, (_, i) => i + 1));
    const missing = [
      ...numberCitations('invariant')
        .filter(({ n }) => !invariants.includes(n))
        .map(({ n, where }) => `${where}: invariant ${n}`),
      ...numberCitations('flow')
        .filter(({ n }) => !flows.includes(n))
        .map(({ n, where }) => `${where}: flow ${n}`),
    ];
    expect(missing).toEqual([]);
  });

  it('relative links in markdown files lead to files of the repository', () => {
    const broken: string[] = [];
    for (const { path, text } of tracked) {
      if (!path.endsWith('.md')) continue;
      for (const m of text.matchAll(/\]\(([^)\s]+)\)/g)) {
        const target = m[1].split('#')[0];
        if (target === '' || /^[a-z][a-z+.-]*:/i.test(target)) continue;
        const resolved = normalize(join(dirname(path), target));
        if (resolved.startsWith('..') || !existsSync(join(root, resolved))) broken.push(`${path}: ${m[1]}`);
      }
    }
    expect(broken).toEqual([]);
  });

  it('docs/DESIGN.md lists every AIRMIRROR_ variable, and marks planned only what parseConfig refuses', () => {
    const start = contract.indexOf('\n### Environment\n');
    const end = contract.indexOf('\n### ', start + 1);
    const rows = contract
      .slice(start, end)
      .split('\n')
      .filter((l) => l.startsWith('| `'));
    const cell = (row: string) => row.split('|')[1];
    const vars = (row: string) => [...cell(row).matchAll(/`(AIRMIRROR_[A-Z_]+)`/g)].map((m) => m[1]);
    const planned = rows.filter((r) => /planned/i.test(cell(r))).flatMap(vars);
    const built = rows.filter((r) => !/planned/i.test(cell(r))).flatMap(vars);
    expect([...KNOWN_AIRMIRROR_VARS].filter((v) => !built.includes(v))).toEqual([]);
    expect(built.filter((v) => !KNOWN_AIRMIRROR_VARS.has(v))).toEqual([]);
    // Once one of these is built, docs/DESIGN.md must stop calling it planned.
    expect(planned.filter((v) => KNOWN_AIRMIRROR_VARS.has(v))).toEqual([]);
  });
});
