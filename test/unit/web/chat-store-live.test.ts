/**
 * What the web page's store (web/chat-store.ts) keeps of the live signals: presence, typing both ways, the
 * connection's state, notices, and who is told of a change.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { type ConnectionState, HeraldError } from '../../../client/index';
import { ChatStore } from '../../../web/chat-store';
import { typingText } from '../../../web/view';
import { BOB, CAROL, DM, DM_CAROL, FakeClient, GROUP, ME, membersRemoved, message } from './fake-client';

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

const presence = (userId: string, online: boolean, at: number) =>
  client.emit('presence', { type: 'presence', v: 1, userId, online, at });
const typing = (userId: string, state: 'start' | 'stop', conversationId = DM) =>
  client.emit('typing', { type: 'typing', v: 1, conversationId, userId, state });
const typingIn = (id = DM) => typingText(store.thread(id));

describe('presence', () => {
  it('is unknown until a frame says, then follows the newest frame', () => {
    expect(store.presence.get(BOB)).toBeUndefined();
    presence(BOB, true, 100);
    expect(store.presence.get(BOB)).toEqual({ online: true, at: 100 });
    presence(BOB, false, 200);
    expect(store.presence.get(BOB)).toEqual({ online: false, at: 200 });
  });

  it('ignores an older frame that arrives late', () => {
    presence(BOB, false, 200);
    presence(BOB, true, 100);
    expect(store.presence.get(BOB)).toEqual({ online: false, at: 200 });
    presence(CAROL, true, 50);
    expect(store.presence.get(CAROL)?.online).toBe(true);
  });
});

describe('others typing', () => {
  it('shows who types where until they stop', () => {
    typing(BOB, 'start');
    typing(CAROL, 'start', GROUP);
    typing(BOB, 'start', GROUP);
    expect(typingIn()).toBe('bob is typing…');
    expect(typingIn(GROUP)).toBe('carol, bob are typing…');
    typing(BOB, 'stop', GROUP);
    expect(typingIn(GROUP)).toBe('carol is typing…');
    expect(typingIn()).toBe('bob is typing…');
  });

  it('goes away 6 s after the last start when no stop comes, and not before', async () => {
    typing(BOB, 'start');
    await vi.advanceTimersByTimeAsync(4_000);
    typing(BOB, 'start'); // repeated every 2 s while typing
    await vi.advanceTimersByTimeAsync(4_000);
    expect(typingIn()).toBe('bob is typing…');
    await vi.advanceTimersByTimeAsync(2_000);
    expect(typingIn()).toBe('');
  });

  it('goes away when their message arrives', () => {
    typing(BOB, 'start');
    client.emit('event', message(1, 'done typing'));
    expect(typingIn()).toBe('');
  });

  it('ignores my own typing from another device', () => {
    typing(ME, 'start');
    expect(store.thread(DM).typing.size).toBe(0);
  });
});

describe('my typing', () => {
  beforeEach(async () => {
    await store.open(DM);
  });

  it('sends start at most every 2 s while I type, and stop after 3 s of quiet', async () => {
    store.typed();
    await vi.advanceTimersByTimeAsync(1_000);
    store.typed();
    expect(client.typingSent()).toEqual([`${DM}:start`]);
    await vi.advanceTimersByTimeAsync(1_000);
    store.typed();
    expect(client.typingSent()).toEqual([`${DM}:start`, `${DM}:start`]);
    await vi.advanceTimersByTimeAsync(2_999);
    expect(client.typingSent()).toHaveLength(2);
    await vi.advanceTimersByTimeAsync(1);
    expect(client.typingSent()).toEqual([`${DM}:start`, `${DM}:start`, `${DM}:stop`]);
    await vi.advanceTimersByTimeAsync(10_000);
    expect(client.typingSent()).toHaveLength(3);
  });

  it('stops when the message is sent', () => {
    store.typed();
    store.send('hello');
    expect(client.typingSent()).toEqual([`${DM}:start`, `${DM}:stop`]);
  });

  it('stops in one conversation before starting in the next', async () => {
    store.typed();
    await store.open(DM_CAROL);
    store.typed();
    expect(client.typingSent()).toEqual([`${DM}:start`, `${DM}:stop`, `${DM_CAROL}:start`]);
  });

  it('stops when I close the conversation', () => {
    store.typed();
    store.close();
    expect(client.typingSent()).toEqual([`${DM}:start`, `${DM}:stop`]);
  });

  it('sends no stop to a group I was removed from while typing in it', async () => {
    await store.open(GROUP);
    store.typed();
    client.emit('event', membersRemoved(5, [ME]));
    await vi.advanceTimersByTimeAsync(5_000);
    expect(client.typingSent()).toEqual([`${GROUP}:start`]);
    await store.open(DM);
    store.typed();
    expect(client.typingSent()).toEqual([`${GROUP}:start`, `${DM}:start`]);
  });

  it('sends nothing without an open conversation', () => {
    store.close();
    store.typed();
    expect(client.typing).not.toHaveBeenCalled();
  });
});

describe('the connection', () => {
  it.each([
    ['idle', 'connecting'],
    ['connecting', 'connecting'],
    ['open', 'online'],
    ['reconnecting', 'reconnecting'],
    ['closed', 'closed'],
  ] as [ConnectionState, ChatStore['connection']][])('shows %s as %s', (state, shown) => {
    client.emit('state', { state, previous: state === 'open' ? 'connecting' : 'open' });
    expect(store.connection).toBe(shown);
  });

  it('starts as connecting', () => {
    expect(store.connection).toBe('connecting');
  });
});

describe('notices', () => {
  it('show an SDK error until dismissed; a newer one replaces the older', () => {
    client.emit('error', new HeraldError('INVALID_SERVER_FRAME', 'the server sent something odd'));
    expect(store.notice).toBe('the server sent something odd');
    client.emit('error', new HeraldError('RATE_LIMITED', 'slow down'));
    expect(store.notice).toBe('slow down');
    store.dismissNotice();
    expect(store.notice).toBeUndefined();
  });

  it('clear a failure to connect once the connection opens, and keep any other notice', () => {
    client.emit('error', new HeraldError('CONNECT_FAILED', 'could not connect'));
    client.emit('state', { state: 'reconnecting', previous: 'connecting' });
    expect(store.notice).toBe('could not connect');
    client.emit('state', { state: 'open', previous: 'reconnecting' });
    expect(store.notice).toBeUndefined();

    client.emit('error', new HeraldError('CONNECT_FAILED', 'could not connect'));
    client.emit('error', new HeraldError('RATE_LIMITED', 'slow down'));
    client.emit('state', { state: 'open', previous: 'reconnecting' });
    expect(store.notice).toBe('slow down');
  });
});

describe('subscribers', () => {
  it('hear of every change and stop hearing once unsubscribed', () => {
    const heard: number[] = [];
    const off = store.subscribe(() => heard.push(store.version));
    presence(BOB, true, 1);
    typing(BOB, 'start');
    expect(heard).toEqual([1, 2]);
    off();
    presence(BOB, false, 2);
    expect(heard).toEqual([1, 2]);
    expect(store.version).toBe(3);
  });

  it('hear nothing once the store is disposed, which closes the client and its timers', async () => {
    typing(BOB, 'start');
    const heard = vi.fn();
    store.subscribe(heard);
    store.dispose();
    expect(client.closed).toBe(true);
    client.emit('event', message(1));
    presence(BOB, true, 1);
    await vi.advanceTimersByTimeAsync(10_000);
    expect(heard).not.toHaveBeenCalled();
    expect(store.conversations.size).toBe(0);
    expect(vi.getTimerCount()).toBe(0);
  });
});
