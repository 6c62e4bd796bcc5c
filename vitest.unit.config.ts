import { defineConfig } from 'vitest/config';

// The fast tier: `npm run test:unit`. In-process tests only: no child
// processes, no root, no servers (test/tiers/unit-guard.ts refuses them), and
// seeded crash runs at their small default sizes. `npm test` runs everything.
export default defineConfig({
  test: {
    include: [
      'test/{journal,engine,consumers,store}/**/*.test.ts',
      'test/interop/fanotify-response.test.ts',
      'test/crash/permission-checks.test.ts',
      'test/{docs,layers,bad-arguments}.test.ts',
    ],
    exclude: [
      // Each of these kills or locks across real child processes.
      '**/kill.test.ts',
      '**/*-kill.test.ts',
      'test/journal/lock.test.ts',
      'test/store/lmdb-beside.test.ts',
      'test/store/lmdb-open-damage.test.ts',
      'test/engine/read-only-beside.test.ts',
      'test/engine/keep-alive.test.ts',
      // These run the CLI or fill a real filesystem as root.
      'test/store/damage.test.ts',
      'test/store/full-disk.test.ts',
    ],
    setupFiles: ['test/tiers/unit-guard.ts'],
    // The fuzzers at a quarter of their default cases (npm test runs 1000, CI 10,000).
    env: { FANLOG_FUZZ_CASES: process.env.FANLOG_FUZZ_CASES ?? '250' },
    testTimeout: 60_000,
    pool: 'forks',
    // Both cores: files run two at a time (vitest's default leaves one core idle here).
    poolOptions: { forks: { maxForks: 2, minForks: 1 } },
  },
});
