/**
 * One conversation of the web page (web/chat-store.ts): its history pages and live events in order and once,
 * edits and recalls, sending, and how far the others have read.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { HeraldError, LIMITS } from '../../../client/index';
import { ChatStore } from '../../../web/chat-store';
import { seenMarker, seenText, timeline } from '../../../web/view';
import {
  BOB,
  CAROL,
  DM,
  DM_CAROL,
  deferred,
  edit,
  FakeClient,
  GROUP,
  groupCreated,
  historyPage,
  ME,
  message,
  recall,
  summary,
} from './fake-client';

let client: FakeClient;
let store: ChatStore;

beforeEach(() => {
  vi.useFakeTimers();
  client = new FakeClient();
  store = new ChatStore(client, ME);
});
afterEach(() => {
  store.dispose();
  vi.useRealTimers();
});

/** The lines the page shows for a conversation, top to bottom. */
const lines = (id = DM) =>
  timeline(store.thread(id)).map((e) =>
    e.kind === 'message'
      ? `${e.seq} ${e.recalled ? '(recalled)' : e.text}${e.editedAt && !e.recalled ? ' (edited)' : ''}`
      : `${e.seq} ${e.kind}`,
  );

const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

describe('opening a conversation', () => {
  it('shows its newest page, follows it from there, and reads it', async () => {
    client.emit('conversations', [summary(DM, { lastSeq: 40, readSeq: 35, unread: 5 })]);
    client.history.mockResolvedValueOnce(
      historyPage(
        DM,
        range(11, 40).map((seq) => message(seq)),
        true,
      ),
    );
    await store.open(DM);
    expect(client.history).toHaveBeenCalledWith(DM, { limit: 30 });
    expect(client.track).toHaveBeenCalledWith(DM, 40);
    const thread = store.thread(DM);
    expect(thread).toMatchObject({ loaded: true, loading: false, hasOlder: true, oldest: 11 });
    expect(lines()).toEqual(range(11, 40).map((seq) => `${seq} message ${seq}`));
    expect(store.activeId).toBe(DM);
    expect(store.conversations.get(DM)).toMatchObject({ readSeq: 40, unread: 0 });
    expect(client.markRead).toHaveBeenCalledWith(DM, 40);
  });

  it('is loading while the page is on its way, and asks for it only once', async () => {
    const page = deferred<ReturnType<typeof historyPage>>();
    client.history.mockReturnValueOnce(page.promise);
    const first = store.open(DM);
    const second = store.open(DM);
    expect(store.thread(DM).loading).toBe(true);
    page.resolve(historyPage(DM, [message(1)]));
    await Promise.all([first, second]);
    expect(client.history).toHaveBeenCalledTimes(1);
    expect(store.thread(DM)).toMatchObject({ loading: false, loaded: true, hasOlder: false });
    await store.open(DM);
    expect(client.history).toHaveBeenCalledTimes(1);
  });

  it('says when the page cannot be had, and tries again the next time', async () => {
    client.history.mockRejectedValueOnce(new HeraldError('NOT_A_MEMBER', 'not yours'));
    await store.open(DM);
    expect(store.notice).toBe('Could not load the conversation: not yours (NOT_A_MEMBER)');
    expect(store.thread(DM)).toMatchObject({ loaded: false, loading: false });
    expect(client.track).not.toHaveBeenCalled();

    client.history.mockResolvedValueOnce(historyPage(DM, [message(1, 'there it is')]));
    await store.open(DM);
    expect(lines()).toEqual(['1 there it is']);
  });

  it('learns how far each other member has read, over several pages of members', async () => {
    client.listMembers
      .mockResolvedValueOnce({
        conversationId: GROUP,
        members: [
          { userId: ME, role: 'owner', joinedAt: 1, readSeq: 9 },
          { userId: BOB, role: 'member', joinedAt: 1, readSeq: 4 },
        ],
        nextCursor: 'next',
      })
      .mockResolvedValueOnce({
        conversationId: GROUP,
        members: [{ userId: CAROL, role: 'member', joinedAt: 1, readSeq: 7 }],
      });
    await store.open(GROUP);
    expect(client.listMembers).toHaveBeenNthCalledWith(2, GROUP, { cursor: 'next' });
    expect(Object.fromEntries(store.thread(GROUP).readBy)).toEqual({ [BOB]: 4, [CAROL]: 7 });
  });

  it('opens a direct chat by user id, and a group once the server made it', async () => {
    await store.startDirect(CAROL);
    expect(store.activeId).toBe(DM_CAROL);
    expect(store.conversations.get(DM_CAROL)).toMatchObject({ title: CAROL, peer: CAROL });

    await store.createGroup('  Weekend  ', [BOB, CAROL]);
    expect(client.createGroup).toHaveBeenCalledWith('  Weekend  ', [BOB, CAROL]);
    expect(store.activeId).toBe(GROUP);
    expect(store.conversations.get(GROUP)?.title).toBe('Weekend');
  });

  it('leaves a conversation not opened yet without events: its page shows them when it opens', async () => {
    client.emit('event', message(1, 'early'));
    expect(store.thread(DM).events.size).toBe(0);
    client.history.mockResolvedValueOnce(historyPage(DM, [message(1, 'early')]));
    await store.open(DM);
    expect(lines()).toEqual(['1 early']);
  });
});

