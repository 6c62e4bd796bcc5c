/**
 * Progress for long CLI work: a bar on a terminal; on a pipe, at most a
 * line per quarter (or nothing, with `quietOnPipe`), so logs stay short.
 */
import { Presets, SingleBar } from 'cli-progress';

export interface Progress {
  update(value: number): void;
  stop(): void;
}

export function progressBar(label: string, total: number, options: { stream?: NodeJS.WriteStream; quietOnPipe?: boolean } = {}): Progress {
  const stream = options.stream ?? process.stdout;
  if (stream.isTTY) {
    const bar = new SingleBar({ format: `  ${label} [{bar}] {value}/{total}`, hideCursor: true, stream }, Presets.shades_classic);
    bar.start(total, 0);
    return { update: (value) => bar.update(value), stop: () => bar.stop() };
  }
  if (options.quietOnPipe === true) return { update: () => undefined, stop: () => undefined };
  let shown = 0;
  return {
    update: (value) => {
      if (value - shown >= total / 4 || value === total) {
        shown = value;
        stream.write(`  ${label}: ${value.toLocaleString('en-US')}/${total.toLocaleString('en-US')}\n`);
      }
    },
    stop: () => undefined,
  };
}

/** A count with no known total (a crawl): on a terminal a live count; on a pipe a line per `every`, or nothing with `quietOnPipe`. */
export function progressCount(label: string, options: { stream?: NodeJS.WriteStream; quietOnPipe?: boolean; every?: number } = {}): Progress {
  const stream = options.stream ?? process.stdout;
  if (stream.isTTY) {
    const bar = new SingleBar({ format: `  ${label}: {value}`, hideCursor: true, stream }, Presets.shades_classic);
    bar.start(0, 0);
    return { update: (value) => bar.update(value), stop: () => bar.stop() };
  }
  if (options.quietOnPipe === true) return { update: () => undefined, stop: () => undefined };
  const every = options.every ?? 10_000;
  let shown = 0;
  return {
    update: (value) => {
      if (value - shown >= every) {
        shown = value;
        stream.write(`  ${label}: ${value.toLocaleString('en-US')}\n`);
      }
    },
    stop: () => undefined,
  };
}
