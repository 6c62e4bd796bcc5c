/**
 * `fanlog mirror DIR`: a real directory mirrored into an engine's
 * filesystem (mirror/mirror.ts), from the command line. It opens the
 * engine (it takes the lock: `--wait`), scans DIR with a count of what it
 * crawled on stderr, then, unless `--once`, watches it until SIGINT or
 * SIGTERM, saying each full scan and hint batch on stdout, or until the
 * mirror ends by itself (DIR removed or replaced: ENOENT). At the end it
 * prints the mirror's stats (`--json`: one object). What could not be read
 * or applied is printed on stderr, `fanlog: mirror: CODE: path: why`, and
 * makes the exit status 1: the mirror is incomplete there.
 */
import type { Mirror, MirrorStats, ScanReason } from '../mirror/mirror.js';
import { type CommonOptions, toJson } from './commands.js';
import { openEngine } from './open-engine.js';
import { progressBar } from './progress.js';

export interface MirrorCommand extends CommonOptions {
  source: string;
  once?: boolean;
  into?: string;
  ignore?: string[];
  rescanEvery?: number;
  settle?: number;
}

const out = (line: string): void => {
  process.stdout.write(`${line}\n`);
};

export async function mirrorCommand(options: MirrorCommand): Promise<void> {
  const engine = await openEngine(options);
  let mirror: Mirror | null = null;
  try {
    const crawl = options.json === true ? null : progressBar('crawled', null, { stream: process.stderr, quietOnPipe: true });
    let crawling = true;
    const said = new Set<string>();
    mirror = await engine.mirror(options.source, {
      watch: options.once !== true,
      ...(options.into === undefined ? {} : { into: options.into }),
      ...(options.ignore === undefined ? {} : { ignore: options.ignore }),
      ...(options.rescanEvery === undefined ? {} : { rescanEveryMs: options.rescanEvery }),
      ...(options.settle === undefined ? {} : { settleMs: options.settle }),
      onProgress: (entries: number, reason: ScanReason) => {
        if (crawling && reason === 'start') crawl?.update(entries);
      },
      onError: (error) => {
        said.add(error.message);
        process.stderr.write(`fanlog: mirror: ${error.message}\n`);
      },
    });
    crawling = false;
    crawl?.stop();
    if (options.json !== true) say(mirror.stats());
    if (options.once !== true) await watchUntilSignal(mirror, options.json === true);
    await mirror.stop();
    const stats = mirror.stats();
    if (options.json === true) out(toJson(stats));
    else out(`mirrored ${mirror.root} into ${options.into ?? '/'}: ${stats.scans} scans, ${stats.hintBatches} hint batches, ${stats.changes} changes`);
    // A problem onError already said as it happened is not said again.
    for (const problem of stats.problems) if (!said.has(problem.message)) process.stderr.write(`fanlog: mirror: ${problem.message}\n`);
    if (stats.problems.length > 0 || stats.lastError !== null) process.exitCode = 1;
  } finally {
    await mirror?.stop();
    await engine.close();
  }
}

function say(stats: MirrorStats): void {
  const scan = stats.lastScan;
  if (scan !== null) out(`scan (${scan.reason}): ${scan.entries} entries, ${scan.changes} changes, ${scan.ms} ms`);
}

/** Until SIGINT or SIGTERM, or the mirror ends by itself (its directory gone: onError said it): a line per full scan and per hint batch. */
async function watchUntilSignal(mirror: Mirror, quiet: boolean): Promise<void> {
  let last = mirror.stats();
  const timer = setInterval(() => {
    const now = mirror.stats();
    if (!quiet && now.scans !== last.scans) say(now);
    if (!quiet && now.hintBatches !== last.hintBatches) out(`hints: ${now.hintBatches - last.hintBatches} batches, ${now.changes - last.changes} changes`);
    last = now;
  }, 250);
  try {
    await new Promise<void>((resolve) => {
      process.once('SIGINT', resolve);
      process.once('SIGTERM', resolve);
      void mirror.ended.then(() => resolve());
    });
  } finally {
    clearInterval(timer);
  }
}
