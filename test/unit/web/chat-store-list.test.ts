/**
 * The web page's conversation list (web/chat-store.ts): what the SDK's lists and live events make of it, unread
 * counts and read positions, names and membership, and what a reconnection changes.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ChatStore } from '../../../web/chat-store';
import { preview } from '../../../web/view';
import {
  BOB,
  CAROL,
  DM,
  DM_CAROL,
  FakeClient,
  GROUP,
  groupCreated,
  historyPage,
  ME,
  memberLeft,
  membersAdded,
  membersRemoved,
  message,
  renamed,
  summary,
} from './fake-client';

let client: FakeClient;
let store: ChatStore;
let visible: boolean;

beforeEach(() => {
  vi.useFakeTimers();
  client = new FakeClient();
  visible = true;
  store = new ChatStore(client, ME, () => visible);
});
afterEach(() => {
  store.dispose();
  vi.useRealTimers();
});

const item = (id: string) => store.conversations.get(id);
const unread = (id: string) => item(id)?.unread;
const order = () => store.sortedConversations().map((c) => c.id);

describe('the conversations list', () => {
  it('takes the SDK list: titles, kinds, peers, positions and unread counts', () => {
    client.emit('conversations', [
      summary(GROUP, {
        name: 'Weekend',
        lastSeq: 9,
        readSeq: 7,
        unread: 2,
        lastEvent: message(9, 'hi', CAROL, GROUP),
      }),
      summary(DM, { lastSeq: 4, readSeq: 4, unread: 0, lastEvent: message(4) }),
    ]);
    expect(item(GROUP)).toEqual({
      id: GROUP,
      kind: 'group',
      title: 'Weekend',
      lastSeq: 9,
      readSeq: 7,
      unread: 2,
      lastEvent: message(9, 'hi', CAROL, GROUP),
    });
    expect(item(DM)).toMatchObject({
      kind: 'direct',
      title: BOB,
      peer: BOB,
      lastSeq: 4,
      readSeq: 4,
      unread: 0,
    });
    expect(preview(item(GROUP) as never, ME)).toBe('carol: hi');
  });

  it('sorts newest activity first, a conversation without events on top, ties by id', async () => {
    client.emit('conversations', [
      summary(DM, { lastSeq: 1, readSeq: 1, unread: 0, lastEvent: message(1) }),
      summary(GROUP, {
        name: 'G',
        lastSeq: 5,
        readSeq: 5,
        unread: 0,
        lastEvent: message(5, 'x', BOB, GROUP),
      }),
    ]);
    expect(order()).toEqual([GROUP, DM]);
    await store.startDirect(CAROL); // a new direct chat: no events yet
    expect(order()).toEqual([DM_CAROL, GROUP, DM]);
    client.emit('event', message(7, 'newer', BOB, DM));
    expect(order()).toEqual([DM_CAROL, DM, GROUP]);
  });

  it('adds a direct conversation the first live event names, with one unread', () => {
    client.emit('event', message(1, 'hello', CAROL, DM_CAROL));
    expect(item(DM_CAROL)).toMatchObject({
      kind: 'direct',
      title: CAROL,
      peer: CAROL,
      lastSeq: 1,
      unread: 1,
    });
    expect(client.listConversations).not.toHaveBeenCalled();
  });

  it('asks the server for a group it learns of from an event that does not name it, once for a burst', async () => {
    client.listConversations.mockResolvedValue({
      items: [summary(GROUP, { name: 'Weekend', lastSeq: 12, readSeq: 10, unread: 2 })],
    });
    client.emit('event', membersAdded(11, [ME], BOB));
    expect(item(GROUP)?.title).toBe('Group');
    await vi.advanceTimersByTimeAsync(100);
    client.emit('event', message(12, 'welcome', BOB, GROUP));
    expect(client.listConversations).not.toHaveBeenCalled();
    await vi.advanceTimersByTimeAsync(300);
    expect(client.listConversations).toHaveBeenCalledTimes(1);
    expect(item(GROUP)).toMatchObject({ title: 'Weekend', readSeq: 10, unread: 2 });
  });

  it('tells the user when that list cannot be had', async () => {
    client.listConversations.mockRejectedValue(new Error('offline'));
    client.emit('event', message(3, 'x', BOB, GROUP));
    await vi.advanceTimersByTimeAsync(300);
    expect(store.notice).toBe('offline');
  });

  it('names a group from group.created without asking the server', async () => {
    client.emit('event', groupCreated(1, 'Weekend', [BOB, ME]));
    await vi.advanceTimersByTimeAsync(1_000);
    expect(item(GROUP)).toMatchObject({ kind: 'group', title: 'Weekend', unread: 1 });
    expect(client.listConversations).not.toHaveBeenCalled();
  });

  it('keeps the newest event as the preview when events come out of order', () => {
    client.emit('event', message(3, 'third'));
    client.emit('event', message(2, 'second'));
    expect(item(DM)).toMatchObject({ lastSeq: 3, lastEvent: message(3, 'third') });
    expect(unread(DM)).toBe(2);
  });

  it('keeps a newer preview than an older list has', () => {
    client.emit('event', message(6, 'live'));
    client.emit('conversations', [summary(DM, { lastSeq: 5, readSeq: 3, unread: 2, lastEvent: message(5) })]);
    expect(item(DM)).toMatchObject({ lastSeq: 6, lastEvent: message(6, 'live') });
  });
});

describe('unread counts', () => {
  it('counts each event once, however often it arrives', () => {
    client.emit('event', message(1));
    client.emit('event', message(1));
    client.emit('event', message(2));
    client.emit('event', message(2));
    expect(unread(DM)).toBe(2);
  });

  it('does not count again what the list already counted', () => {
    client.emit('conversations', [summary(DM, { lastSeq: 5, readSeq: 3, unread: 2 })]);
    client.emit('event', message(5)); // a late copy of an event the list included
    expect(unread(DM)).toBe(2);
    client.emit('event', message(6));
    expect(unread(DM)).toBe(3);
  });

  it('adds what arrived live after the list was taken', () => {
    client.emit('event', message(6));
    client.emit('conversations', [summary(DM, { lastSeq: 5, readSeq: 3, unread: 2 })]);
    expect(unread(DM)).toBe(3);
  });

  it('follows the active conversation: only the others count, and opening one clears it', async () => {
    client.history.mockImplementation(async (id) => historyPage(id, []));
    await store.open(DM);
    client.emit('event', message(1, 'to the open one'));
    client.emit('event', message(1, 'to the other', CAROL, DM_CAROL));
    client.emit('event', message(2, 'to the other again', CAROL, DM_CAROL));
    expect(unread(DM)).toBe(0);
    expect(unread(DM_CAROL)).toBe(2);
    expect(client.markRead).toHaveBeenLastCalledWith(DM, 1);

    await store.open(DM_CAROL);
    expect(unread(DM_CAROL)).toBe(0);
    expect(item(DM_CAROL)?.readSeq).toBe(2);
    expect(client.markRead).toHaveBeenLastCalledWith(DM_CAROL, 2);

    client.emit('event', message(2, 'now the first one is in the background'));
    expect(unread(DM)).toBe(1);
    expect(unread(DM_CAROL)).toBe(0);
  });

  it('counts in the open conversation while the page is hidden, and reads it when it shows again', async () => {
    await store.open(DM);
    visible = false;
    client.emit('event', message(1));
    client.emit('event', message(2));
    expect(unread(DM)).toBe(2);
    expect(client.markRead).not.toHaveBeenCalled();
    visible = true;
    store.markVisibleRead();
    expect(unread(DM)).toBe(0);
    expect(client.markRead).toHaveBeenCalledWith(DM, 2);
  });

  it('reads nothing after the conversation is closed', async () => {
    await store.open(DM);
    store.close();
    client.emit('event', message(1));
    expect(store.activeId).toBeUndefined();
    expect(unread(DM)).toBe(1);
    expect(client.markRead).not.toHaveBeenCalled();
  });

  it('treats my own events, from any device, as read up to them', () => {
    client.emit('event', message(1));
    client.emit('event', message(2));
    client.emit('event', message(3, 'from my phone', ME));
    expect(item(DM)).toMatchObject({ readSeq: 3, unread: 0 });
    client.emit('event', message(2)); // a late copy of what came before mine
    expect(unread(DM)).toBe(0);
  });
});

describe('my read position', () => {
  it('moves forward with a receipt from my other device, and the unread count with it', () => {
    for (const seq of [1, 2, 3, 4]) client.emit('event', message(seq));
    client.emit('receipt', { type: 'receipt', v: 1, conversationId: DM, userId: ME, readSeq: 3 });
    expect(item(DM)).toMatchObject({ readSeq: 3, unread: 1 });
  });

  it('never moves backwards with an older receipt', () => {
    for (const seq of [1, 2, 3, 4]) client.emit('event', message(seq));
    client.emit('receipt', { type: 'receipt', v: 1, conversationId: DM, userId: ME, readSeq: 4 });
    client.emit('receipt', { type: 'receipt', v: 1, conversationId: DM, userId: ME, readSeq: 2 });
    expect(item(DM)).toMatchObject({ readSeq: 4, unread: 0 });
  });

  it('never moves backwards with a list taken before my read reached the server', async () => {
    // Read up to 6 in the open conversation; the list after a reconnection still says 3.
    client.emit('conversations', [
      summary(DM, { lastSeq: 6, readSeq: 3, unread: 3 }),
      summary(DM_CAROL, { lastSeq: 2, readSeq: 2, unread: 0 }),
    ]);
    await store.open(DM);
    expect(item(DM)?.readSeq).toBe(6);
    await store.open(DM_CAROL); // DM goes to the background: no markRead would fix a stale count there
    client.emit('conversations', [
      summary(DM, { lastSeq: 6, readSeq: 3, unread: 3 }),
      summary(DM_CAROL, { lastSeq: 2, readSeq: 2, unread: 0 }),
    ]);
    expect(item(DM)).toMatchObject({ readSeq: 6, unread: 0 });
  });

  it('takes a list that is ahead of it (read on another device while this one was away)', () => {
    client.emit('conversations', [summary(DM, { lastSeq: 6, readSeq: 3, unread: 3 })]);
    client.emit('conversations', [summary(DM, { lastSeq: 8, readSeq: 7, unread: 1 })]);
    expect(item(DM)).toMatchObject({ lastSeq: 8, readSeq: 7, unread: 1 });
  });

  it('is not sent twice for the same position', async () => {
    client.emit('conversations', [summary(DM, { lastSeq: 2, readSeq: 0, unread: 2 })]);
    await store.open(DM);
    store.markVisibleRead();
    store.markVisibleRead();
    expect(client.markRead).toHaveBeenCalledTimes(1);
    expect(client.markRead).toHaveBeenCalledWith(DM, 2);
  });
});

describe('names and membership', () => {
  it('renames a group with group.renamed, and an older list does not undo it', () => {
    client.emit('conversations', [summary(GROUP, { name: 'Weekend', lastSeq: 4, readSeq: 4, unread: 0 })]);
    client.emit('event', renamed(5, 'Weekend trip'));
    expect(item(GROUP)?.title).toBe('Weekend trip');
    expect(preview(item(GROUP) as never, ME)).toBe('bob: renamed the group to "Weekend trip"');
    client.emit('conversations', [summary(GROUP, { name: 'Weekend', lastSeq: 4, readSeq: 4, unread: 0 })]);
    expect(item(GROUP)?.title).toBe('Weekend trip');
    client.emit('conversations', [summary(GROUP, { name: 'Picnic', lastSeq: 7, readSeq: 7, unread: 0 })]);
    expect(item(GROUP)?.title).toBe('Picnic');
  });

  it('drops a group I was removed from, closes it and says so', async () => {
    client.emit('conversations', [summary(GROUP, { name: 'Weekend', lastSeq: 4, readSeq: 4, unread: 0 })]);
    await store.open(GROUP);
    client.emit('event', membersRemoved(5, [CAROL, ME]));
    expect(store.conversations.has(GROUP)).toBe(false);
    expect(store.threads.has(GROUP)).toBe(false);
    expect(store.activeId).toBeUndefined();
    expect(store.notice).toBe('You are no longer in Weekend.');
  });

  it('drops a group I left on another device', () => {
    client.emit('conversations', [summary(GROUP, { name: 'Weekend', lastSeq: 4, readSeq: 4, unread: 0 })]);
    client.emit('event', memberLeft(5, ME));
    expect(store.conversations.has(GROUP)).toBe(false);
    expect(store.notice).toBe('You are no longer in Weekend.');
  });

  it('does not bring a group back for a late event or list from before I was removed', async () => {
    client.emit('conversations', [summary(GROUP, { name: 'Weekend', lastSeq: 4, readSeq: 4, unread: 0 })]);
    client.emit('event', membersRemoved(6, [ME]));
    client.emit('event', message(5, 'late', CAROL, GROUP));
    expect(store.conversations.has(GROUP)).toBe(false);
    client.emit('conversations', [summary(GROUP, { name: 'Weekend', lastSeq: 5, readSeq: 4, unread: 1 })]);
    expect(store.conversations.has(GROUP)).toBe(false);
    await vi.advanceTimersByTimeAsync(1_000);
    expect(client.listConversations).not.toHaveBeenCalled();
  });

  it('brings a group back when I am added again', () => {
    client.emit('conversations', [summary(GROUP, { name: 'Weekend', lastSeq: 4, readSeq: 4, unread: 0 })]);
    client.emit('event', membersRemoved(5, [ME]));
    client.emit('event', membersAdded(9, [ME]));
    expect(item(GROUP)).toMatchObject({ lastSeq: 9, unread: 1 });
  });

  it('keeps a group when someone else is removed or leaves, and stops showing them typing', async () => {
    client.emit('conversations', [summary(GROUP, { name: 'Weekend', lastSeq: 4, readSeq: 4, unread: 0 })]);
    await store.open(GROUP);
    client.emit('typing', { type: 'typing', v: 1, conversationId: GROUP, userId: CAROL, state: 'start' });
    client.emit('event', membersRemoved(5, [CAROL]));
    expect(item(GROUP)).toMatchObject({ title: 'Weekend', lastSeq: 5 });
    expect(store.activeId).toBe(GROUP);
    expect(store.notice).toBeUndefined();
    expect([...store.thread(GROUP).typing.keys()]).toEqual([]);
  });
});

describe('a reconnection', () => {
  it('shows the connection going and coming back, and merges the list the SDK takes again', async () => {
    client.emit('state', { state: 'connecting', previous: 'idle' });
    client.emit('state', { state: 'open', previous: 'connecting' });
    client.emit('conversations', [
      summary(DM, { lastSeq: 2, readSeq: 2, unread: 0 }),
      summary(DM_CAROL, { lastSeq: 1, readSeq: 1, unread: 0 }),
    ]);
    await store.open(DM);
    client.emit('state', { state: 'reconnecting', previous: 'open' });
    expect(store.connection).toBe('reconnecting');

    // Away: Carol wrote twice; the SDK catches up the followed conversations, then lists them all.
    client.emit('state', { state: 'open', previous: 'reconnecting' });
    client.emit('event', message(2, 'missed 1', CAROL, DM_CAROL));
    client.emit('event', message(3, 'missed 2', CAROL, DM_CAROL));
    client.emit('conversations', [
      summary(DM_CAROL, { lastSeq: 3, readSeq: 1, unread: 2 }),
      summary(DM, { lastSeq: 4, readSeq: 2, unread: 2 }),
    ]);
    expect(store.connection).toBe('online');
    expect(unread(DM_CAROL)).toBe(2);
    // The open conversation is read at once.
    expect(item(DM)).toMatchObject({ lastSeq: 4, readSeq: 4, unread: 0 });
    expect(client.markRead).toHaveBeenLastCalledWith(DM, 4);
  });
});
