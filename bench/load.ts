/**
 * The load generator: real `ws` client connections that send `send` frames at a fixed offered rate, spread
 * round-robin over many sender connections (Herald limits each connection to 20 frames in any 2 s, so a rate R
 * needs at least R/10 senders; the bench uses R/5 to stay clear of it), and record every frame they receive
 * with `performance.now()`: latency is a recipient's frame in minus the sender's frame out, in this process.
 */
import WebSocket from 'ws';
import { type CorrectnessReport, checkDeliveries, type ReceivedEvent, type SentMessage } from './checker';
import { type LatencySummary, summarize } from './stats';

/** Frames per second one sender connection is given at most (Herald's flood limit is 10/s sustained). */
export const MAX_RATE_PER_SENDER = 5;

export class BenchConnection {
  /** Events of the current phase, in arrival order. */
  events: ReceivedEvent[] = [];
  acks = 0;
  errors: { code: string; clientMessageId?: string }[] = [];
  private onEvent: ((clientMessageId: string, at: number, ack: boolean) => void) | undefined;
  private waiters: (() => void)[] = [];

  constructor(
    readonly id: string,
    readonly userId: string,
    readonly ws: WebSocket,
  ) {
    ws.on('message', (data) => {
      const at = performance.now();
      const frame = JSON.parse(data.toString()) as {
        type: string;
        code?: string;
        clientMessageId?: string;
        event?: { conversationId: string; seq: number; kind: string; clientMessageId?: string };
      };
      if (frame.type === 'event' && frame.event) {
        const { conversationId, seq, kind, clientMessageId } = frame.event;
        const message = kind === 'message' ? clientMessageId : undefined;
        this.events.push(
          message === undefined ? { conversationId, seq } : { conversationId, seq, clientMessageId: message },
        );
        if (message !== undefined) this.onEvent?.(message, at, false);
      } else if (frame.type === 'ack') {
        this.acks += 1;
        const ack = frame as { conversationId?: string; seq?: number; clientMessageId?: string };
        if (ack.conversationId !== undefined && ack.seq !== undefined && ack.clientMessageId !== undefined) {
          this.events.push({
            conversationId: ack.conversationId,
            seq: ack.seq,
            clientMessageId: ack.clientMessageId,
            ack: true,
          });
          this.onEvent?.(ack.clientMessageId, at, true);
        }
      } else if (frame.type === 'error') {
        this.errors.push({
          code: frame.code ?? 'UNKNOWN',
          ...(frame.clientMessageId ? { clientMessageId: frame.clientMessageId } : {}),
        });
      }
      for (const w of this.waiters.splice(0)) w();
    });
  }

  send(frame: unknown): void {
    this.ws.send(JSON.stringify(frame));
  }

  listen(onEvent: ((clientMessageId: string, at: number, ack: boolean) => void) | undefined): void {
    this.onEvent = onEvent;
  }

  reset(): void {
    this.events = [];
    this.acks = 0;
    this.errors = [];
  }

