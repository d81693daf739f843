export interface BackoffOptions {
  /** First delay ceiling, in ms. @default 500 */
  readonly baseMs?: number;
  /** Largest delay, in ms. @default 30000 */
  readonly maxMs?: number;
}

/**
 * Exponential backoff with full jitter: a delay drawn uniformly from [0, min(max, base * 2^attempt)).
 * Full jitter spreads the reconnects of many clients dropped at once (a deploy, a network blip).
 */
export function backoffDelay(
  attempt: number,
  options: BackoffOptions = {},
  random: () => number = Math.random,
): number {
  const base = options.baseMs ?? 500;
  const max = options.maxMs ?? 30_000;
  const ceiling = Math.min(max, base * 2 ** Math.min(attempt, 30));
  return Math.floor(random() * ceiling);
}
