import { defineConfig } from 'vitest/config';
export default defineConfig({ test: { pool: 'forks', include: ['test/**/*.spec.ts'] } });
