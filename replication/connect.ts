/**
 * Connections to Redis, as replication uses them, and what their failures
 * become:
 *
 * - connected before they are handed out, within the command timeout
 *   but at least 5 s (TCP, AUTH and the ready check together: a frozen
 *   server accepts the TCP connection and then answers nothing);
 * - no offline queue (a command while the server is down fails fast, and
 *   the caller's own retry decides), reconnection in the background with a
 *   capped backoff;
 * - every command a caller sends goes through `timed`, its own deadline
 *   (ETIMEDOUT), blocking commands given their wait on top;
 * - every failure is a FanlogError (`remoteError`): EAUTH when the server
 *   refused the credentials (or wants some), ETIMEDOUT when it did not
 *   answer in time, EREMOTE otherwise;
 * - no credential is ever printed: every URL in a message, a stat or a
 *   metric goes through `redactUrl`, the one place that knows how.
 */
import { Redis } from 'ioredis';
import { FanlogError, invalid } from '../errors.js';

/** How long commands and connecting may take by default (ms). */
export const COMMAND_TIMEOUT_MS_DEFAULT = 5000;

/** What Redis says when the credentials are wrong or missing (WRONGPASS, NOAUTH, AUTH without a password set). */
const AUTH_REFUSED = /^(WRONGPASS|NOAUTH)\b|^ERR (AUTH|invalid password|Client sent AUTH)/;

/** The last error each connection heard (an auth refusal explains a command that failed because the link is down). */
const lastHeard = new WeakMap<Redis, Error>();

/**
 * The URL with its credentials replaced by `***`: what every message, stat
 * and metric shows. Everything between `://` and the last `@` is hidden
 * (whatever characters a password holds), and so is every value of the
 * query (ioredis reads `?password=` there) and the fragment. A string that
 * is not a URL with an authority is not shown at all.
 */
