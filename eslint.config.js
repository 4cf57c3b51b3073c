import js from '@eslint/js';
import globals from 'globals';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  {
    ignores: ['**/dist/**', '**/node_modules/**', '**/.turbo/**', '**/coverage/**', '**/results/**'],
  },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { ...globals.node } },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
      'no-restricted-properties': [
        'error',
        { object: 'process', property: 'env', message: 'Read configuration only in config.ts.' },
      ],
    },
  },
  {
    // Configuration parsing and test harnesses are the only places env is read.
    files: [
      '**/src/config.ts',
      '**/test/**',
      '**/scripts/**',
      '**/*.config.js',
      'jest.base.js',
      '**/src/bench/**',
      'packages/e2e/src/**',
      'packages/bench/src/**',
    ],
    rules: { 'no-restricted-properties': 'off' },
  },
);
