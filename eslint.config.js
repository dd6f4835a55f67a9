// Type-aware lint for src/, test/, bench/ and infra/: typescript-eslint's
// recommended type-checked rules. The few changes below each say why.
import js from '@eslint/js';
import globals from 'globals';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'coverage/**', '.tap/**', 'infra/cdk.out/**', 'infra/node_modules/**', 'infra/dist/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      globals: globals.node,
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      // `_`-prefixed names are deliberately unused (interface-shaped callbacks).
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' }],
      // Methods that implement an async interface synchronously keep `async`, so that a throw
      // reaches the caller as a rejection, the way the interface's other implementations fail.
      '@typescript-eslint/require-await': 'off',
    },
  },
  {
    // tap's `t.test(...)` and top-level `test(...)` return promises that tap itself awaits.
    files: ['test/**/*.ts', 'infra/test/**/*.ts'],
    rules: {
      '@typescript-eslint/no-floating-promises': 'off',
      // Tests read untyped JSON (API answers, CloudFormation templates, recordings) and assert
      // its shape themselves; typing every probe would add casts, not safety.
      '@typescript-eslint/no-explicit-any': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
      // Tests match control characters (Ctrl-D, escapes) on purpose, and save and restore
      // methods such as process.stderr.write to watch what code prints.
      'no-control-regex': 'off',
      '@typescript-eslint/unbound-method': 'off',
    },
  },
  { files: ['**/*.js'], extends: [tseslint.configs.disableTypeChecked] },
);
