import nx from '@nx/eslint-plugin';
import tseslint from 'typescript-eslint';

const IO_MODULES = [
  'node:*', 'fs', 'fs/*', 'net', 'http', 'http2', 'https', 'child_process', 'dgram', 'dns', 'tls', 'worker_threads',
  'pg', 'kafkajs', 'chdb', 'chdb/*', '@clickhouse/*', '@nestjs/*', '@connectrpc/*', 'express', 'pino', 'prom-client',
];

export default tseslint.config(
  { ignores: ['**/node_modules/**', '**/dist/**', '.vevee/**', '.nx/**', 'libs/contracts/src/gen/**'] },
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    plugins: { '@nx': nx },
    rules: {
      '@typescript-eslint/no-non-null-assertion': 'off',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
      'no-console': 'error',
      '@nx/enforce-module-boundaries': [
        'error',
        {
          allow: [],
          depConstraints: [
            // The domain decides quotas and does no I/O: no drivers, no framework, no Node built-ins.
            { sourceTag: 'type:domain', onlyDependOnLibsWithTags: ['type:domain', 'type:contracts'], bannedExternalImports: IO_MODULES },
            { sourceTag: 'type:contracts', onlyDependOnLibsWithTags: ['type:contracts'] },
            { sourceTag: 'type:sdk', onlyDependOnLibsWithTags: ['type:contracts'] },
            { sourceTag: 'type:adapter', onlyDependOnLibsWithTags: ['type:adapter', 'type:domain', 'type:contracts'] },
            { sourceTag: 'type:testing', onlyDependOnLibsWithTags: ['type:adapter', 'type:domain', 'type:contracts'] },
            { sourceTag: 'type:service', onlyDependOnLibsWithTags: ['type:service', 'type:adapter', 'type:domain', 'type:contracts', 'type:sdk', 'type:testing'] },
          ],
        },
      ],
    },
  },
  {
    // Tests of any project may use the test helpers.
    files: ['**/test/**/*.ts'],
    rules: {
      '@nx/enforce-module-boundaries': ['error', { allow: ['@vevee/testing'], depConstraints: [{ sourceTag: '*', onlyDependOnLibsWithTags: ['*'] }] }],
    },
  },
  {
    // Node built-ins are not npm projects, so the boundary rule above cannot see them.
    files: ['libs/domain/src/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', { patterns: [{ group: IO_MODULES, message: 'libs/domain is pure: move I/O to an adapter library or a service' }] }],
    },
  },
  {
    files: ['**/test/**/*.ts', 'services/demo/**/*.ts', 'deploy/**/*.ts'],
    rules: { 'no-console': 'off' },
  },
);
