/**
 * A sliding-window limiter mirroring the server's (LIMITS.frameBurst frames in any
 * frameBurst / framesPerSecond seconds per connection), with a margin: frames reach the server in bunches.
 */
export class RateLimiter {
  private readonly sent: number[] = [];

  constructor(
    private readonly frames = 18,
    private readonly windowMs = 2_100,
  ) {}

  /** How long to wait before the next frame may go: 0 when it may go now. */
  delay(now: number): number {
    while (this.sent.length > 0 && (this.sent[0] ?? 0) <= now - this.windowMs) this.sent.shift();
    if (this.sent.length < this.frames) return 0;
    return (this.sent[0] ?? now) + this.windowMs - now;
  }

  take(now: number): void {
    this.sent.push(now);
  }
}
