import * as z from 'zod/mini';
import { UserId } from '../../protocol';

/**
 * The parts of an API Gateway WebSocket event's requestContext Herald relies on. The authorizer's context
 * (set on $connect) is passed by API Gateway to every later event of the connection.
 */
const WebSocketContext = z.object({
  connectionId: z.string().check(z.minLength(1)),
  connectedAt: z.number().check(z.int(), z.positive()),
  authorizer: z.object({ userId: UserId }),
});
export type WebSocketContext = z.infer<typeof WebSocketContext>;

/** Throws when API Gateway hands us an event without an authorized user: a deployment error, not input. */
export function websocketContext(event: { requestContext: unknown }): WebSocketContext {
  const parsed = WebSocketContext.safeParse(event.requestContext);
  if (!parsed.success)
    throw new Error(`unexpected WebSocket event context: ${parsed.error.issues[0]?.message}`);
  return parsed.data;
}

/** A two-way route's answer: API Gateway sends `body` to the client as one frame; no body sends nothing. */
export type RouteResponse = { statusCode: number; body?: string };
