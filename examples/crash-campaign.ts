/**
 * The crash campaign from a program: seeded runs of a mixed workload, each
 * with a fault (here simulated power cuts and EIO), recovery, and every
 * invariant of docs/design.md checked. Exit 1 on a violation, printing the
 * command that replays it.
 *
 *   node dist/examples/crash-campaign.js [RUNS]
 */
import { runCrashTests } from 'fanlog/testing';

const runs = Number(process.argv[2] ?? 200);
const summary = await runCrashTests({ runs, seed: 7, opsPerRun: 60, faults: ['power-cut', 'eio'] });
if (summary.violations > 0) console.error(summary.failures);
console.log(`${summary.runs} runs, ${summary.violations} violations`);
process.exitCode = summary.violations > 0 ? 1 : 0;