describe('events in order, once each', () => {
  it('merges live events that arrive while the page loads, each once and in order', async () => {
    const page = deferred<ReturnType<typeof historyPage>>();
    client.history.mockReturnValueOnce(page.promise);
    const opening = store.open(DM);
    client.emit('event', message(3));
    client.emit('event', message(4));
    page.resolve(historyPage(DM, [message(1), message(2), message(3)]));
    await opening;
    expect(lines()).toEqual(['1 message 1', '2 message 2', '3 message 3', '4 message 4']);
  });

  it('shows a message that arrives twice once', async () => {
    await store.open(DM);
    client.emit('event', message(1, 'once'));
    client.emit('event', message(1, 'once'));
    expect(lines()).toEqual(['1 once']);
  });

  it('puts a late event in its place', async () => {
    await store.open(DM);
    client.emit('event', message(2, 'second'));
    client.emit('event', message(1, 'first'));
    client.emit('event', message(3, 'third'));
    expect(lines()).toEqual(['1 first', '2 second', '3 third']);
  });

  it('shows system events between the messages', async () => {
    await store.open(GROUP);
    client.emit('event', groupCreated(1, 'Weekend', [BOB, ME]));
    client.emit('event', message(2, 'hi', BOB, GROUP));
    expect(lines(GROUP)).toEqual(['1 group.created', '2 hi']);
  });
});

describe('older pages', () => {
  beforeEach(async () => {
    client.history.mockResolvedValueOnce(
      historyPage(
        DM,
        range(31, 60).map((seq) => message(seq)),
        true,
      ),
    );
    await store.open(DM);
  });

  it('load before the oldest shown, until there are no more', async () => {
    client.history.mockResolvedValueOnce(
      historyPage(
        DM,
        range(1, 30).map((seq) => message(seq)),
        true,
        60,
      ),
    );
    expect(await store.loadOlder()).toBe(30);
    expect(client.history).toHaveBeenLastCalledWith(DM, { beforeSeq: 31, limit: 30 });
    expect(store.thread(DM)).toMatchObject({ oldest: 1, hasOlder: true, loading: false });
    expect(lines()).toEqual(range(1, 60).map((seq) => `${seq} message ${seq}`));

    client.history.mockResolvedValueOnce(historyPage(DM, [], true, 60)); // nothing before 1 after all
    expect(await store.loadOlder()).toBe(0);
    expect(store.thread(DM).hasOlder).toBe(false);
    expect(await store.loadOlder()).toBe(0);
    expect(client.history).toHaveBeenCalledTimes(3);
  });

  it('load once however often the button is pressed', async () => {
    const page = deferred<ReturnType<typeof historyPage>>();
    client.history.mockReturnValueOnce(page.promise);
    const first = store.loadOlder();
    expect(await store.loadOlder()).toBe(0);
    page.resolve(historyPage(DM, [message(30)], false, 60));
    expect(await first).toBe(1);
    expect(client.history).toHaveBeenCalledTimes(2);
    expect(store.thread(DM).hasOlder).toBe(false);
  });

  it('say when they cannot be had, and leave the button to try again', async () => {
    client.history.mockRejectedValueOnce(new Error('timed out'));
    expect(await store.loadOlder()).toBe(0);
    expect(store.notice).toBe('Could not load older messages: timed out');
    expect(store.thread(DM)).toMatchObject({ hasOlder: true, loading: false, oldest: 31 });
  });

  it('load nothing without an open conversation', async () => {
    store.close();
    expect(await store.loadOlder()).toBe(0);
    expect(client.history).toHaveBeenCalledTimes(1);
  });
});

