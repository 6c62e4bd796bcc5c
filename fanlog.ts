/**
 * Engine: the class users open. It composes the layers, each of which
 * knows only the one below it:
 *
 *   journal/    segments, frames, recovery, Io        (knows nothing above)
 *   store/      MetaStore backends, sealed values     (knows nothing above)
 *   engine/     EngineCore: filesystem, groups, permissions, checkpoints,
 *               purges; offers readers a ChangelogSource
 *   consumers/  durable consumers and filters, built on ChangelogSource
 *   fanlog.ts   Engine = EngineCore + consumers (this file)
 *
 * Nothing under engine/ imports consumers/: the engine holds its readers
 * only as ChangelogReaders that this file attaches.
 */
import { Consumers } from './consumers/consumer-registry.js';
import { Filters } from './consumers/filters.js';
import { CORE_OPTION_NAMES, EngineCore, type EngineCoreOptions, type EngineParts } from './engine/engine.js';
import { checkInteger, checkOptions } from './validate.js';

export type { EngineRecovery } from './engine/engine.js';

export interface EngineOptions extends EngineCoreOptions {
  /** Default `lagRecordsMax` for consumers that set none; default: no limit. */
  consumerLagRecordsMax?: number;
  /** Default `idleMsMax` for consumers that set none; default: no limit. */
  consumerIdleMsMax?: number;
}

const OPTION_NAMES = [...CORE_OPTION_NAMES, 'consumerLagRecordsMax', 'consumerIdleMsMax'] as const;

export class Engine extends EngineCore {
  /** Filters consumers may attach, by name. */
  readonly filters = new Filters();
  readonly consumers: Consumers;

  private constructor(parts: EngineParts, consumerDefaults: { lagRecordsMax: number | null; idleMsMax: number | null }) {
    super(parts);
    this.consumers = new Consumers(this, this.filters, consumerDefaults);
    this.attach(this.consumers);
  }

  /** Opens (or creates) the engine in `dir`: see engine/engine.ts for what opening does. */
  static async open(dir: string, options: EngineOptions = {}): Promise<Engine> {
    const { consumerLagRecordsMax, consumerIdleMsMax, ...core } = checkOptions<EngineOptions>('options', options, OPTION_NAMES);
    const consumerDefaults = {
      lagRecordsMax: consumerLagRecordsMax === undefined ? null : checkInteger('consumerLagRecordsMax', consumerLagRecordsMax, 1, Number.MAX_SAFE_INTEGER),
      idleMsMax: consumerIdleMsMax === undefined ? null : checkInteger('consumerIdleMsMax', consumerIdleMsMax, 1, 2 ** 31 - 1),
    };
    return EngineCore.openCore(dir, core, (parts) => new Engine(parts, consumerDefaults));
  }
}
