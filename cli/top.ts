/**
 * `fanlog top --dir D`: a live view beside the running application, redrawn
 * every second: head and durable seq, entries per second, fdatasync p50 and
 * p99, each consumer's lag (records, seconds, a bar), each group's queued
 * and pending counts. The figures are the holder's own `engine.metrics()`,
 * asked through its socket (serve/client.ts): only that process knows
 * rates, latencies and queues. Two parts: the frames, pure functions from
 * a metrics sample, the one before it and the width to lines
 * (`metricsFrame`, `waitingFrame`); and the loop (`topCommand`): the
 * terminal (alternate screen, hidden cursor, raw stdin for `q`) and the
 * connection to the holder, each second:
 *
 *   no client    D must hold an engine (else ENOENT, exit 1, as for every
 *                command); connect: ESERVER (no holder, or `serve: false`)
 *                shows a waiting frame, and the next second tries again
 *   a client     ask for metrics; ESERVER (the holder went away) shows a
 *                waiting frame naming its pid, and the next second
 *                connects again; a holder slower than a second keeps its
 *                last figures on screen, said to be that old
 *   other errors end top: the terminal is restored and the FanlogError
 *                thrown (main.ts prints `fanlog: CODE: message`)
 *
 * `q`, Ctrl-C and SIGTERM quit, exit 0. The terminal is restored on every
 * way out, a crash included.
 */
import { holdsEngine } from '../engine/engine-dir.js';
import { FanlogError } from '../errors.js';
import { NodeIo } from '../journal/node-io.js';
import type { EngineMetrics } from '../metrics.js';
import { EngineClient } from '../serve/client.js';
import { checkLayout } from './layout.js';

/** One answer of the holder, and when it came (ms, by Date.now()). */
export interface TopSample {
  metrics: EngineMetrics;
  atMs: number;
}

/** How often the view is redrawn and the holder asked. */
const REDRAW_MS = 1000;
/** Figures older than this are shown as stale: the holder did not answer the last asks. */
const STALE_MS = 2500;
/** Bars are ASCII, not block characters: top must read the same on a console in the C locale. */
const BAR_FULL = '#';
const BAR_EMPTY = '.';
const BAR_WIDTH_MAX = 50;
/** Below this, a bar is no bar: the figures beside it say it all. */
const BAR_WIDTH_MIN = 5;
/** Narrower terminals are laid out as if this wide, and cut to their width. */
const WIDTH_MIN = 40;

// ─── Frames: pure ─────────────────────────────────────────────────────────────

/** Every line cut to the width; `process.stdout.columns` counts columns, and every name fanlog allows is ASCII. */
const fit = (lines: string[], width: number): string[] => lines.map((line) => line.slice(0, width));

/** `text` broken at spaces into lines of at most `width` (a word longer than that is cut later, by fit). */
function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(' ')) {
    if (line !== '' && line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else line = line === '' ? word : `${line} ${word}`;
  }
  return [...lines, line];
}

const pad = (text: string, width: number): string => text.padEnd(width);
const right = (text: string, width: number): string => text.padStart(width);
const known = (value: number | null, digits: number): string => (value === null ? '-' : value.toFixed(digits));
const milliseconds = (value: number | null): string => (value === null ? '-' : `${value.toFixed(2)} ms`);

/** Seconds in the unit that reads best: 4.2 s, 12 min, 3.5 h. */
export function duration(seconds: number | null): string {
  if (seconds === null) return '-';
  if (seconds < 100) return `${seconds.toFixed(1)} s`;
  if (seconds < 6000) return `${Math.round(seconds / 60)} min`;
  return `${(seconds / 3600).toFixed(1)} h`;
}

function bytes(count: number): string {
  const unit = Math.min(3, Math.floor(Math.log2(Math.max(1, count)) / 10));
  return unit === 0 ? `${count} B` : `${(count / 1024 ** unit).toFixed(1)} ${['KiB', 'MiB', 'GiB'][unit - 1]}`;
}

