import js from '@eslint/js';
import importX from 'eslint-plugin-import-x';
import tseslint from 'typescript-eslint';

/**
 * The walls of the house (docs/ARCHITECTURE.md), as lint rules: a file that crosses one fails
 * `npm test`. Paths are resolved, so a wall holds however the import is spelled.
 */
const PRODUCT = ['src/**/*.ts', 'proxy/**/*.ts', 'sync/**/*.ts', 'emulator/**/*.ts'];
/** The composing entry: the only product files that put the parts together. */
const ENTRY = ['src/cli.ts', 'src/node.ts', 'src/commands/**', 'src/demo-*.ts'];
/** Where SQL text may live: the db seam, the bookkeeping rows, the mirror, a feature's own store. */
const SQL_HOMES = ['src/db/**', 'src/bookkeeping/**', 'src/mirror/**', '**/store.ts'];

const zone = (target, from, message) => ({ target, from, message });

/** Walls between folders, for every product file. */
const FOLDER_WALLS = [
  zone('./proxy', './sync', 'proxy/ and sync/ never import each other: they meet in src/mirror.'),
  zone('./sync', './proxy', 'proxy/ and sync/ never import each other: they meet in src/mirror.'),
  zone(['./proxy', './sync'], './emulator', 'Only the composing entry, tests and benches use the emulator.'),
  zone(
    './emulator',
    ['./src', './proxy', './sync'],
    'The emulator is a test double: it shares no code with what it tests.',
  ),
  zone('./src/api', './src/scheduler', 'The API talks to the scheduler through its deps, not its code.'),
  zone('./src/scheduler', './src/api', 'The scheduler does not depend on the API.'),
  zone('./src/db', ['./src/bookkeeping', './src/mirror'], 'src/db is the bottom layer.'),
  zone('./src/bookkeeping', './src/mirror', 'The mirror may use the bookkeeping rows, not the reverse.'),
];

/** For the core (src/ but the entry). */
const ENTRY_WALL = zone(
  './src',
  ['./proxy', './sync', './emulator'],
  'Only the composing entry (src/cli.ts, src/node.ts, src/commands, src/demo-*.ts) imports proxy/, sync/ or emulator/.',
);

export default tseslint.config(
  {
    ignores: [
      'node_modules/',
      '.airmirror/',
      'dist/',
      'bench/results*.json',
      '.wrangler/',
      'coverage/',
      'scratch/',
      '.tmp-*/',
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: {
      globals: { process: 'readonly', console: 'readonly', URL: 'readonly', fetch: 'readonly' },
    },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
      'no-constant-condition': ['error', { checkLoops: false }],
    },
  },
  {
    files: PRODUCT,
    plugins: { 'import-x': importX },
    settings: { 'import-x/extensions': ['.ts', '.js'] },
    rules: {
      // No import loops: a loop means two files are one concept (test/architecture also counts
      // type-only imports, which this rule lets through).
      'import-x/no-cycle': ['error', { ignoreExternal: true }],
    },
  },
  {
    // The core: only the composing entry puts proxy/, sync/ and the emulator together with it.
    files: ['src/**/*.ts'],
    ignores: ENTRY,
    rules: { 'import-x/no-restricted-paths': ['error', { zones: [...FOLDER_WALLS, ENTRY_WALL] }] },
  },
  {
    files: [...ENTRY, 'proxy/**/*.ts', 'sync/**/*.ts', 'emulator/**/*.ts'],
    rules: { 'import-x/no-restricted-paths': ['error', { zones: FOLDER_WALLS }] },
  },
  {
    // SQL text lives in a few named places: they alone may build statements with sql().
    files: PRODUCT,
    ignores: SQL_HOMES,
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['**/db/sql.ts', './sql.ts'],
              message: 'SQL lives in src/db, src/bookkeeping, src/mirror or a feature folder’s store.ts.',
            },
          ],
        },
      ],
    },
  },
);
