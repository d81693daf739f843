/**
 * The per-connection flood limit: every frame a connection sends takes one unit of its allowance, so only the
 * flooding connection is refused (RATE_LIMITED), never its user's other connections or anyone else.
 */
import { LIMITS } from '../../protocol';
import { type FrameRef, RateLimitedError } from './errors';
import type { Clock } from './ports';

/**
 * A sliding log: a frame passes when fewer than `burst` frames passed in the `windowMs` before it. With
 * LIMITS.frameBurst = 20 and LIMITS.framesPerSecond = 10 that is at most 20 frames in any 2 seconds: a burst of
 * 20 at once, 10 a second sustained. Unlike a token bucket or a GCRA, whose update needs max(stored, now) that a
 * DynamoDB update expression cannot compute, its state (the times of the last `burst` frames, oldest first)
 * moves in one conditional UpdateItem: drop the oldest, append now, on condition that the oldest is older
 * than the window (ADR 8).
 */
export const FRAME_POLICY = {
  burst: LIMITS.frameBurst,
  windowMs: (LIMITS.frameBurst / LIMITS.framesPerSecond) * 1000,
} as const;

export interface FrameRateLimiter {
  /**
   * Takes one frame of `connectionId`'s allowance at `now` (FRAME_POLICY), atomically across concurrent
   * invocations: false when the connection is flooding. Taking a frame is traffic: it also records the
   * connection's activity for presence (`lastSeenAt`), in the same write. A connection without a row is not
   * limited (true): the frame came through API Gateway, so the connection exists.
   */
  takeFrame(connectionId: string, now: number): Promise<boolean>;
}

/** Takes a frame from the connection's allowance, or throws RateLimitedError answering `ref`. */
export async function admitFrame(
  deps: { readonly limiter: FrameRateLimiter; readonly clock: Clock },
  connectionId: string,
  ref: FrameRef = {},
): Promise<void> {
  if (!(await deps.limiter.takeFrame(connectionId, deps.clock.now()))) {
    throw new RateLimitedError(
      `This connection sent more than ${FRAME_POLICY.burst} frames in ${FRAME_POLICY.windowMs / 1000} seconds: slow down and retry.`,
      ref,
    );
  }
}
