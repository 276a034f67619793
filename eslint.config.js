// ESLint with typescript-eslint, type-aware: the rules that catch real bugs in
// code that is mostly promises over pg connections (a floating or misused
// promise, an await of a non-promise), on top of the recommended sets.
// Formatting is Prettier's (npm run format), not ESLint's.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  // The type-level fixture holds deliberate type errors (@ts-expect-error), compiled by its own test.
  { ignores: ['dist/', 'node_modules/', '.racefree/', 'test/fixtures/typecheck/'] },
  js.configs.recommended,
  tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/await-thenable': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { varsIgnorePattern: '^_', argsIgnorePattern: '^_' }],
    },
  },
  {
    // Tests read rows of many ad-hoc shapes; `any` there is a row, not a hole in the API's types.
    files: ['test/**/*.ts'],
    rules: { '@typescript-eslint/no-explicit-any': 'off' },
  },
  {
    files: ['**/*.js', '**/*.mjs'],
    languageOptions: { globals: { process: 'readonly', console: 'readonly', MessageChannel: 'readonly' } },
  },
);
