import type { FrameRateLimiter } from '../core/rate-limit';
import type { TypingDeps } from '../core/typing';
import { once } from './once';
import { buildPresenceDeps, ephemeralClients } from './presence';
import { buildRateLimits } from './rate-limits';

export interface EphemeralDeps extends TypingDeps {
  readonly limiter: FrameRateLimiter;
}

/** The ephemeral (typing, ping) function. */
export const ephemeralDeps = /* @__PURE__ */ once((): EphemeralDeps => {
  const { db, api, config } = ephemeralClients();
  const limits = buildRateLimits(db, config.CONNECTIONS_TABLE);
  return { ...buildPresenceDeps(db, api, config), gate: limits, limiter: limits };
});
