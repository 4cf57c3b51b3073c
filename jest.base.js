// Shared Jest configuration: native ESM mode (Jest runs with --experimental-vm-modules),
// TypeScript through ts-jest. Each package's jest.config.js spreads this.
/** @type {import('jest').Config} */
export default {
  testEnvironment: 'node',
  extensionsToTreatAsEsm: ['.ts'],
  moduleNameMapper: { '^(\\.{1,2}/.*)\\.js$': '$1' },
  transform: {
    '^.+\\.ts$': ['ts-jest', { useESM: true, tsconfig: '<rootDir>/tsconfig.json' }],
  },
  testMatch: ['<rootDir>/test/**/*.test.ts'],
  // The bound that catches a hang, not a performance budget: on a loaded 2-core machine (the CI
  // runner, or two suites at once) spawning a node process, CREATE/DROP DATABASE and RSA key
  // generation each take seconds, and tests that do several went past 20 s while correct.
  testTimeout: 60_000,
};
