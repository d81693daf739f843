import { describe, expect, it } from 'vitest';
import { checkDeliveries, type ReceivedEvent, type SentMessage } from '../../../bench/checker';

const conv = 'dm:alice:bob';
const sent: SentMessage[] = [1, 2, 3].map((i) => ({
  clientMessageId: `m${i}`,
  conversationId: conv,
  sender: 'alice#0',
  recipients: ['bob#0'],
}));
const ack = (i: number): ReceivedEvent => ({
  conversationId: conv,
  seq: i,
  clientMessageId: `m${i}`,
  ack: true,
});
const event = (i: number, seq = i): ReceivedEvent => ({
  conversationId: conv,
  seq,
  clientMessageId: `m${i}`,
});
const acks = [ack(1), ack(2), ack(3)];

const check = (bob: ReceivedEvent[], alice: ReceivedEvent[] = acks) =>
  checkDeliveries(
    sent,
    new Map([
      ['alice#0', alice],
      ['bob#0', bob],
    ]),
  );

describe('checkDeliveries', () => {
  it('passes a run where everything arrived once, in order', () => {
    const report = check([event(1), event(2), event(3)]);
    expect(report).toMatchObject({
      ok: true,
      expectedDeliveries: 3,
      deliveries: 3,
      lost: 0,
      duplicated: 0,
      reordered: 0,
      gaps: 0,
      badAcks: 0,
    });
  });

  it('detects loss (and the gap it leaves in the seqs)', () => {
    const report = check([event(1), event(3)]);
    expect(report.ok).toBe(false);
    expect(report.lost).toBe(1);
    expect(report.gaps).toBe(1);
    expect(report.examples).toContain('bob#0 never got m2');
  });

  it('detects duplication', () => {
    const report = check([event(1), event(2), event(2, 2), event(3)]);
    expect(report.ok).toBe(false);
    expect(report.duplicated).toBe(1);
    expect(report.lost).toBe(0);
  });

  it('detects reordering by seq', () => {
    const report = check([event(1), event(3), event(2)]);
    expect(report.ok).toBe(false);
    expect(report.reordered).toBeGreaterThanOrEqual(1);
    expect(report.lost).toBe(0);
  });

  it("detects reordering against the sender's order even when the seqs look right", () => {
    // m3 was given seq 2 and m2 seq 3: the server swapped the sender's messages.
    const report = check(
      [event(1), event(3, 2), event(2, 3)],
      [ack(1), { ...ack(3), seq: 2 }, { ...ack(2), seq: 3 }],
    );
    expect(report.ok).toBe(false);
    expect(report.reordered).toBe(1);
  });

  it('detects a delivery to a connection that is not a recipient, and missing acks', () => {
    const report = check([event(1), event(2), event(3)], [ack(1), ack(2), event(3)]);
    expect(report.ok).toBe(false);
    expect(report.unexpected).toBe(1);
    expect(report.badAcks).toBe(1);
  });

  it('ignores events of other phases but still checks their seqs', () => {
    const earlier: ReceivedEvent = { conversationId: conv, seq: 0, clientMessageId: 'old' };
    expect(check([earlier, event(1), event(2), event(3)]).ok).toBe(true);
  });
});
