/**
 * The baseline: a plain `ws` relay that forwards each message straight to the other members' connections, with
 * a per-conversation counter for `seq` and an ack to the sender, in Herald's frame shapes (so the same load
 * generator and checker drive both). No authentication, no storage, no queue: the fastest this machine can
 * move the same frames through one WebSocket hop in each direction.
 */
import type { AddressInfo } from 'node:net';
import WebSocket, { WebSocketServer } from 'ws';

export interface Relay {
  /** Connect as `${url}?user=<id>`. */
  readonly url: string;
  stop(): Promise<void>;
}

interface SendFrame {
  action: 'send';
  conversationId: string;
  clientMessageId: string;
  text: string;
}
interface JoinFrame {
  action: 'join';
  conversationId: string;
  members: string[];
}

export async function startRelay(): Promise<Relay> {
  const server = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await new Promise<void>((resolve) => server.once('listening', resolve));
  const sockets = new Map<string, Set<WebSocket>>();
  const groups = new Map<string, string[]>();
  const seqs = new Map<string, number>();

  const membersOf = (conversationId: string): string[] => {
    const group = groups.get(conversationId);
    if (group) return group;
    const [kind, a, b] = conversationId.split(':');
    return kind === 'dm' && a && b ? [a, b] : [];
  };

  server.on('connection', (ws, request) => {
    const user = new URL(request.url ?? '/', 'ws://relay').searchParams.get('user') ?? '';
    const mine = sockets.get(user) ?? new Set<WebSocket>();
    sockets.set(user, mine);
    mine.add(ws);
    ws.on('close', () => mine.delete(ws));
    ws.on('message', (data) => {
      const frame = JSON.parse(data.toString()) as SendFrame | JoinFrame;
      if (frame.action === 'join') {
        groups.set(frame.conversationId, frame.members);
        ws.send(JSON.stringify({ type: 'joined', conversationId: frame.conversationId }));
        return;
      }
      const seq = (seqs.get(frame.conversationId) ?? 0) + 1;
      seqs.set(frame.conversationId, seq);
      const { conversationId, clientMessageId, text } = frame;
      const event = JSON.stringify({
        type: 'event',
        v: 1,
        event: { kind: 'message', conversationId, seq, clientMessageId, actorId: user, text },
      });
      for (const member of membersOf(conversationId)) {
        for (const socket of sockets.get(member) ?? []) {
          if (socket !== ws && socket.readyState === WebSocket.OPEN) socket.send(event);
        }
      }
      ws.send(JSON.stringify({ type: 'ack', v: 1, conversationId, clientMessageId, seq }));
    });
  });

  const { port } = server.address() as AddressInfo;
  return {
    url: `ws://127.0.0.1:${port}/`,
    async stop() {
      for (const client of server.clients) client.terminate();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
