/**
 * `npm start`: Herald on the local cloud. Synthesizes the CDK app, starts DynamoDB Local, fauxqs and the
 * Lambda functions, serves the WebSocket API on ws://127.0.0.1:3001, prints how to connect, and stops
 * everything on Ctrl-C or SIGTERM.
 */
import { rmSync } from 'node:fs';
import { parseArgs } from 'node:util';
import * as z from 'zod';
import { devTokenMinter, startWebServer, type WebServer } from './web-server';

// fauxqs stores queues with node:sqlite, which Node 22 flags as experimental at every start. Hide that one
// warning (it says nothing actionable to a Herald user); every other warning is still printed.
process.removeAllListeners('warning');
process.on('warning', (warning) => {
  if (warning.name === 'ExperimentalWarning' && /SQLite/i.test(warning.message)) return;
  console.warn(`${warning.name}: ${warning.message}`);
});
// Imported after the filter is in place: static imports would load fauxqs first.
const { JavaMissingError, STATE_FILE, startLocalHerald } = await import('./herald-local');

const USAGE = `Usage: npm start -- [--port 3001] [--web-port 3000] [--data-dir DIR] [--idle-timeout SECONDS] [--max-connection SECONDS] [--quiet]

  --port            port of the WebSocket API and its @connections endpoint (env HERALD_PORT)
  --web-port        port of the web chat page on 127.0.0.1 (env HERALD_WEB_PORT)
  --data-dir        keep tables, queues and secrets in DIR across restarts (env HERALD_DATA_DIR; default: memory)
  --idle-timeout    close connections idle for this long (default 600, API Gateway's 10 minutes)
  --max-connection  close connections after this long (default 7200, API Gateway's 2 hours)
  --quiet           do not print the functions' logs`;

const Seconds = z.coerce.number().positive();

async function main(): Promise<void> {
  const started = performance.now();
  const { values } = parseArgs({
    options: {
      port: { type: 'string', default: process.env.HERALD_PORT ?? '3001' },
      'web-port': { type: 'string', default: process.env.HERALD_WEB_PORT ?? '3000' },
      'data-dir': {
        type: 'string',
        ...(process.env.HERALD_DATA_DIR ? { default: process.env.HERALD_DATA_DIR } : {}),
      },
      'idle-timeout': { type: 'string', default: '600' },
      'max-connection': { type: 'string', default: '7200' },
      quiet: { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    console.log(USAGE);
    return;
  }
  const port = z.coerce.number().int().min(0).max(65535).safeParse(values.port);
  const webPort = z.coerce.number().int().min(0).max(65535).safeParse(values['web-port']);
  const idle = Seconds.safeParse(values['idle-timeout']);
  const max = Seconds.safeParse(values['max-connection']);
  if (!port.success || !webPort.success || !idle.success || !max.success) {
    console.error(`Invalid option.\n${USAGE}`);
    process.exitCode = 2;
    return;
  }

  console.log('Starting Herald locally: synthesizing the CDK app and starting DynamoDB Local and fauxqs...');
  const herald = await startLocalHerald({
    port: port.data,
    ...(values['data-dir'] ? { dataDir: values['data-dir'] } : {}),
    limits: { idleTimeoutMs: idle.data * 1000, maxConnectionMs: max.data * 1000 },
    log: values.quiet ? () => undefined : (line) => console.log(line),
  });
  let web: WebServer;
  try {
    web = await startWebServer({
      port: webPort.data,
      wsUrl: herald.state.wsUrl,
      mintToken: devTokenMinter({
        ...herald.state.auth,
        region: herald.state.region,
        endpoint: herald.state.secretsManagerEndpoint,
      }),
    });
  } catch (error) {
    await herald.stop();
    rmSync(STATE_FILE, { force: true });
    throw error;
  }

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    console.log(`\n${signal}: stopping Herald...`);
    await web.stop();
    await herald.stop();
    rmSync(STATE_FILE, { force: true });
    console.log('Stopped. Nothing is left running.');
    process.exit(0);
  };
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('SIGTERM', () => void stop('SIGTERM'));

  const { state, cloud } = herald;
  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  const phases = Object.entries(cloud.timings)
    .map(([k, v]) => `${k} ${(v / 1000).toFixed(1)}s`)
    .join(', ');
  console.log(`
┌──────────────────────────────────────────────────────────────────────────────
│ Herald is running locally (ready in ${seconds} s: ${phases})
│
│ WebSocket API   ${state.wsUrl}?token=<JWT>
│ @connections    ${state.callbackUrl}
│ DynamoDB Local  ${cloud.endpoints.dynamodb}    SQS (fauxqs)  ${cloud.endpoints.sqs}
│ Web chat        ${web.url}   (two windows: ?user=alice and ?user=bob)
│ Data            ${values['data-dir'] ? `kept in ${values['data-dir']}` : 'in memory (use --data-dir DIR to keep it)'}
│
│ Mint a token for a user:   npm run -s token -- alice
│ Chat with a stock client:  npx wscat -c "${state.wsUrl}?token=$(npm run -s token -- alice)"
│ then send:  {"action":"send","v":1,"conversationId":"dm:alice:bob","clientMessageId":"m1","text":"Hi Bob"}
│
│ Ctrl-C stops everything.
└──────────────────────────────────────────────────────────────────────────────`);
}

main().catch((error: unknown) => {
  if (error instanceof JavaMissingError) console.error(error.message);
  else console.error('Herald failed to start:', error instanceof Error ? error.message : error);
  process.exit(1);
});
