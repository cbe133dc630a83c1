/** Tests run against the built package (dist/), as a user installs it. */
export default {
  testEnvironment: 'node',
  extensionsToTreatAsEsm: ['.ts'],
  transform: { '\\.ts$': '<rootDir>/test/esbuild-transform.cjs' },
  testMatch: ['<rootDir>/test/**/*.test.ts'],
  moduleNameMapper: { '^kaio$': '<rootDir>/dist/index.js' },
  testTimeout: 60000,
  maxWorkers: 2,
};