/** `width` characters between brackets, filled as `part / whole` is; any part above 0 shows, so one record behind is not drawn as caught up. */
export function bar(part: bigint, whole: bigint, width: number): string {
  const filled = part <= 0n || whole <= 0n ? 0 : part >= whole ? width : Math.max(1, Math.floor((Number(part) / Number(whole)) * width));
  return `[${BAR_FULL.repeat(filled)}${BAR_EMPTY.repeat(width - filled)}]`;
}

/** The first line: what is shown, by whom, and at the right edge the local time (HH:MM:SS), in which the view is seen live. */
function titleLine(left: string, atMs: number, width: number): string {
  const at = new Date(atMs);
  const time = [at.getHours(), at.getMinutes(), at.getSeconds()].map((part) => String(part).padStart(2, '0')).join(':');
  return left.length + 2 + time.length > width ? left : `${pad(left, width - time.length)}${time}`;
}

export interface MetricsFrame {
  dir: string;
  holderPid: number;
  sample: TopSample;
  /** The sample before, from the same holder: with it, the entries per second of the last interval. */
  previous: TopSample | null;
  width: number;
  /** Now (ms): figures older than STALE_MS are said to be that old. */
  nowMs: number;
}

/** The lines of a frame of figures, each at most `width` long. */
export function metricsFrame(frame: MetricsFrame): string[] {
  const width = Math.max(WIDTH_MIN, frame.width);
  const { metrics } = frame.sample;
  const { seqs } = metrics;
  const behind = seqs.durable === null ? '' : seqs.head > seqs.durable ? ` (${seqs.head - seqs.durable} not yet)` : '';
  const checkpoint = seqs.checkpoint === null ? 'unknown' : seqs.checkpoint === 0n ? 'none yet' : String(seqs.checkpoint);
  const syncs = metrics.fdatasyncMs;
  const lines = [
    titleLine(`fanlog top: ${frame.dir}, held by pid ${frame.holderPid}`, frame.sample.atMs, width),
    `head ${seqs.head}   durable ${seqs.durable ?? 'unknown'}${behind}   oldest retained ${seqs.oldestRetained}   checkpoint ${checkpoint}   journal ${bytes(metrics.journalBytes)}`,
    `entries/s  ${known(intervalRate(frame), 0)} now, ${known(metrics.entriesPerSecond, 1)} over the last minute`,
    syncs === null || syncs.count === 0
      ? 'fdatasync  none in the last minute'
      : `fdatasync  p50 ${milliseconds(syncs.p50)}   p99 ${milliseconds(syncs.p99)}   (${syncs.count} in the last minute)`,
    '',
    ...consumerLines(metrics, width),
    '',
    ...groupLines(metrics.groups),
    '',
  ];
  const ageMs = frame.nowMs - frame.sample.atMs;
  if (ageMs > STALE_MS) lines.push(`the holder has not answered for ${duration(ageMs / 1000)}: these figures are that old`);
  lines.push('q quits. A bar is the lag as a share of the retained journal: full, the consumer holds its oldest record.');
  return fit(lines, frame.width);
}

/** Entries per second between the previous sample and this one (seqs count entries); null without one, or after a journal was made anew. */
function intervalRate({ sample, previous }: MetricsFrame): number | null {
  const seconds = previous === null ? 0 : (sample.atMs - previous.atMs) / 1000;
  const entries = previous === null ? 0n : sample.metrics.seqs.head - previous.metrics.seqs.head;
  return seconds <= 0 || entries < 0n ? null : Number(entries) / seconds;
}

/**
 * A line per consumer: name, lag in records and seconds, and a bar of the
 * lag against the retained journal (head - oldest retained + 1): full, the
 * consumer holds the journal's oldest record. The bar takes what the width
 * leaves, up to BAR_WIDTH_MAX.
 */
