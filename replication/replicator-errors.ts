/**
 * How the replicator tells a final error (it stops) from one it retries,
 * and how it words the consumer's end.
 */
import { FanlogError } from '../errors.js';

/** The consumer's error as the replicator reports it: an eviction that left nothing undelivered says so, rather than naming an empty range. */
export function replicatorsView(error: FanlogError, consumer: string): FanlogError {
  const lost = error.lost;
  if (error.code !== 'EEVICTED' || lost === undefined || lost.fromSeq <= lost.toSeq) return error;
  return new FanlogError(
    'EEVICTED',
    `the replicator's consumer '${consumer}' was evicted (past its idle or lag limit), with every record through ${lost.toSeq} delivered: none was skipped; register it again (or start a replicator of another name) to go on`,
    { cause: error },
  );
}

/** The script's refusals and the consumer's end stop the replicator; anything else (Redis down, frozen, refusing, a failed WAIT) is retried. */
export function isFinal(error: unknown): boolean {
  const code = (error as { code?: string }).code;
  return ['ELOST', 'EFOREIGN', 'EJOURNALID', 'EBUSY', 'EEVICTED', 'EREPLACED', 'ECLOSED', 'EFAILED'].includes(code ?? '');
}
