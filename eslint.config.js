// ESLint: typescript-eslint's syntax rules (fast: no type information) plus import boundaries that encode
// the layering of docs/architecture.md (docs/adr/0004-lint-enforces-the-layering.md):
//   main → http, cli → domain modules → db/config/crypto, executor contracts → core, contract
// A module is imported through its index.ts only; executors/local and executors/kubernetes are reached
// only from the composition root (main/) and, for the pure Kubernetes builders, the render routes (http/).
import boundaries from 'eslint-plugin-boundaries';
import tseslint from 'typescript-eslint';

const folder = (type, names) => names.map((name) => ({ type, pattern: `src/${name}`, mode: 'folder' }));

const domain = ['identity', 'authz', 'tenants', 'audit', 'tracking', 'artifacts', 'datasets', 'jobs', 'scheduler', 'serving', 'lineage', 'onnx'];
const infrastructure = ['config', 'crypto', 'db'];

export default tseslint.config(
  { ignores: ['node_modules/**', '**/*.d.ts', 'examples/**'] },
  { linterOptions: { reportUnusedDisableDirectives: 'off' } },
  {
    files: ['**/*.ts'],
    languageOptions: { parser: tseslint.parser },
    plugins: { '@typescript-eslint': tseslint.plugin },
    rules: {
      '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'separate-type-imports', disallowTypeAnnotations: false }],
      '@typescript-eslint/no-import-type-side-effects': 'error',
      'no-restricted-syntax': ['error',
        { selector: 'TSEnumDeclaration', message: 'No enum: use a string-literal union or an `as const` table (docs/shared STYLE).' },
        { selector: 'ExportDefaultDeclaration', message: 'No default exports.' }],
    },
  },
  {
    files: ['src/**/*.ts'],
    plugins: { boundaries },
    settings: {
      'boundaries/include': ['src/**/*.ts'],
      'boundaries/legacy-warnings': false,
      'boundaries/elements': [
        { type: 'contract', pattern: 'src/contract', mode: 'folder' },
        { type: 'core', pattern: 'src/core', mode: 'folder' },
        ...folder('infrastructure', infrastructure),
        { type: 'executor-contract', pattern: 'src/executors/*.ts', mode: 'file' },
        ...folder('executor', ['executors/local', 'executors/kubernetes']),
        ...folder('domain', domain),
        { type: 'http', pattern: 'src/http', mode: 'folder' },
        { type: 'cli', pattern: 'src/cli', mode: 'folder' },
        { type: 'main', pattern: 'src/main', mode: 'folder' },
      ],
    },
    rules: {
      // No import upward: each layer names the layers it may use.
      'boundaries/dependencies': ['error', {
        default: 'disallow',
        rules: [
          { from: 'contract', allow: ['contract', 'core'] },
          { from: 'core', allow: ['core'] },
          { from: 'infrastructure', allow: ['infrastructure', 'core', 'contract'] },
          { from: 'executor-contract', allow: ['executor-contract', 'contract', 'core'] },
          { from: 'executor', allow: ['executor', 'executor-contract', 'contract', 'core'] },
          { from: 'domain', allow: ['domain', 'executor-contract', 'infrastructure', 'contract', 'core'] },
          { from: 'http', allow: ['http', 'domain', 'executor', 'executor-contract', 'infrastructure', 'contract', 'core'] },
          // The CLI is an API client: the contract, core and its own files (config: its settings file).
          { from: 'cli', allow: ['cli', 'contract', 'core', 'infrastructure'] },
          { from: 'main', allow: ['main', 'http', 'cli', 'domain', 'executor', 'executor-contract', 'infrastructure', 'contract', 'core'] },
        ],
      }],
      // No import into another module's internals: past its index.ts only (contract, core and the executor
      // contracts are collections of files, each its own entry).
      'boundaries/entry-point': ['error', {
        default: 'disallow',
        rules: [
          { target: ['domain', 'infrastructure', 'executor', 'http', 'cli', 'main'], allow: 'index.ts' },
          { target: ['contract', 'core', 'executor-contract'], allow: '*.ts' },
        ],
      }],
    },
  },
  {
    // The CLI reaches the local executor only through the composition root; so does everyone else.
    files: ['src/http/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', { patterns: [{ group: ['**/executors/local/**'], message: 'Only the composition root (src/main/) builds the local executor.' }] }],
    },
  },
  {
    // The contract must bundle for a browser: zod, and the pure error table of core/, nothing else.
    files: ['src/contract/**/*.ts'],
    ignores: ['src/contract/**/*.test.ts'],
    rules: {
      'no-restricted-imports': ['error', { patterns: [
        { regex: '^(?!zod$|\\./|\\.\\./core/errors\\.ts$)', message: 'src/contract/ imports only zod, its own files and ../core/errors.ts (it must bundle for a browser).' },
      ] }],
    },
  },
);