describe('edits and recalls', () => {
  beforeEach(async () => {
    client.history.mockResolvedValueOnce(historyPage(DM, [message(5, 'original', BOB)]));
    await store.open(DM);
  });

  it('change the message they target, and do not show as lines of their own', () => {
    client.emit('event', edit(6, 5, 'edited'));
    expect(lines()).toEqual(['5 edited (edited)']);
    expect(store.thread(DM).events.get(5)).toMatchObject({ text: 'edited', editedAt: 6_000 });
    client.emit('event', recall(7, 5));
    expect(lines()).toEqual(['5 (recalled)']);
    expect(store.thread(DM).events.get(5)).toMatchObject({ text: '', recalled: true });
  });

  it('of a message not loaded change nothing shown, and the older page shows it as history has it', async () => {
    store.thread(DM).hasOlder = true; // pretend 1-4 are still to load
    client.emit('event', edit(6, 2, 'edited two'));
    client.emit('event', recall(7, 3));
    expect(lines()).toEqual(['5 original']);
    client.history.mockResolvedValueOnce(
      historyPage(
        DM,
        [
          { ...message(2, 'edited two'), editedAt: 6_000 },
          { ...message(3, ''), recalled: true },
        ],
        false,
        7,
      ),
    );
    await store.loadOlder();
    expect(lines()).toEqual(['2 edited two (edited)', '3 (recalled)', '5 original']);
  });

  it('still apply when the message arrives after them', () => {
    client.emit('event', edit(7, 6, 'better'));
    client.emit('event', message(6, 'worse'));
    expect(lines()).toEqual(['5 original', '6 better (edited)']);
  });

  it('still apply when a copy of the message arrives again', () => {
    client.emit('event', edit(6, 5, 'edited'));
    client.emit('event', recall(7, 5));
    client.emit('event', message(5, 'original'));
    expect(lines()).toEqual(['5 (recalled)']);
  });

  it('keep the newest edit when two arrive out of order', () => {
    client.emit('event', edit(7, 5, 'second edit'));
    client.emit('event', edit(6, 5, 'first edit'));
    expect(lines()).toEqual(['5 second edit (edited)']);
  });

  it('are not undone by a page taken before them', async () => {
    // Carol's conversation is opening: its page is read before her edit and recall, and arrives after them.
    const page = deferred<ReturnType<typeof historyPage>>();
    client.history.mockReturnValueOnce(page.promise);
    const opening = store.open(DM_CAROL);
    client.emit('event', edit(3, 1, 'fixed typo', CAROL, DM_CAROL));
    client.emit('event', recall(4, 2, CAROL, DM_CAROL));
    page.resolve(
      historyPage(DM_CAROL, [
        message(1, 'tpyo', CAROL, DM_CAROL),
        message(2, 'oops, secret', CAROL, DM_CAROL),
      ]),
    );
    await opening;
    expect(lines(DM_CAROL)).toEqual(['1 fixed typo (edited)', '2 (recalled)']);
  });
});

