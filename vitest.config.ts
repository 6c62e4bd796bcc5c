import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // Both cores: files run two at a time (vitest's default leaves one core idle here).
    poolOptions: { forks: { maxForks: 2, minForks: 1 } },
  },
});
