/**
 * The world the event tests (events.test.ts, event-queues.test.ts) act in:
 * a small tree on MemoryIo with the `files` store, a group to watch it, and
 * its queued events as readable strings.
 */
import {
  Engine,
  type EventQueue,
  FAN_ACCESS,
  FAN_ATTRIB,
  FAN_CLOSE_NOWRITE,
  FAN_CLOSE_WRITE,
  FAN_CREATE,
  FAN_DELETE,
  FAN_DELETE_SELF,
  FAN_HSM,
  FAN_LINK,
  FAN_MODIFY,
  FAN_MOVE_SELF,
  FAN_MOVED_FROM,
  FAN_MOVED_TO,
  FAN_OPEN,
  FAN_OPEN_EXEC,
  FAN_RENAME,
  FAN_SYMLINK,
  FAN_TRUNCATE,
  FAN_XATTR,
  type MarkOptions,
  type Mask,
  maskNames,
} from '../../index.js';
import { MemoryIo } from '../../testing.js';

/** The notification events a test's mark asks for when it wants them all (FAN_ONDIR and FAN_EVENT_ON_CHILD are added where a test needs them). */
export const ALL =
  FAN_ACCESS |
  FAN_MODIFY |
  FAN_ATTRIB |
  FAN_CLOSE_WRITE |
  FAN_CLOSE_NOWRITE |
  FAN_OPEN |
  FAN_OPEN_EXEC |
  FAN_MOVED_FROM |
  FAN_MOVED_TO |
  FAN_CREATE |
  FAN_DELETE |
  FAN_DELETE_SELF |
  FAN_MOVE_SELF |
  FAN_RENAME |
  FAN_XATTR |
  FAN_LINK |
  FAN_SYMLINK |
  FAN_TRUNCATE |
  FAN_HSM;

/** An engine on MemoryIo holding /data (with a file and a directory) and /other (with a file). */
export async function world(changelogMask?: Mask): Promise<Engine> {
  const engine = await Engine.open('/e', { io: new MemoryIo(), store: 'files', ...(changelogMask === undefined ? {} : { changelogMask }) });
  await engine.fs.mkdir('/data');
  await engine.fs.mkdir('/data/dir');
  await engine.fs.mkdir('/other');
  await engine.fs.create('/data/file', { size: 10_000 });
  await engine.fs.create('/other/file', { size: 100 });
  return engine;
}

/** A new group with `marks`, and its queue. */
export async function watch(engine: Engine, ...marks: MarkOptions[]): Promise<EventQueue> {
  const group = await engine.groups.create(`g${engine.groups.list().length}`);
  for (const mark of marks) await group.mark(mark);
  return group.openQueue();
}

/** Each queued event as 'MASK|NAMES path', in order. */
export async function seen(queue: EventQueue): Promise<string[]> {
  return (await queue.read({ max: 100 })).map((event) => `${maskNames(event.mask).join('|')} ${event.path ?? ''}`);
}