describe('sending', () => {
  beforeEach(async () => {
    await store.open(DM);
  });

  it('shows the message as pending until its own event comes, then once', async () => {
    const ack = deferred<Awaited<ReturnType<FakeClient['send']>>>();
    client.send.mockReturnValueOnce(ack.promise);
    store.send('  Hi Bob  ');
    const pending = store.thread(DM).pending;
    expect(pending).toEqual([{ clientMessageId: expect.any(String), text: 'Hi Bob' }]);
    const clientMessageId = pending[0]?.clientMessageId;
    expect(client.send).toHaveBeenCalledWith(DM, 'Hi Bob', { clientMessageId });

    client.emit('event', { ...message(1, 'Hi Bob', ME), clientMessageId: clientMessageId ?? '' });
    expect(store.thread(DM).pending).toEqual([]);
    expect(lines()).toEqual(['1 Hi Bob']);
    ack.resolve({ conversationId: DM, clientMessageId: clientMessageId ?? '', seq: 1, at: 1 });
    await vi.advanceTimersByTimeAsync(0);
    expect(lines()).toEqual(['1 Hi Bob']);
  });

  it('keeps a message another user sent with the same id pending', () => {
    store.send('mine');
    const clientMessageId = store.thread(DM).pending[0]?.clientMessageId ?? '';
    client.emit('event', { ...message(1, 'theirs', BOB), clientMessageId });
    expect(store.thread(DM).pending).toHaveLength(1);
  });

  it('marks a refused message as not sent, with why', async () => {
    client.send.mockRejectedValueOnce(new HeraldError('RATE_LIMITED', 'slow down'));
    store.send('too fast');
    await vi.advanceTimersByTimeAsync(0);
    expect(store.thread(DM).pending).toEqual([
      { clientMessageId: expect.any(String), text: 'too fast', failed: 'slow down (RATE_LIMITED)' },
    ]);
  });

  it('sends nothing blank, nor without an open conversation', () => {
    store.send('   \n ');
    store.close();
    store.send('to nobody');
    expect(client.send).not.toHaveBeenCalled();
    expect(store.thread(DM).pending).toEqual([]);
  });

  it('cuts a text longer than the protocol allows', () => {
    store.send('x'.repeat(LIMITS.maxTextLength + 10));
    expect(client.send.mock.calls[0]?.[1]).toHaveLength(LIMITS.maxTextLength);
  });
});

describe('how far the others have read', () => {
  beforeEach(async () => {
    client.history.mockResolvedValueOnce(
      historyPage(GROUP, [message(1, 'mine', ME, GROUP), message(2, 'mine too', ME, GROUP)]),
    );
    await store.open(GROUP);
  });

  const seen = () => {
    const thread = store.thread(GROUP);
    const marker = seenMarker(timeline(thread), thread, ME);
    return marker && `${marker.seq}: ${seenText(marker.by, 'group')}`;
  };

  it('moves with receipts, never backwards', () => {
    expect(seen()).toBeUndefined();
    client.emit('receipt', { type: 'receipt', v: 1, conversationId: GROUP, userId: BOB, readSeq: 1 });
    expect(seen()).toBe('1: Seen by bob');
    client.emit('receipt', { type: 'receipt', v: 1, conversationId: GROUP, userId: CAROL, readSeq: 2 });
    client.emit('receipt', { type: 'receipt', v: 1, conversationId: GROUP, userId: BOB, readSeq: 2 });
    expect(seen()).toBe('2: Seen by bob, carol');
    client.emit('receipt', { type: 'receipt', v: 1, conversationId: GROUP, userId: BOB, readSeq: 1 });
    expect(store.thread(GROUP).readBy.get(BOB)).toBe(2);
    expect(seen()).toBe('2: Seen by bob, carol');
  });

  it('counts an author as having read up to what they wrote', () => {
    client.emit('event', message(3, 'read yours', CAROL, GROUP));
    expect(seen()).toBe('2: Seen by carol');
  });

  it('says just "Seen" in a direct chat', () => {
    expect(seenText([BOB], 'direct')).toBe('Seen');
  });
});
