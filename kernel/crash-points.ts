/**
 * Where the fanotify crash campaign (`fanlog crash-test --faults fanotify`,
 * crash/) kills a handler: named points on a kernel permission event's way,
 * each reached once per event, in this order:
 *   received    the feed handed the event over; its request is not journaled
 *   appended    its request is durable; its feed (the supervisor) has not
 *               been told its seq
 *   journaled   its request is durable and its feed told; its listener has
 *               not seen it
 *   decided     its decision is durable; the kernel has not been answered
 *   answered    the kernel was answered; the supervisor has not been told
 * and one on a changelog read (kernel/watch.ts), reached once per read:
 *   notified    the kernel's events were read; none is journaled
 * FANLOG_CRASH_AT=POINT:N in the environment SIGKILLs this process the N-th
 * time (from 1) it reaches POINT. Unset (always, outside the campaign), a
 * point costs one comparison.
 */
export type CrashPoint = 'received' | 'appended' | 'journaled' | 'decided' | 'answered' | 'notified';

const planned = /^(received|appended|journaled|decided|answered|notified):(\d+)$/.exec(process.env.FANLOG_CRASH_AT ?? '');
const at = planned === null ? null : { point: planned[1] as CrashPoint, nth: Number(planned[2]) };
let reached = 0;

/** SIGKILLs this process here if FANLOG_CRASH_AT names this point and count. */
export function crashPoint(point: CrashPoint): void {
  if (at === null || at.point !== point) return;
  if (++reached === at.nth) process.kill(process.pid, 'SIGKILL');
}