function consumerLines(metrics: EngineMetrics, width: number): string[] {
  const { consumers, seqs } = metrics;
  if (consumers.length === 0) return ['no consumers'];
  const nameWidth = Math.max(8, ...consumers.map((c) => c.name.length));
  const head = `${pad('CONSUMER', nameWidth)}  ${right('LAG RECORDS', 12)}  ${right('LAG SECONDS', 11)}  `;
  const barWidth = Math.min(BAR_WIDTH_MAX, width - head.length - 2);
  const retained = seqs.head - seqs.oldestRetained + 1n;
  const lines = [`${head}${barWidth >= BAR_WIDTH_MIN ? 'LAG' : ''}`];
  for (const c of consumers) {
    const shown = c.evicted ? 'EVICTED: it must rescan' : barWidth >= BAR_WIDTH_MIN ? bar(c.lagRecords, retained, barWidth) : '';
    const seconds = c.evicted ? '-' : duration(c.lagSeconds);
    lines.push(`${pad(c.name, nameWidth)}  ${right(String(c.lagRecords), 12)}  ${right(seconds, 11)}  ${shown}`.trimEnd());
  }
  return lines;
}

/** A line per group: name, class, queued events and pending permission events. */
function groupLines(groups: EngineMetrics['groups']): string[] {
  if (groups.length === 0) return ['no groups'];
  const nameWidth = Math.max(8, ...groups.map((g) => g.name.length));
  const count = (value: number | null): string => (value === null ? '-' : String(value));
  const lines = [`${pad('GROUP', nameWidth)}  ${pad('CLASS', 12)}  ${right('QUEUED', 8)}  ${right('PENDING', 8)}  ${right('TIMEOUTS', 8)}`];
  for (const g of groups) {
    const row = `${pad(g.name, nameWidth)}  ${pad(g.class, 12)}  ${right(count(g.queued), 8)}  ${right(count(g.pendingPermissions), 8)}  ${right(count(g.timeouts), 8)}`;
    lines.push(g.evicted ? `${row}  EVICTED` : row);
  }
  return lines;
}

export interface WaitingFrame {
  dir: string;
  /** The pid of a holder that served the engine and went away; null when none was reached yet. */
  lostPid: number | null;
  /** Why, as the client said it (ESERVER's message); null while the first connection is being made (a holder that does not answer). */
  why: string | null;
  width: number;
  nowMs: number;
}

/** The lines of a frame while nobody serves the engine: what is wrong, what top does about it, and what works meanwhile. */
export function waitingFrame(frame: WaitingFrame): string[] {
  const { width } = frame;
  const said =
    frame.why === null
      ? `connecting to the process that serves the engine in ${frame.dir}: it has not answered yet`
      : frame.lostPid === null
        ? `no process serves the engine in ${frame.dir}: waiting for one; fanlog stat reads it lock-free`
        : `the process that served the engine in ${frame.dir} (pid ${frame.lostPid}) went away: waiting for one; fanlog stat reads it lock-free`;
  const why = frame.why === null ? [] : ['', ...wrap(frame.why, width)];
  return fit([titleLine(`fanlog top: ${frame.dir}`, frame.nowMs, width), '', ...wrap(said, width), ...why, '', 'q quits.'], width);
}

// ─── The loop: the terminal and the holder ──────────────────────────────────

const CSI = '\x1b[';
/** The alternate screen (xterm's 1049: the shell's screen comes back as it was) and the cursor hidden. */
const ENTER = `${CSI}?1049h${CSI}?25l`;
const LEAVE = `${CSI}?25h${CSI}?1049l`;
const SIGNALS = ['SIGINT', 'SIGTERM'] as const;
/** The bytes that quit: q, Q, Ctrl-C (raw mode turns it into a byte rather than SIGINT) and Ctrl-D. */
const QUIT_KEYS = new Set(['q', 'Q', '\x03', '\x04']);

