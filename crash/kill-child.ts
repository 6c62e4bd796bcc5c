/**
 * The one child process of every kill test and of the crash campaign's kill
 * runs: `node dist/crash/kill-child.js PROFILE ARGS...` runs a workload on
 * a real disk until it is SIGKILLed. The profiles of the per-layer kill
 * tests (journal, engine, permissions, consumers) are in kill-profiles.ts;
 * this file has the campaign's, which runs the Workload (or until its
 * operations are spent) and reports to the parent, one line each on
 * stdout, what the model needs:
 *
 *   ready                  the engine is open and the workload starts
 *   durable SEQ            the journal called SEQ durable after a call resolved
 *   acked NAME SEQ         consumer NAME's ack of SEQ resolved
 *   registered NAME        consumer NAME was registered (again)
 *   decided SEQ            the response to request SEQ resolved
 *   checked                a live check passed
 *   violation N TEXT       a live check of invariant N failed
 *   control-start OBJ      a raced control call on OBJ started
 *   control OBJ TYPE [ARG] it settled (TYPE: refused, failed, attach,
 *                          register, deregister, create, destroy, ack SEQ,
 *                          mark PATH)
 *
 * Writes to a pipe are synchronous on Linux, so a line is out before the
 * process can die after it. Arguments: campaign DIR STORE SEED OPS
 * CHECKPOINT_EVERY [hold] (hold: never close and reopen the engine, so that
 * it is held from 'ready' until the process dies).
 */
import { Engine } from '../fanlog.js';
import type { StoreKind } from '../store/meta-store.js';
import { Prng } from '../journal/prng.js';
import { consumersProfile, engineProfile, journalProfile, permissionsProfile } from './kill-profiles.js';
import { Workload } from './workload.js';

const say = (line: string): void => void process.stdout.write(`${line}\n`);

async function campaignProfile([dir, store, seedText, opsText, checkpointText, reopensText]: string[]): Promise<void> {
  const workload = new Workload(
    dir!,
    new Prng(Number(seedText)),
    {
      durable: (seq) => say(`durable ${seq}`),
      acked: (consumer, seq) => say(`acked ${consumer} ${seq}`),
      registered: (consumer) => say(`registered ${consumer}`),
      decided: (seq) => say(`decided ${seq}`),
      checked: () => say('checked'),
      violation: (invariant, what) => say(`violation ${invariant} ${what.replace(/\n/g, ' ')}`),
      controlStarted: (object) => say(`control-start ${object}`),
      controlSettled: (object, change) =>
        say(`control ${object} ${change.type}${'seq' in change ? ` ${change.seq}` : 'path' in change ? ` ${change.path}` : ''}`),
    },
    {
      ops: Number(opsText),
      engine: { store: store as StoreKind, segmentBytesMax: 8192, checkpointEveryRecords: Number(checkpointText) },
      timeouts: true,
      realDisk: true,
      reopens: reopensText !== 'hold',
      stopped: () => false,
      onOpen: () => say('ready'),
    },
  );
  await workload.run((path, options) => Engine.open(path, options));
  // A holder keeps the engine until it is killed.
  if (reopensText === 'hold') await new Promise(() => setInterval(() => undefined, 1000));
  await workload.engine.close();
}

const PROFILES: Record<string, (args: string[]) => Promise<void>> = {
  campaign: campaignProfile,
  journal: journalProfile,
  engine: engineProfile,
  permissions: permissionsProfile,
  consumers: consumersProfile,
};
const [profile, ...args] = process.argv.slice(2);
const run = PROFILES[profile ?? ''];
if (run === undefined) throw new Error(`kill-child: unknown profile '${profile}' (${Object.keys(PROFILES).join(', ')})`);
await run(args);
