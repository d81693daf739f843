// A namespace import: `import { z } from 'zod'` here made esbuild keep all of zod, its locales included
// (+60 KB gzipped in the browser bundle; see `npm run size:client`). zod/mini, as the protocol.
import * as z from 'zod/mini';
import { CLIENT_FRAMES } from '../protocol';
import type { CommandFrame, PendingCommand } from './outbox';

/** What a store holds: per conversation, the last seq the application got; and the unanswered commands. */
export interface StoreSnapshot {
  readonly positions: Readonly<Record<string, number>>;
  readonly pending: readonly PendingCommand[];
}

/**
 * Where the SDK keeps what must survive a restart. Methods may be synchronous or return promises (IndexedDB,
 * a file, React Native's AsyncStorage); the SDK loads once in `connect()` and then writes through.
 */
export interface HeraldStore {
  load(): StoreSnapshot | Promise<StoreSnapshot>;
  setPosition(conversationId: string, seq: number): void | Promise<void>;
  removePosition(conversationId: string): void | Promise<void>;
  putPending(command: PendingCommand): void | Promise<void>;
  removePending(clientMessageId: string): void | Promise<void>;
}

/** The default store: nothing survives the process or the page. */
export class MemoryStore implements HeraldStore {
  private readonly positions = new Map<string, number>();
  private readonly pending = new Map<string, PendingCommand>();

  load(): StoreSnapshot {
    return { positions: Object.fromEntries(this.positions), pending: [...this.pending.values()] };
  }
  setPosition(conversationId: string, seq: number): void {
    this.positions.set(conversationId, seq);
  }
  removePosition(conversationId: string): void {
    this.positions.delete(conversationId);
  }
  putPending(command: PendingCommand): void {
    this.pending.set(command.frame.clientMessageId, command);
  }
  removePending(clientMessageId: string): void {
    this.pending.delete(clientMessageId);
  }
}

/** The part of the Web Storage API the store uses: `window.localStorage`, or a fake in tests. */
export interface StorageLike {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
  removeItem(key: string): void;
}

const CommandFrameSchema = z.union([
  CLIENT_FRAMES.send,
  CLIENT_FRAMES.edit,
  CLIENT_FRAMES.recall,
  CLIENT_FRAMES.createGroup,
  CLIENT_FRAMES.addMembers,
  CLIENT_FRAMES.removeMembers,
  CLIENT_FRAMES.leave,
  CLIENT_FRAMES.rename,
]);
const Positions = z.record(z.string(), z.number().check(z.int(), z.gte(0)));
const Pending = z.array(z.object({ frame: CommandFrameSchema, createdAt: z.number() }));

/**
 * Keeps positions and pending commands in Web Storage (two JSON keys under `prefix`). Use one prefix per user:
 * `new LocalStorageStore(localStorage, 'herald:alice')`. What it reads back is validated: a corrupt or foreign
 * value is dropped, never trusted.
 */
export class LocalStorageStore implements HeraldStore {
  constructor(
    private readonly storage: StorageLike,
    private readonly prefix = 'herald',
  ) {}

  load(): StoreSnapshot {
    return { positions: this.readPositions(), pending: this.readPending() };
  }
  setPosition(conversationId: string, seq: number): void {
    this.write('positions', { ...this.readPositions(), [conversationId]: seq });
  }
  removePosition(conversationId: string): void {
    const { [conversationId]: _removed, ...rest } = this.readPositions();
    this.write('positions', rest);
  }
  putPending(command: PendingCommand): void {
    const id = command.frame.clientMessageId;
    this.write('pending', [...this.readPending().filter((c) => c.frame.clientMessageId !== id), command]);
  }
  removePending(clientMessageId: string): void {
    this.write(
      'pending',
      this.readPending().filter((c) => c.frame.clientMessageId !== clientMessageId),
    );
  }

  private readPositions(): Record<string, number> {
    return this.read('positions', Positions) ?? {};
  }
  private readPending(): PendingCommand[] {
    return (this.read('pending', Pending) ?? []).map((c) => ({
      frame: c.frame as CommandFrame,
      createdAt: c.createdAt,
    }));
  }
  private read<T>(key: string, schema: z.ZodMiniType<T>): T | undefined {
    const text = this.storage.getItem(`${this.prefix}:${key}`);
    if (text === null) return undefined;
    try {
      const parsed = schema.safeParse(JSON.parse(text));
      return parsed.success ? parsed.data : undefined;
    } catch {
      return undefined;
    }
  }
  private write(key: string, value: unknown): void {
    this.storage.setItem(`${this.prefix}:${key}`, JSON.stringify(value));
  }
}
