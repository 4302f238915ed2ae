import { defineConfig } from 'vitest/config';

// Each test file runs in its own process (the forks pool) because the embedded
// ClickHouse engine allows one data directory per process.
export default defineConfig({
  // Source files load graphql-js as ESM while Apollo loads it as CommonJS; one
  // copy keeps `instanceof GraphQLError` checks working under vitest.
  resolve: { alias: [{ find: /^graphql$/, replacement: 'graphql/index.js' }] },
  test: {
    pool: 'forks',
    globalSetup: ['libs/testing/src/global-setup.ts'],
    projects: [
      {
        extends: true,
        test: {
          name: 'unit',
          include: ['libs/*/test/**/*.spec.ts', 'services/*/test/**/*.spec.ts'],
        },
      },
      {
        extends: true,
        test: {
          name: 'integration',
          setupFiles: ['libs/testing/src/day-boundary-setup.ts'],
          include: ['libs/*/test/**/*.integration.ts', 'services/*/test/**/*.integration.ts'],
          testTimeout: 120_000,
          hookTimeout: 180_000,
        },
      },
      {
        extends: true,
        test: {
          name: 'e2e',
          setupFiles: ['libs/testing/src/day-boundary-setup.ts'],
          include: ['services/*/test/**/*.e2e.ts'],
          testTimeout: 180_000,
          hookTimeout: 180_000,
        },
      },
    ],
  },
});