/** The terminal while top runs: entered once, left once, whatever way top ends. */
class Screen {
  readonly #out: NodeJS.WriteStream;
  readonly #in: NodeJS.ReadStream;
  readonly #onKey: (chunk: Buffer | string) => void;
  readonly #leave = (): void => this.leave();
  #entered = false;

  constructor(out: NodeJS.WriteStream, input: NodeJS.ReadStream, quit: () => void) {
    this.#out = out;
    this.#in = input;
    this.#onKey = (chunk) => {
      if ([...chunk.toString()].some((key) => QUIT_KEYS.has(key))) quit();
    };
  }

  get width(): number {
    return this.#out.columns > 0 ? this.#out.columns : 80;
  }

  enter(): void {
    this.#entered = true;
    // A crash too gives the terminal back: before Node prints its error (which the alternate screen would hide), and at exit.
    process.on('uncaughtExceptionMonitor', this.#leave);
    process.on('exit', this.#leave);
    this.#out.write(ENTER);
    // Without a terminal on stdin there are no keys to read: Ctrl-C is then SIGINT, which quits too.
    if (this.#in.isTTY) this.#in.setRawMode(true);
    this.#in.on('data', this.#onKey);
    this.#in.resume();
  }

  /** Draws `lines` from the top left, each on a line cleared first, the rest of the screen cleared; cut to the terminal's height. */
  draw(lines: string[]): void {
    const rows = this.#out.rows > 0 ? this.#out.rows : 24;
    const shown = lines.length > rows ? [...lines.slice(0, rows - 1), `(${lines.length - rows + 1} more lines: a taller terminal shows them)`] : lines;
    // Cleared, then written: erasing after a line that fills the last column would erase its last character.
    const body = shown.map((line, index) => `${CSI}${index + 1};1H${CSI}2K${line}`).join('');
    this.#out.write(`${body}${shown.length < rows ? `${CSI}${shown.length + 1};1H${CSI}J` : ''}`);
  }

  leave(): void {
    if (!this.#entered) return;
    this.#entered = false;
    process.off('uncaughtExceptionMonitor', this.#leave);
    process.off('exit', this.#leave);
    this.#in.off('data', this.#onKey);
    if (this.#in.isTTY) this.#in.setRawMode(false);
    this.#in.pause();
    this.#out.write(LEAVE);
  }
}

/** What the screen shows: figures from a holder, or a wait for one. */
type Shown =
  | { kind: 'connecting' }
  | { kind: 'figures'; holderPid: number; sample: TopSample; previous: TopSample | null }
  | { kind: 'waiting'; lostPid: number | null; why: string };

export async function topCommand(options: { dir: string }): Promise<void> {
  const { dir } = options;
  // A refusal, not one frame printed: a frame on a pipe would be a second `stat` in a format no script should parse; stat --json is that, and stable.
  if (process.stdout.isTTY !== true) {
    throw new FanlogError('EINVAL', 'fanlog top draws a live view and needs a terminal (stdout is not one): fanlog stat --json gives the figures to a script');
  }
  await checkEngine(dir);
  let cancel: () => void = () => undefined;
  /** A wait that a quit, an error or the next wait ends at once, its timer cleared: no timer holds the process after a quit. */
  const pause = (ms: number): Promise<void> => {
    cancel();
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, Math.max(0, ms));
      cancel = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  };
  const link = new HolderLink(dir, () => cancel());
  const quit = (): void => {
    link.stopping = true;
    cancel();
  };
  const screen = new Screen(process.stdout, process.stdin, quit);
  const draw = (): void => screen.draw(frameOf(dir, link.shown, screen.width));
  for (const signal of SIGNALS) process.on(signal, quit);
  // Node turns SIGWINCH into 'resize' on a terminal's stdout.
  process.stdout.on('resize', draw);
  screen.enter();
  let asking: Promise<void> | null = null;
  let ended: boolean;
  try {
    while (!link.stopping && link.failure === null) {
      const next = Date.now() + REDRAW_MS;
      // A holder slower than a second is not asked again meanwhile: its answer is awaited, and the last figures shown as stale.
      asking ??= link.refresh().finally(() => (asking = null));
      await Promise.race([asking, pause(REDRAW_MS)]);
      cancel();
      if (link.stopping || link.failure !== null) break;
      draw();
      await pause(next - Date.now());
    }
    if (link.failure !== null) throw link.failure;
  } finally {
    for (const signal of SIGNALS) process.off(signal, quit);
    process.stdout.off('resize', draw);
    screen.leave();
    ended = await link.close(asking);
  }
  // A holder that is stopped (SIGSTOP, a debugger) answers neither a call nor the end of its connection, and
  // EngineClient has no way to drop a connection without its holder's answer: the quit is not made to wait for it.
  if (!ended) process.exit(0);
}

function frameOf(dir: string, shown: Shown, width: number): string[] {
  const nowMs = Date.now();
  if (shown.kind === 'connecting') return waitingFrame({ dir, lostPid: null, why: null, width, nowMs });
  if (shown.kind === 'waiting') return waitingFrame({ dir, lostPid: shown.lostPid, why: shown.why, width, nowMs });
  return metricsFrame({ dir, holderPid: shown.holderPid, sample: shown.sample, previous: shown.previous, width, nowMs });
}

/** ENOENT (or the layout's own error) unless `dir` holds an engine: top waits for a holder, never for an engine that is not there. */
async function checkEngine(dir: string): Promise<void> {
  checkLayout(dir);
  if (!(await holdsEngine(new NodeIo(), dir))) throw new FanlogError('ENOENT', `no fanlog engine in ${dir} (fanlog init makes one)`, { file: dir });
}

/** The connection to the holder, made again when it is lost, and what it last told. */
class HolderLink {
  readonly #dir: string;
  /** Wakes the loop when an error ends top. */
  readonly #failed: () => void;
  #client: EngineClient | null = null;
  shown: Shown = { kind: 'connecting' };
  /** Set by a quit: a call that fails then is not news, and a connection made then is closed at once. */
  stopping = false;
  /** An error that ends top (not ESERVER). */
  failure: Error | null = null;

  constructor(dir: string, failed: () => void) {
    this.#dir = dir;
    this.#failed = failed;
  }

  /** Connects if need be, and asks for the metrics; never rejects (an error that ends top is kept in `failure`). */
  async refresh(): Promise<void> {
    try {
      if (this.#client === null) {
        await checkEngine(this.#dir);
        const client = await EngineClient.connect(this.#dir);
        // Connected after a quit, which found no client to close: it is closed here.
        if (this.stopping) return void (await client.close());
        this.#client = client;
      }
      const { holderPid } = this.#client;
      const metrics = await this.#client.metrics();
      const previous = this.shown.kind === 'figures' ? this.shown.sample : null;
      this.shown = { kind: 'figures', holderPid, sample: { metrics, atMs: Date.now() }, previous };
    } catch (error) {
      if (this.stopping) return; // closed under a call by a quit
      if (!(error instanceof FanlogError && error.code === 'ESERVER')) {
        this.failure = error as Error;
        return this.#failed();
      }
      // A holder lost: the next refresh connects again, to whoever holds the engine then.
      const lostPid = this.#client?.holderPid ?? (this.shown.kind === 'waiting' ? this.shown.lostPid : null);
      const client = this.#client;
      this.#client = null;
      await client?.close();
      this.shown = { kind: 'waiting', lostPid, why: error.message };
    }
  }

  /** Ends the connection, and `inFlight` (a refresh: it closes a client it connects after a quit); whether both ended within a redraw. */
  async close(inFlight: Promise<void> | null): Promise<boolean> {
    const client = this.#client;
    this.#client = null;
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), REDRAW_MS)));
    const ended = Promise.all([client?.close(), inFlight]).then(() => true as const);
    try {
      return await Promise.race([ended, late]);
    } finally {
      clearTimeout(timer);
    }
  }
}
