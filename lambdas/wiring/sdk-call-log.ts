import { loadConfig, sdkCallLogConfig } from '../config';
import { once } from './once';

/** An SDK client's middleware stack, as far as call counting needs it (every client has one). */
interface CountableStack {
  add(middleware: CallCounter, options: { step: 'initialize'; name: string }): void;
}
type CallCounter = (
  next: (args: { input: Record<string, unknown> }) => Promise<{ output: unknown }>,
  context: { clientName?: string; commandName?: string },
) => (args: { input: Record<string, unknown> }) => Promise<{ output: unknown }>;

/**
 * Benchmarks only (HERALD_SDK_CALL_LOG=true; `npm run bench` sets it, the stack never does): counts this
 * environment's AWS calls by `Client/Command`, the time spent waiting on them and, for DynamoDB, the capacity
 * units the service reports (by asking for them), and logs what it counted since its last line, at most once a
 * second: `HERALD_SDK_CALLS {"DynamoDBClient/QueryCommand":{"calls":2,"read":1,"write":0,"ms":9.5},...}`.
 * Off, it returns the client untouched: no middleware, no cost. Every client the wiring builds goes through
 * it.
 */
export function counted<C extends { readonly middlewareStack: object }>(client: C): C {
  if (!sdkCallCounts()) return client;
  (client.middlewareStack as CountableStack).add(
    (next, context) => async (args) => {
      const key = `${context.clientName ?? 'UnknownClient'}/${context.commandName ?? 'UnknownCommand'}`;
      if (context.clientName === 'DynamoDBClient') args.input.ReturnConsumedCapacity ??= 'TOTAL';
      let output: unknown;
      const started = performance.now();
      try {
        const result = await next(args);
        output = result.output;
        return result;
      } finally {
        countCall(key, output, performance.now() - started);
      }
    },
    { step: 'initialize', name: 'heraldSdkCallCounter' },
  );
  return client;
}

const sdkCallCounts = /* @__PURE__ */ once(() =>
  loadConfig(sdkCallLogConfig, process.env).HERALD_SDK_CALL_LOG
    ? new Map<string, { calls: number; read: number; write: number; ms: number }>()
    : undefined,
);
let sdkCallFlushPending = false;

function countCall(key: string, output: unknown, ms: number): void {
  const counts = sdkCallCounts();
  if (!counts) return;
  const entry = counts.get(key) ?? { calls: 0, read: 0, write: 0, ms: 0 };
  entry.calls += 1;
  entry.ms += ms;
  // With ReturnConsumedCapacity TOTAL, DynamoDB reports CapacityUnits per table: read units for reads.
  const consumed = (output as { ConsumedCapacity?: unknown } | undefined)?.ConsumedCapacity;
  const isRead = /\/(Get|BatchGet|Query|Scan|TransactGet)/.test(key);
  for (const c of Array.isArray(consumed) ? consumed : consumed ? [consumed] : []) {
    const units = (c as { CapacityUnits?: number }).CapacityUnits ?? 0;
    if (isRead) entry.read += units;
    else entry.write += units;
  }
  counts.set(key, entry);
  if (sdkCallFlushPending) return;
  sdkCallFlushPending = true;
  setTimeout(() => {
    sdkCallFlushPending = false;
    process.stdout.write(`HERALD_SDK_CALLS ${JSON.stringify(Object.fromEntries(counts))}\n`);
    counts.clear();
  }, 1000).unref();
}
