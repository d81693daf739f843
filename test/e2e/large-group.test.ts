/**
 * A 1,000-member group on its own local Herald (reusing the main run's assembly): every connected member gets
 * the group's events, delivered in chunks by the fan-out function, each chunk visible in the logs.
 * Local cloud only (it reads the local functions' logs).
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import WebSocket from 'ws';
import { settleWithLimit } from '../../lambdas/core/concurrency';
import { type LocalHerald, startLocalHerald } from '../../local/herald-local';
import { mintToken, readSigningSecret } from '../../local/tokens';
import { ServerFrame } from '../../protocol';
import { unique } from './client';

const target = inject('heraldTarget');
const MEMBERS = 1000;
let herald: LocalHerald;
const logLines: string[] = [];

beforeAll(async () => {
  if (!target.local) return;
  herald = await startLocalHerald({
    port: 0,
    writeStateFile: false,
    assemblyDir: target.local.assemblyDir,
    skipSynth: true,
    maxConcurrencyPerFunction: 8,
    log: (line) => {
      if (line.includes('fan-out chunk')) logLines.push(line);
    },
  });
}, 180_000);
afterAll(async () => {
  await herald?.stop();
});

interface Member {
  readonly userId: string;
  readonly ws: WebSocket;
  readonly frames: ServerFrame[];
}

describe.runIf(target.local)('a 1,000-member group (own local Herald)', () => {
  it('delivers a message to every connected member, in chunks visible in the fan-out logs', async () => {
    const { state } = herald;
    const secret = await readSigningSecret(state.auth.secretArn, state.region, state.secretsManagerEndpoint);
    const prefix = unique('lg');
    const userIds = Array.from({ length: MEMBERS }, (_, i) => `${prefix}-${i}`);
    // Everyone connects first (no shared conversation yet, so no presence traffic), 25 at a time.
    const results = await settleWithLimit(userIds, 25, async (userId): Promise<Member> => {
      const token = await mintToken(userId, {
        secret,
        issuer: state.auth.issuer,
        audience: state.auth.audience,
      });
      const ws = new WebSocket(`${state.wsUrl}?token=${token}`);
      const frames: ServerFrame[] = [];
      ws.on('message', (data) => frames.push(ServerFrame.parse(JSON.parse(data.toString()))));
      await new Promise((resolve, reject) => {
        ws.once('open', resolve);
        ws.once('error', reject);
      });
      return { userId, ws, frames };
    });
    const members = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
    expect(members).toHaveLength(MEMBERS);
    const [owner, ...others] = members;
    if (!owner) throw new Error('no owner');

    try {
      owner.ws.send(
        JSON.stringify({
          action: 'createGroup',
          v: 1,
          clientMessageId: 'big',
          name: 'Everyone',
          members: others.map((m) => m.userId),
        }),
      );
      const ackOf = (id: string) =>
        owner.frames.find((f) => f.type === 'ack' && f.clientMessageId === id) as
          | { conversationId: string }
          | undefined;
      await until(() => ackOf('big') !== undefined, 60_000);
      const groupId = ackOf('big')?.conversationId ?? '';
      owner.ws.send(
        JSON.stringify({
          action: 'send',
          v: 1,
          conversationId: groupId,
          clientMessageId: 'hello',
          text: 'Hello, 999 people',
        }),
      );

      const got = (m: Member) =>
        m.frames.some(
          (f) => f.type === 'event' && f.event.kind === 'message' && f.event.clientMessageId === 'hello',
        );
      await until(() => others.every(got), 120_000);
      expect(others.filter(got)).toHaveLength(MEMBERS - 1);
      // Exactly once each, and after the group.created event.
      for (const m of others) {
        const kinds = m.frames.flatMap((f) => (f.type === 'event' ? [f.event.kind] : []));
        expect(kinds).toEqual(['group.created', 'message']);
      }
      expect(owner.frames.filter((f) => f.type === 'ack').map((f) => (f as { seq: number }).seq)).toEqual([
        1, 2,
      ]);
      // Each event went out in chunks through the fan-out function (1,000 users / 100 per chunk, or more).
      const chunkLines = logLines.filter((l) => l.includes(groupId) || l.includes('fan-out chunk delivered'));
      expect(chunkLines.length).toBeGreaterThanOrEqual(20);
    } finally {
      for (const m of members) m.ws.terminate();
    }
  }, 300_000);
});

async function until(check: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
