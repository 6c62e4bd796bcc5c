/**
 * Progress for long CLI work: a bar on a terminal (a live count when the
 * total is not known, as in a crawl); on a pipe, at most a line per quarter
 * of the total, or per 10,000 without one (or nothing, with `quietOnPipe`),
 * so logs stay short.
 */
import { Presets, SingleBar } from 'cli-progress';

export interface Progress {
  update(value: number): void;
  stop(): void;
}

const COUNT_LINE_EVERY = 10_000;

/** Progress towards `total`, or a count when `total` is null. */
export function progressBar(label: string, total: number | null, options: { stream?: NodeJS.WriteStream; quietOnPipe?: boolean } = {}): Progress {
  const stream = options.stream ?? process.stdout;
  if (stream.isTTY) {
    const format = total === null ? `  ${label}: {value}` : `  ${label} [{bar}] {value}/{total}`;
    const bar = new SingleBar({ format, hideCursor: true, stream }, Presets.shades_classic);
    bar.start(total ?? 0, 0);
    return { update: (value) => bar.update(value), stop: () => bar.stop() };
  }
  if (options.quietOnPipe === true) return { update: () => undefined, stop: () => undefined };
  const step = total === null ? COUNT_LINE_EVERY : total / 4;
  const of = total === null ? '' : `/${total.toLocaleString('en-US')}`;
  let shown = 0;
  return {
    update: (value) => {
      if (value - shown >= step || value === total) {
        shown = value;
        stream.write(`  ${label}: ${value.toLocaleString('en-US')}${of}\n`);
      }
    },
    stop: () => undefined,
  };
}
