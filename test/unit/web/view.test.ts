/** What the web page shows of the store's state (web/view.ts): lines, previews, the Seen marker, typing. */
import { describe, expect, it } from 'vitest';
import type { ConversationItem, Thread } from '../../../web/chat-store';
import { describe as describeEvent, preview, seenMarker, timeline, typingText } from '../../../web/view';
import {
  BOB,
  CAROL,
  DM,
  edit,
  GROUP,
  groupCreated,
  ME,
  memberLeft,
  membersAdded,
  membersRemoved,
  message,
  recall,
  renamed,
} from './fake-client';

const thread = (fields: Partial<Thread> = {}): Thread => ({
  events: new Map(),
  loaded: true,
  loading: false,
  hasOlder: false,
  pending: [],
  readBy: new Map(),
  typing: new Map(),
  ...fields,
});

const item = (fields: Partial<ConversationItem> = {}): ConversationItem => ({
  id: DM,
  kind: 'direct',
  title: BOB,
  peer: BOB,
  lastSeq: 0,
  readSeq: 0,
  unread: 0,
  ...fields,
});

describe('the lines of a conversation', () => {
  it('are its events by seq, without the edits and recalls', () => {
    const events = [
      message(3),
      recall(5, 1),
      message(1),
      edit(4, 3, 'x'),
      groupCreated(2, 'G', [BOB], BOB, DM),
    ];
    const lines = timeline(thread({ events: new Map(events.map((e) => [e.seq, e])) }));
    expect(lines.map((e) => e.seq)).toEqual([1, 2, 3]);
  });
});

describe('the list preview', () => {
  it('says who did what last, "You" for me', () => {
    expect(preview(item(), ME)).toBe('No messages yet');
    expect(preview(item({ lastEvent: message(1, 'hi') }), ME)).toBe('bob: hi');
    expect(preview(item({ lastEvent: message(2, 'hello', ME) }), ME)).toBe('You: hello');
    expect(preview(item({ lastEvent: { ...message(2, ''), recalled: true } }), ME)).toBe(
      'bob: message recalled',
    );
  });

  it('describes every kind of event', () => {
    expect(
      [
        edit(2, 1, 'x'),
        recall(3, 1),
        groupCreated(1, 'Weekend', [BOB, ME]),
        membersAdded(4, [CAROL, ME]),
        membersRemoved(5, [CAROL]),
        memberLeft(6, CAROL),
        renamed(7, 'Trip'),
      ].map((e) => describeEvent(e, ME)),
    ).toEqual([
      'edited a message',
      'recalled a message',
      'created "Weekend" with bob, you',
      'added carol, you',
      'removed carol',
      'left',
      'renamed the group to "Trip"',
    ]);
  });
});

describe('the Seen marker', () => {
  const mine = [message(1, 'a', ME, GROUP), message(2, 'b', BOB, GROUP), message(3, 'c', ME, GROUP)];

  it('is on the newest message of mine someone read, with who read it, sorted', () => {
    const t = thread({
      readBy: new Map([
        [CAROL, 3],
        [BOB, 3],
      ]),
    });
    expect(seenMarker(mine, t, ME)).toEqual({ seq: 3, by: [BOB, CAROL] });
    const partly = thread({ readBy: new Map([[CAROL, 2]]) });
    expect(seenMarker(mine, partly, ME)).toEqual({ seq: 1, by: [CAROL] });
  });

  it('is nowhere when nobody read a message of mine', () => {
    expect(seenMarker(mine, thread(), ME)).toBeUndefined();
    expect(
      seenMarker([message(1, 'theirs', BOB)], thread({ readBy: new Map([[BOB, 1]]) }), ME),
    ).toBeUndefined();
  });
});

describe('the typing line', () => {
  it('names who types, in the order they started', () => {
    expect(typingText(thread())).toBe('');
    expect(typingText(thread({ typing: new Map([[BOB, 1]]) }))).toBe('bob is typing…');
    expect(
      typingText(
        thread({
          typing: new Map([
            [CAROL, 1],
            [BOB, 1],
          ]),
        }),
      ),
    ).toBe('carol, bob are typing…');
  });
});
