import { describe, expect, it } from 'vitest';
import type { PendingCommand } from '../../../client/outbox';
import { type HeraldStore, LocalStorageStore, MemoryStore, type StorageLike } from '../../../client/store';

class FakeStorage implements StorageLike {
  readonly items = new Map<string, string>();
  getItem(key: string) {
    return this.items.get(key) ?? null;
  }
  setItem(key: string, value: string) {
    this.items.set(key, value);
  }
  removeItem(key: string) {
    this.items.delete(key);
  }
}

const command = (id: string): PendingCommand => ({
  frame: { action: 'send', v: 1, conversationId: 'dm:alice:bob', clientMessageId: id, text: `text ${id}` },
  createdAt: 1_700_000_000_000,
});

async function exercise(store: HeraldStore): Promise<void> {
  expect(await store.load()).toEqual({ positions: {}, pending: [] });
  await store.setPosition('dm:alice:bob', 3);
  await store.setPosition('grp:x', 9);
  await store.setPosition('dm:alice:bob', 4);
  await store.removePosition('grp:x');
  await store.putPending(command('c1'));
  await store.putPending(command('c2'));
  await store.putPending(command('c3'));
  await store.removePending('c2');
  const snapshot = await store.load();
  expect(snapshot.positions).toEqual({ 'dm:alice:bob': 4 });
  expect(snapshot.pending.map((c) => c.frame.clientMessageId)).toEqual(['c1', 'c3']);
  expect(snapshot.pending[0]).toEqual(command('c1'));
}

describe('stores', () => {
  it('MemoryStore keeps positions and pending commands in order', async () => {
    await exercise(new MemoryStore());
  });

  it('LocalStorageStore keeps them in Web Storage, under its prefix, across instances', async () => {
    const storage = new FakeStorage();
    await exercise(new LocalStorageStore(storage, 'herald:alice'));
    expect([...storage.items.keys()].sort()).toEqual(['herald:alice:pending', 'herald:alice:positions']);
    const again = new LocalStorageStore(storage, 'herald:alice').load();
    expect(again.positions).toEqual({ 'dm:alice:bob': 4 });
    expect(new LocalStorageStore(storage, 'herald:bob').load()).toEqual({ positions: {}, pending: [] });
  });

  it('LocalStorageStore drops what does not validate instead of trusting it', () => {
    const storage = new FakeStorage();
    storage.setItem('herald:positions', '{not json');
    storage.setItem('herald:pending', JSON.stringify([{ frame: { action: 'send', v: 2 }, createdAt: 1 }]));
    expect(new LocalStorageStore(storage).load()).toEqual({ positions: {}, pending: [] });
    storage.setItem('herald:positions', JSON.stringify({ 'dm:a:b': -1 }));
    expect(new LocalStorageStore(storage).load().positions).toEqual({});
  });
});
