import type { AckedFrame } from '../protocol';

/** The frames answered by an `ack`: the SDK queues, persists and retries them. */
export type CommandFrame = AckedFrame;

/** A command waiting for its `ack`, as the store keeps it. */
export interface PendingCommand {
  readonly frame: CommandFrame;
  /** When the application issued it (ms since the epoch). */
  readonly createdAt: number;
}

interface Entry {
  readonly command: PendingCommand;
  inFlight: boolean;
  /** Not to be sent before this time (after RATE_LIMITED or a timeout). */
  notBefore: number;
  attempts: number;
}

/** Commands of one conversation keep their order; a new group has no conversation yet, so it is its own lane. */
export function laneOf(frame: CommandFrame): string {
  return 'conversationId' in frame ? frame.conversationId : `create:${frame.clientMessageId}`;
}

/**
 * The pending-command queue: pure, no sockets. Commands leave in the order they were issued; per conversation,
 * at most `perLane` are in flight, so with the default of 1 a command is sent only after the previous one of its
 * conversation was answered (the server may number two commands sent close together in either order).
 */
export class Outbox {
  private readonly entries: Entry[] = [];

  constructor(private readonly perLane = 1) {}

  get size(): number {
    return this.entries.length;
  }

  add(command: PendingCommand): void {
    if (this.get(command.frame.clientMessageId)) return;
    this.entries.push({ command, inFlight: false, notBefore: 0, attempts: 0 });
  }

  get(clientMessageId: string): PendingCommand | undefined {
    return this.entry(clientMessageId)?.command;
  }

  attempts(clientMessageId: string): number {
    return this.entry(clientMessageId)?.attempts ?? 0;
  }

  /** The commands to send now, in order: the first `perLane` of each lane that are not in flight and due. */
  due(now: number): PendingCommand[] {
    const seen = new Map<string, number>();
    const due: PendingCommand[] = [];
    for (const entry of this.entries) {
      const lane = laneOf(entry.command.frame);
      const rank = seen.get(lane) ?? 0;
      seen.set(lane, rank + 1);
      if (rank < this.perLane && !entry.inFlight && entry.notBefore <= now) due.push(entry.command);
    }
    return due;
  }

  /** The earliest time a command held back by `notBefore` becomes due, if any. */
  nextDueAt(): number | undefined {
    const waiting = this.entries.filter((e) => !e.inFlight && e.notBefore > 0).map((e) => e.notBefore);
    return waiting.length > 0 ? Math.min(...waiting) : undefined;
  }

  markSent(clientMessageId: string): void {
    const entry = this.entry(clientMessageId);
    if (!entry) return;
    entry.inFlight = true;
    entry.attempts += 1;
  }

  /** Send it again, not before `at`: after RATE_LIMITED, INTERNAL or a timeout, with the same clientMessageId. */
  retryAt(clientMessageId: string, at: number): void {
    const entry = this.entry(clientMessageId);
    if (!entry) return;
    entry.inFlight = false;
    entry.notBefore = at;
  }

  /** The connection was lost: every command in flight is sent again on the next one. */
  resetInFlight(): void {
    for (const entry of this.entries) entry.inFlight = false;
  }

  /** Removes an answered command (acked, refused, or seen in the conversation). */
  settle(clientMessageId: string): PendingCommand | undefined {
    const index = this.entries.findIndex((e) => e.command.frame.clientMessageId === clientMessageId);
    if (index < 0) return undefined;
    return this.entries.splice(index, 1)[0]?.command;
  }

  private entry(clientMessageId: string): Entry | undefined {
    return this.entries.find((e) => e.command.frame.clientMessageId === clientMessageId);
  }
}
