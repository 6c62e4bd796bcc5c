// Child process for permission-kill.test.ts: a real engine (lmdb store)
// with a restartable pre-content group and a content group, three simulated
// processes running guarded operations, and a listener that allows, denies,
// leaves events waiting and restarts its queue, until the process is killed.
import { Engine, ERRNO, FAN_ACCESS_PERM, FAN_ALLOW, FAN_DENY, FAN_DENY_ERRNO, FAN_OPEN_PERM, FAN_PRE_ACCESS, FAN_PRE_MODIFY, Prng } from '../../dist/index.js';

const [dir, seedText] = process.argv.slice(2);
const prng = new Prng(Number(seedText));
const engine = await Engine.open(dir, { store: 'lmdb', checkpointEveryRecords: 200 });
if (engine.groups.list().length === 0) {
  await engine.fs.mkdir('/d');
  for (let i = 0; i < 4; i++) await engine.fs.create(`/d/f${i}`, { size: 50_000, offline: i % 2 === 0 });
  const pre = await engine.groups.create('pre', { class: 'pre-content', restartable: true });
  await pre.mark({ path: '/', scope: 'filesystem', mask: FAN_PRE_ACCESS | FAN_PRE_MODIFY });
  const av = await engine.groups.create('av', { class: 'content' });
  await av.mark({ path: '/d', scope: 'mount', mask: FAN_OPEN_PERM | FAN_ACCESS_PERM });
}
const queues = { pre: engine.groups.get('pre').openQueue(), av: engine.groups.get('av').openQueue() };
process.stdout.write('ready\n');
const processes = [0, 1, 2].map(async (p) => {
  const fds = [];
  for (;;) {
    const file = `/d/f${prng.int(4)}`;
    try {
      if (fds.length < 2 || prng.chance(0.1)) fds.push(await engine.fs.open(file, prng.pick(['r', 'rw']), {}, { pid: p }));
      const fd = prng.pick(fds);
      if (prng.chance(0.5)) await engine.fs.read(fd, prng.int(60_000), prng.between(1, 8000), { pid: p });
      else await engine.fs.truncate(file, prng.int(60_000), { pid: p });
    } catch {}
  }
});
for (;;) {
  for (const name of ['pre', 'av']) {
    for (const event of await queues[name].read({ max: 8, waitMs: 5 })) {
      const roll = prng.next();
      if (roll < 0.15) continue; // left waiting
      const response = roll < 0.8 ? FAN_ALLOW : name === 'pre' && roll < 0.9 ? FAN_DENY_ERRNO(ERRNO.EIO) : FAN_DENY;
      void queues[name].respond(event.id, response).catch(() => undefined);
    }
  }
  if (prng.chance(0.05)) {
    await queues.pre.close();
    queues.pre = engine.groups.get('pre').openQueue();
  }
}
