/**
 * `npm run chat -- --user alice`: a terminal chat for Herald, on the client SDK. Talks to the local Herald of
 * `npm start` by default, or to any deployment with --url and a token source (see --help).
 */
import WebSocket from 'ws';
import { HeraldClient } from '../client/index';
import { makeStyle } from './format';
import { parseChatArgs, USAGE, UsageError } from './options';
import { ChatSession } from './session';
import { resolveConnection } from './tokens';

async function main(): Promise<void> {
  let parsed: ReturnType<typeof parseChatArgs>;
  try {
    parsed = parseChatArgs(process.argv.slice(2));
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    console.error(`${error.message}\n\n${USAGE}`);
    process.exit(2);
  }
  if (parsed.help) {
    console.log(USAGE);
    return;
  }
  const { options } = parsed;
  const connection = resolveConnection(options);
  const client = new HeraldClient({
    url: connection.url,
    token: connection.token,
    // Node's global WebSocket reports a refused handshake (401) with an error event and no close event, which
    // leaves the SDK waiting for a close that never comes; `ws` closes after the error, so the SDK retries.
    WebSocket,
    // With a given token the SDK reads the user id from it.
    ...(options.tokens.kind === 'mint' && options.user ? { userId: options.user } : {}),
  });
  const session = new ChatSession({
    client,
    ...(options.user ? { user: options.user } : {}),
    url: connection.url,
    style: makeStyle(options.color && process.stdout.isTTY === true),
    pageSize: options.pageSize,
    input: process.stdin,
    output: process.stdout,
    onExit: () => {
      // The SDK has closed its connection; give the terminal a moment to take the last lines, then leave.
      setTimeout(() => process.exit(0), 50);
    },
  });
  await session.start();
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
