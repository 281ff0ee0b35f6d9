// ESLint: typescript-eslint's syntax rules (fast: no type information) plus import boundaries that encode
// the layering of docs/architecture.md (docs/adr/0004-lint-enforces-the-layering.md):
//   main → http, cli → domain modules → db/config/crypto, executor contracts → core, contract
// A module is imported through its index.ts only; executors/local and executors/kubernetes are reached
// only from the composition root (main/) and, for the pure Kubernetes builders, the render routes (http/).
import boundaries from 'eslint-plugin-boundaries';
import tseslint from 'typescript-eslint';

const folder = (type, names) => names.map((name) => ({ type, pattern: `src/${name}`, mode: 'folder' }));

const domain = ['identity', 'authz', 'tenants', 'audit', 'tracking', 'artifacts', 'datasets', 'jobs', 'scheduler', 'serving', 'lineage', 'onnx', 'replicas'];
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
        { type: 'verify', pattern: 'src/verify', mode: 'folder' },
      ],
    },
    rules: {
      // No import upward: each layer names the layers it may use. Then, last (the last matching policy
      // decides): no import past another module's index.ts — contract/, core/ and the executor contracts
      // are sets of files, each its own entry.
      'boundaries/dependencies': ['error', {
        default: 'disallow',
        policies: [
          ...Object.entries({
            contract: ['contract', 'core'],
            core: ['core'],
            infrastructure: ['infrastructure', 'core', 'contract'],
            'executor-contract': ['executor-contract', 'contract', 'core'],
            executor: ['executor', 'executor-contract', 'contract', 'core'],
            domain: ['domain', 'executor-contract', 'infrastructure', 'contract', 'core'],
            http: ['http', 'domain', 'executor', 'executor-contract', 'infrastructure', 'contract', 'core'],
            // The CLI is an API client: the contract, core and its own files (config: its settings file).
            cli: ['cli', 'contract', 'core', 'infrastructure', 'verify'],
            main: ['main', 'http', 'cli', 'domain', 'executor', 'executor-contract', 'infrastructure', 'contract', 'core'],
            // The verifier attacks a deployment over HTTP: like the CLI, it never imports the server.
            verify: ['verify', 'contract', 'core'],
          }).map(([from, to]) => ({ from: { element: { type: from } }, allow: { to: { element: { types: { anyOf: to } } } } })),
          {
            to: { element: { types: { anyOf: ['domain', 'infrastructure', 'executor', 'http', 'cli', 'main'] } } },
            disallow: { to: { element: { fileInternalPath: '!index.ts' } } },
            message: "import another module through its index.ts, not its internals",
          },
        ],
      }],
    },
  },
  {
    // http/ may use the pure Kubernetes builders (render routes), never the local executor: only main/ builds it.
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