  async until(check: () => boolean, timeoutMs: number, what: string): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!check()) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`${this.userId}: ${what} not seen within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, Math.min(left, 200));
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }
}

export async function openConnection(url: string, id: string, userId: string): Promise<BenchConnection> {
  const ws = new WebSocket(url, { perMessageDeflate: false });
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('unexpected-response', (_req, res) =>
      reject(new Error(`${userId}: handshake HTTP ${res.statusCode}`)),
    );
    ws.once('error', reject);
  });
  return new BenchConnection(id, userId, ws);
}

/** One stream of messages: who sends, to which conversation, and who must receive each one. */
export interface Route {
  readonly sender: BenchConnection;
  readonly conversationId: string;
  readonly recipients: readonly BenchConnection[];
}

export interface PhaseSpec {
  readonly name: string;
  readonly routes: readonly Route[];
  /** Offered messages per second, spread round-robin over the routes. */
  readonly rate: number;
  readonly durationSeconds: number;
  /** Give up waiting for stragglers after this long without a new delivery. @default 15000 */
  readonly idleTimeoutMs?: number;
  /** Every connection that may receive something (for the correctness check). */
  readonly connections: readonly BenchConnection[];
}

export interface PhaseResult {
  readonly name: string;
  readonly offeredRate: number;
  readonly durationSeconds: number;
  readonly sent: number;
  /** Sent and not refused: what must be delivered. */
  readonly accepted: number;
  /** Refused by the server with an error frame (RATE_LIMITED...): never accepted, so not expected. */
  readonly refused: Record<string, number>;
  readonly deliveries: number;
  /** Deliveries per second: from the first frame out to the last delivery in. */
  readonly deliveriesPerSecond: number;
  /** Messages per second fully delivered over the same span. */
  readonly messagesPerSecond: number;
  /** The rate the generator actually achieved while sending. */
  readonly achievedSendRate: number;
  readonly latencyMs: LatencySummary;
  readonly correctness: CorrectnessReport;
}

let phaseCounter = 0;

export async function runPhase(spec: PhaseSpec): Promise<PhaseResult> {
  if (spec.routes.length === 0) throw new Error(`${spec.name}: no routes`);
  const tag = `${(++phaseCounter).toString(36)}${Math.random().toString(36).slice(2, 6)}`;
  const total = Math.max(1, Math.round(spec.rate * spec.durationSeconds));
  const sentAt = new Map<string, number>();
  const latencies: number[] = [];
  let lastDelivery = 0;
  let deliveries = 0;
  let acks = 0;
  for (const c of spec.connections) {
    c.reset();
    c.listen((id, at, ack) => {
      const t0 = sentAt.get(id);
      if (t0 === undefined) return;
      if (ack) {
        acks += 1;
        return;
      }
      latencies.push(at - t0);
      deliveries += 1;
      lastDelivery = at;
    });
  }

  const sent: SentMessage[] = [];
  const start = performance.now();
  let k = 0;
  await new Promise<void>((resolve) => {
    const tick = () => {
      const due = Math.min(total, Math.floor(((performance.now() - start) / 1000) * spec.rate) + 1);
      for (; k < due; k++) {
        const route = spec.routes[k % spec.routes.length];
        if (!route) continue;
        const clientMessageId = `${tag}-${k}`;
        sent.push({
          clientMessageId,
          conversationId: route.conversationId,
          sender: route.sender.id,
          recipients: route.recipients.map((r) => r.id),
        });
        sentAt.set(clientMessageId, performance.now());
        route.sender.send({
          action: 'send',
          v: 1,
          conversationId: route.conversationId,
          clientMessageId,
          text: `m${k}`,
        });
      }
      if (k >= total) resolve();
      else setTimeout(tick, 1);
    };
    tick();
  });
  const sendSeconds = (performance.now() - start) / 1000;

  // Wait for every delivery, or until nothing has arrived for a while.
  const refusedIds = () =>
    new Set(
      spec.connections.flatMap((c) =>
        c.errors.flatMap((e) => (e.clientMessageId ? [e.clientMessageId] : [])),
      ),
    );
  const idleTimeoutMs = spec.idleTimeoutMs ?? 15_000;
  let seen = -1;
  let lastProgress = Date.now();
  for (;;) {
    const refused = refusedIds();
    const expected = sent.reduce((a, m) => a + (refused.has(m.clientMessageId) ? 0 : m.recipients.length), 0);
    // Every delivery and every ack (an ack may arrive after the last delivery).
    if (deliveries >= expected && acks >= sent.length - refused.size) break;
    if (deliveries + acks !== seen) {
      seen = deliveries + acks;
      lastProgress = Date.now();
    } else if (Date.now() - lastProgress > idleTimeoutMs) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  for (const c of spec.connections) c.listen(undefined);

  const refusedSet = refusedIds();
  const refused: Record<string, number> = {};
  for (const c of spec.connections) for (const e of c.errors) refused[e.code] = (refused[e.code] ?? 0) + 1;
  const accepted = sent.filter((m) => !refusedSet.has(m.clientMessageId));
  const received = new Map(spec.connections.map((c) => [c.id, c.events] as const));
  const correctness = checkDeliveries(accepted, received);
  const span = Math.max(1e-9, (lastDelivery - start) / 1000);
  const recipientsPerMessage = accepted.length ? correctness.expectedDeliveries / accepted.length : 1;
  return {
    name: spec.name,
    offeredRate: spec.rate,
    durationSeconds: spec.durationSeconds,
    sent: sent.length,
    accepted: accepted.length,
    refused,
    deliveries,
    deliveriesPerSecond: deliveries / span,
    messagesPerSecond: deliveries / Math.max(1, recipientsPerMessage) / span,
    achievedSendRate: sent.length / Math.max(1e-9, sendSeconds),
    latencyMs: summarize(latencies),
    correctness,
  };
}