export function redactUrl(url: string): string {
  const match = /^([a-z][a-z0-9+.-]*:\/\/)(.*)$/is.exec(url);
  if (match === null) return '<not a URL>';
  const [, scheme, afterScheme] = match as unknown as [string, string, string];
  const at = afterScheme.lastIndexOf('@');
  if (at === -1) {
    // No @: a host and port are kept; anything else in the authority (`:S3cr`, `host:S3cr`) may be a password typed without its host.
    const authority = /^[^/?#]*/.exec(afterScheme)![0];
    if (!/^(\[[0-9a-f:.]+\]|[^:[\]]*)(:\d*)?$/i.test(authority))
      return `${scheme}***${redactUrl(`${scheme}host${afterScheme.slice(authority.length)}`).slice(scheme.length + 4)}`;
  }
  const rest = at === -1 ? afterScheme : afterScheme.slice(at + 1);
  const tail = rest.search(/[?#]/);
  if (tail === -1) return `${scheme}${at === -1 ? '' : '***@'}${rest}`;
  const [query, fragment] = [rest.slice(tail).replace(/#.*$/s, ''), rest.slice(tail).includes('#') ? '#***' : ''];
  const params =
    query === ''
      ? ''
      : `?${query
          .slice(1)
          .split(/[&;]/)
          .map((param) => (param.includes('=') ? `${param.slice(0, param.indexOf('='))}=***` : '***'))
          .join('&')}`;
  return `${scheme}${at === -1 ? '' : '***@'}${rest.slice(0, tail)}${params}${fragment}`;
}

/**
 * `redis://[[user]:password@]host:port[/db][?options]` (or rediss://), that
 * the URL parser accepts too (a port in range, a host it can read); else
 * EINVAL, naming the URL without its credentials.
 */
export function checkRedisUrl(url: unknown): string {
  const refuse = (): never => {
    throw invalid(`url must be redis://[[user]:password@]host:port[/db], got ${typeof url === 'string' ? redactUrl(url) : typeof url}`);
  };
  if (typeof url !== 'string' || !/^rediss?:\/\/([^\s/@]*@)?[^\s/@?#]+(\/\d+)?(\?[^\s/@#]*)?$/.test(url)) return refuse();
  // The parser's own error would carry the whole URL, its password too: only that it refused is kept.
  if (!URL.canParse(url)) return refuse();
  // The client decodes the user and password: a malformed % escape would be its untyped URIError.
  const { username, password } = new URL(url);
  try {
    decodeURIComponent(username);
    decodeURIComponent(password);
  } catch {
    return refuse();
  }
  return url;
}

/**
 * Connects to the server at `url` (checked): EAUTH, ETIMEDOUT or EREMOTE
 * when it cannot, naming the URL redacted. Connecting may take
 * `commandTimeoutMs`, and never less than the default 5 s: a TCP
 * connection, AUTH and the ready check are three round trips on a loaded
 * machine, where a short command timeout would refuse a server that is
 * merely slow to accept.
 */
export async function connect(url: string, commandTimeoutMs = COMMAND_TIMEOUT_MS_DEFAULT): Promise<Redis> {
  checkRedisUrl(url);
  const timeoutMs = Math.max(commandTimeoutMs, COMMAND_TIMEOUT_MS_DEFAULT);
  const redis = new Redis(url, {
    lazyConnect: true,
    connectTimeout: timeoutMs,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    retryStrategy: (times) => Math.min(50 * 2 ** times, 2000),
  });
  // Errors reach the commands that meet them; the connection's own events would otherwise be unhandled.
  redis.on('error', (error: Error) => lastHeard.set(redis, error));
  try {
    await timed(redis.connect(), timeoutMs, () => `connecting to Redis at ${redactUrl(url)}`);
  } catch (error) {
    redis.disconnect();
    const heard = lastHeard.get(redis);
    const cause = heard !== undefined && AUTH_REFUSED.test(heard.message) ? heard : error;
    throw remoteError(cause, url, `cannot reach Redis at ${redactUrl(url)}`);
  }
  return redis;
}

/**
 * `work` (a command), or ETIMEDOUT once `ms` have passed without its reply.
 * The command itself is not withdrawn (Redis may still run it): callers
 * only send commands that are safe to send again.
 */
export function timed<T>(work: Promise<T>, ms: number, what: () => string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new FanlogError('ETIMEDOUT', `${what()}: no reply within ${ms} ms`)), ms);
  });
  work.catch(() => undefined); // a reply after the deadline is nobody's business
  return Promise.race([work, late]).finally(() => clearTimeout(timer));
}

/**
 * What a Redis failure is to fanlog: a FanlogError as it is; an auth
 * refusal (the command's own, or the connection's last while it is down)
 * EAUTH; anything else EREMOTE. The message names the URL redacted.
 */
export function remoteError(error: unknown, url: string, context = `Redis at ${redactUrl(url)}`, redis?: Redis): FanlogError {
  if (error instanceof FanlogError) return error;
  const message = (error as Error | null)?.message ?? String(error);
  const heard = redis === undefined || redis.status === 'ready' ? undefined : lastHeard.get(redis);
  if (AUTH_REFUSED.test(message) || (heard !== undefined && AUTH_REFUSED.test(heard.message))) {
    // No cause: the refused AUTH command carries the password in its arguments, and a log would print them.
    return new FanlogError(
      'EAUTH',
      `${context}: authentication failed (${AUTH_REFUSED.test(message) ? message : heard!.message}): check the password in the URL`,
    );
  }
  return new FanlogError('EREMOTE', `${context}: ${message}`, carriesCredentials(error) ? {} : { cause: error });
}

/** Whether an ioredis error names a command whose arguments hold credentials (AUTH, HELLO ... AUTH). */
function carriesCredentials(error: unknown): boolean {
  const name = (error as { command?: { name?: unknown } } | null)?.command?.name;
  return typeof name === 'string' && ['auth', 'hello'].includes(name.toLowerCase());
}
