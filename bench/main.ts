/**
 * `npm run bench`: Herald on the local cloud and a plain `ws` relay under the same load, 1:1 and in a
 * 100-member group, at fixed offered rates and at saturation; the correctness of every delivery; the AWS
 * calls per message (counted in the functions by the opt-in SDK middleware of
 * lambdas/wiring/sdk-call-log.ts); the local services' own capacity and the ceiling it puts on each scenario;
 * the modelled AWS cost next to the protocol and architecture floors; bundle sizes and init times. Writes
 * bench/results/latest.{json,md} and exits non-zero if anything was lost, duplicated or reordered. Not part of
 * `npm test`. docs/benchmarks.md explains the method.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { join } from 'node:path';
import { ScanCommand } from '@aws-sdk/client-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import { type LocalHerald, REPO_ROOT, startLocalHerald } from '../local/herald-local';
import { dynamoDbClient } from '../local/services/aws-clients';
import { mintToken, readSigningSecret } from '../local/tokens';
import { type CeilingMeasurement, measureCeiling, untilQuiet } from './ceiling';
import { type Capacities, type Ceiling, ceilingOf } from './ceiling-model';
import { type ColdStart, measureColdStarts } from './cold-start';
import {
  type ArchitectureFloor,
  architectureFloor,
  batchSizeWithin,
  type CostPerMillion,
  DYNAMO_ITEM_OVERHEAD_BYTES,
  dynamoItemBytes,
  floorCost,
  heraldCost,
  heraldCostAt,
  naiveCost,
  type PerMessage,
  type PhaseUsage,
  perMessage,
} from './cost-model';
import { type PhaseProfile, phaseSlug, startCpuProfiles } from './cpu-profile';
import {
  type BenchConnection,
  MAX_RATE_PER_SENDER,
  openConnection,
  type PhaseResult,
  type Route,
  runPhase,
} from './load';
import { type BenchOptions, OptionsError, parseOptions, USAGE } from './options';
import { PRICES } from './prices';
import { startRelay } from './relay';
import { renderMarkdown } from './report';
import { UsageCollector, type UsageSnapshot, usageBetween } from './usage';

const GROUP_MEMBERS = 100;
const GROUP_SENDERS = 25;
const CONNECTED_USERS = [1_000, 10_000, 100_000] as const;
/** Batch sizes the architecture floor is shown at: FIFO event sources have no batching window, so a low rate
 * gives batches of about one message; ten is the most a FIFO event source batch holds. */
const FLOOR_BATCH_SIZES = [1, 10] as const;
/** The issue's cost targets, times the protocol floor. */
const COST_LIMIT = { direct: 1.5, group: 1.03 } as const;
/** Long enough for every function's call counter to have logged (it flushes once a second). */
const SETTLE_MS = 1_600;

type TargetName = 'herald' | 'relay';
type ScenarioName = 'direct' | 'group';

export interface PhaseRecord extends PhaseResult {
  readonly target: TargetName;
  readonly scenario: ScenarioName;
  readonly kind: 'fixed' | 'saturation';
  readonly senders: number;
  readonly recipientsPerMessage: number;
  /** The machine's 1-minute load average at the end of the phase (other work on it skews every figure). */
  readonly loadAverage: number;
  /** Herald only: AWS calls and Lambda usage during the phase. */
  readonly usage?: UsageSnapshot;
  readonly perMessage?: PerMessage;
  readonly storedBytesPerMessage?: number;
  /** Herald only: bytes the phase added to the Messages table (the events themselves), per message. */
  readonly storedEventBytesPerMessage?: number;
  /** Herald only, with the ceiling phase: what the local services allow for this phase's calls per message. */
  readonly ceiling?: Ceiling;
}

export interface CostRecord {
  readonly scenario: ScenarioName;
  /** The phase the usage came from. */
  readonly phase: string;
  readonly recipientConnections: number;
  readonly perMessage: PerMessage;
  readonly herald: CostPerMillion;
  readonly floor: number;
  readonly ratioToFloor: number;
  /** The issue's target, times the floor, and in dollars per million. */
  readonly limit: { readonly ratio: number; readonly perMillion: number };
  /** Messages per event-source batch in the phase (SQS-triggered invocations / messages, inverted). */
  readonly batchSize: number;
  /** DynamoDB size (names + values) of one event item, from the bytes the phase added to the Messages table. */
  readonly eventItemBytes: number;
  /** What any design with a queue and a stored history pays, at each of FLOOR_BATCH_SIZES. */
  readonly architectureFloor: readonly (ArchitectureFloor & { readonly ratioToFloor: number })[];
  /** Herald / the architecture floor, at each of FLOOR_BATCH_SIZES. */
  readonly ratioToArchitectureFloor: readonly number[];
  /** The smallest batch size whose architecture floor is within the target (null: none is). */
  readonly batchSizeForLimit: number | null;
  readonly byConnectedUsers: readonly { users: number; herald: number; naive: number }[];
  readonly naiveAt10k: CostPerMillion;
}

export interface TargetCheck {
  readonly target: string;
  readonly goal: string;
  readonly measured: string;
  /** What the local services allow (throughput), or what any design of this shape pays (cost). */
  readonly bound?: string;
  readonly met: boolean;
  readonly note?: string;
}

/** The ceiling phase: the services' measured capacity, and what it allows each scenario. */
export interface CeilingReport {
  readonly measurement: CeilingMeasurement;
  /** Per scenario, from the Herald phase with the highest throughput (the one the targets use). */
  readonly scenarios: readonly {
    readonly scenario: ScenarioName;
    readonly phase: string;
    readonly measuredMessagesPerSecond: number;
    readonly measuredDeliveriesPerSecond: number;
    readonly recipientsPerMessage: number;
    readonly ceiling: Ceiling;
  }[];
}

export interface BenchResult {
  readonly startedAt: string;
  readonly finishedAt: string;
  readonly command: string;
  readonly machine: { cores: number; cpu: string; memoryGb: number; node: string; platform: string };
  readonly options: BenchOptions;
  readonly prices: typeof PRICES;
  readonly phases: readonly PhaseRecord[];
  readonly ratios: readonly {
    scenario: string;
    phase: string;
    p50: number;
    p99: number;
    throughput: number;
  }[];
  readonly cost: readonly CostRecord[];
  readonly ceiling?: CeilingReport;
  /** Why the ceiling phase has no figures, when it failed. */
  readonly ceilingError?: string;
  readonly connectionItemBytes?: number;
  readonly coldStarts: readonly ColdStart[];
  readonly functionErrors: { readonly count: number; readonly examples: readonly string[] };
  /** With --cpu-prof: each Herald phase's CPU profile summary. */
  readonly profiles?: readonly PhaseProfile[];
  readonly targets: readonly TargetCheck[];
  readonly ok: boolean;
}

interface Endpoint {
  /** The URL a user connects to. */
  url(userId: string): Promise<string>;
}

async function main(): Promise<number> {
  let options: BenchOptions | 'help';
  try {
    options = parseOptions(process.argv.slice(2));
  } catch (error) {
    if (error instanceof OptionsError) {
      console.error(error.message);
      return 2;
    }
    throw error;
  }
  if (options === 'help') {
    console.log(USAGE);
    return 0;
  }
  const startedAt = new Date().toISOString();
  const duration = options.duration ?? (options.quick ? 3 : 10);
  let phases: PhaseRecord[] = [];
  const cost: CostRecord[] = [];
  let ceilingMeasurement: CeilingMeasurement | undefined;
  let ceilingError: string | undefined;
  let sqsTriggeredIds = new Set<string>();
  let coldStarts: ColdStart[] = [];
  let connectionItemBytes: number | undefined;
  let functionErrors = { count: 0, examples: [] as string[] };
  const profiles: PhaseProfile[] = [];
  const log = (line: string) => console.log(`[bench ${new Date().toISOString().slice(11, 19)}] ${line}`);

  for (const target of options.targets) {
    if (target === 'relay') {
      const relay = await startRelay();
      const open: BenchConnection[][] = [];
      try {
        const endpoint: Endpoint = {
          url: async (userId) => `${relay.url}?user=${encodeURIComponent(userId)}`,
        };
        for (const scenario of options.scenarios) {
          phases.push(...(await runScenario({ target, scenario, endpoint, duration, options, log, open })));
        }
      } finally {
        for (const c of open.flat()) c.ws.terminate();
        await relay.stop();
      }
      continue;
    }

    log('starting Herald on the local cloud (synthesis ~15 s)...');
    let names = new Map<string, string>();
    const collector = new UsageCollector(() => names);
    const herald: LocalHerald = await startLocalHerald({
      port: 0,
      writeStateFile: false,
      assemblyDir: join(REPO_ROOT, '.herald', 'bench-cdk.out'),
      skipSynth: options.skipSynth,
      functionEnvironment: { HERALD_SDK_CALL_LOG: 'true' },
      log: collector.onLine,
    });
    const open: BenchConnection[][] = [];
    try {
      const functions = herald.cloud.stacks.flatMap((s) => s.functions);
      names = new Map(functions.map((f) => [f.functionName, f.id]));
      const sqsTriggered = new Set(
        herald.cloud.stacks.flatMap((s) => s.sqsEventSources.map((m) => m.functionId)),
      );
      sqsTriggeredIds = sqsTriggered;
      assertStackLeavesCountingOff(herald.cloud.assemblyDir);
      const { state } = herald;
      const secret = await readSigningSecret(
        state.auth.secretArn,
        state.region,
        state.secretsManagerEndpoint,
      );
      const endpoint: Endpoint = {
        url: async (userId) =>
          `${state.wsUrl}?token=${await mintToken(userId, { secret, issuer: state.auth.issuer, audience: state.auth.audience })}`,
      };
      const outputs = Object.assign({}, ...herald.cloud.stacks.map((s) => s.outputs)) as Record<
        string,
        string
      >;
      const ddb = dynamoDbClient(herald.cloud.endpoints.dynamodb);
      const eventBytes = () => tableBytes(ddb, outputs.MessagesTableName ?? '');
      const historyBytes = async () =>
        (await eventBytes()) + (await tableBytes(ddb, outputs.ConversationsTableName ?? ''));

      for (const scenario of options.scenarios) {
        const records = await runScenario({
          target,
          scenario,
          endpoint,
          duration,
          options,
          log,
          open,
          measure: async (phase, run) => {
            await sleep(SETTLE_MS);
            const before = collector.snapshot();
            const bytesBefore = await historyBytes();
            const eventBytesBefore = await eventBytes();
            const profiling = options.cpuProf
              ? await startCpuProfiles({
                  runtime: herald.cloud.runtime,
                  root: REPO_ROOT,
                  assemblyDir: herald.cloud.assemblyDir,
                })
              : undefined;
            const result = await run();
            if (profiling) {
              const profile = await profiling.stop(phase, join(options.out, 'profiles', phaseSlug(phase)));
              profiles.push(profile);
              log(`  CPU profile: ${profile.dir}`);
            }
            await sleep(SETTLE_MS);
            const usage = usageBetween(before, collector.snapshot());
            const stored = ((await historyBytes()) - bytesBefore) / Math.max(1, result.accepted);
            const storedEvents = ((await eventBytes()) - eventBytesBefore) / Math.max(1, result.accepted);
            return {
              usage,
              storedBytesPerMessage: stored,
              storedEventBytesPerMessage: storedEvents,
              ...(result.accepted > 0
                ? { perMessage: perMessage(phaseUsage(result.accepted, usage, sqsTriggered, stored)) }
                : {}),
            };
          },
        });
        phases.push(...records);
        const basis = records.find((r) => r.kind === 'fixed' && r.usage);
        if (basis?.usage && basis.accepted > 0) {
          connectionItemBytes ??= await firstItemBytes(ddb, outputs.ConnectionsTableName ?? '');
          cost.push(costOf(scenario, basis, sqsTriggered, connectionItemBytes));
        }
      }
      for (const c of open.flat()) c.ws.terminate();
      const scans = Object.keys(collector.snapshot().calls).filter((k) => k.endsWith('/ScanCommand'));
      if (scans.length > 0)
        throw new Error(`Herald's functions called Scan (${scans.join(', ')}): the cost model assumes none`);
      functionErrors = { count: collector.errorCount, examples: collector.errorLines };
      if (options.ceiling) {
        // On the services Herald ran on, once its scenarios are over and the closed connections' $disconnect
        // work is done: nothing else of the bench runs meanwhile (the relay runs apart).
        const waited = await untilQuiet(herald.cloud.endpoints.dynamodb);
        log(
          waited === undefined
            ? 'ceiling: the local cloud was still busy after 60 s; measuring anyway'
            : `ceiling: the local cloud was quiet after ${waited.toFixed(0)} s`,
        );
        const seconds = options.ceilingSeconds ?? (options.quick ? 1.5 : 3);
        log(`ceiling: DynamoDB Local and fauxqs alone, ${seconds} s per operation...`);
        try {
          ceilingMeasurement = await measureCeiling({
            dynamodbEndpoint: herald.cloud.endpoints.dynamodb,
            sqsEndpoint: herald.cloud.endpoints.sqs,
            seconds,
            warmupSeconds: Math.min(seconds, 3),
            ...(options.ceilingConcurrency === undefined ? {} : { concurrency: options.ceilingConcurrency }),
            log,
          });
        } catch (error) {
          // The scenarios' results stand without it: report the failure instead of losing them.
          ceilingError = error instanceof Error ? error.message : String(error);
          log(`ceiling: FAILED: ${ceilingError}`);
        }
      }
    } finally {
      await herald.stop();
    }
    // On a quiet machine: after the local cloud (and the $disconnect work of the closed connections) stopped.
    if (options.coldStart) {
      const functions = herald.cloud.stacks.flatMap((s) => s.functions);
      log(`cold start: ${functions.length} functions x ${options.coldStartRuns} fresh processes...`);
      coldStarts = await measureColdStarts(functions, herald.state.region, options.coldStartRuns);
    }
  }

  if (options.ceiling && !options.targets.includes('herald'))
    log("ceiling: skipped, it measures the local cloud's services (run with --target herald)");
  let ceiling: CeilingReport | undefined;
  if (ceilingMeasurement) {
    const capacities: Capacities = Object.fromEntries(
      ceilingMeasurement.ops.map((o) => [o.op, o.callsPerSecond]),
    );
    phases = phases.map((p) => {
      const input = p.target === 'herald' ? ceilingInput(p, sqsTriggeredIds) : undefined;
      return input ? { ...p, ceiling: ceilingOf(input, capacities) } : p;
    });
    ceiling = {
      measurement: ceilingMeasurement,
      scenarios: (['direct', 'group'] as const).flatMap((scenario) => {
        const best = bestPhase(phases, scenario);
        return best?.ceiling
          ? [
              {
                scenario,
                phase: best.name,
                measuredMessagesPerSecond: best.messagesPerSecond,
                measuredDeliveriesPerSecond: best.deliveriesPerSecond,
                recipientsPerMessage: best.recipientsPerMessage,
                ceiling: best.ceiling,
              },
            ]
          : [];
      }),
    };
  }
  const ratios = ratiosOf(phases);
  const targets = checkTargets(phases, cost, coldStarts);
  const correct = phases.every((p) => p.correctness.ok);
  const result: BenchResult = {
    startedAt,
    finishedAt: new Date().toISOString(),
    command: `npm run bench${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`,
    machine: {
      cores: cpus().length,
      cpu: cpus()[0]?.model ?? 'unknown',
      memoryGb: Math.round(totalmem() / 2 ** 30),
      node: process.version,
      platform: `${process.platform} ${process.arch}`,
    },
    options,
    prices: PRICES,
    phases,
    ratios,
    cost,
    ...(ceiling ? { ceiling } : {}),
    ...(ceilingError ? { ceilingError } : {}),
    ...(connectionItemBytes === undefined ? {} : { connectionItemBytes }),
    coldStarts,
    functionErrors,
    ...(profiles.length > 0 ? { profiles } : {}),
    targets,
    ok: correct,
  };
  mkdirSync(options.out, { recursive: true });
  writeFileSync(join(options.out, 'latest.json'), `${JSON.stringify(result, null, 2)}\n`);
  const markdown = renderMarkdown(result);
  writeFileSync(join(options.out, 'latest.md'), markdown);
  formatMarkdown(join(options.out, 'latest.md'));
  console.log(`\n${markdown}`);
  if (!correct) {
    console.error('\n*** CORRECTNESS FAILURE: messages were lost, duplicated or reordered ***');
    for (const p of phases.filter((x) => !x.correctness.ok)) {
      const c = p.correctness;
      console.error(
        `  ${p.target} ${p.name}: lost ${c.lost}, duplicated ${c.duplicated}, unexpected ${c.unexpected}, reordered ${c.reordered}, gaps ${c.gaps}`,
      );
      for (const e of c.examples) console.error(`    ${e}`);
    }
    return 1;
  }
  return 0;
}

interface ScenarioRun {
  readonly target: TargetName;
  readonly scenario: ScenarioName;
  readonly endpoint: Endpoint;
  readonly duration: number;
  readonly options: BenchOptions;
  readonly log: (line: string) => void;
  /** Where the scenario leaves its connections, for the caller to close at the end. */
  readonly open: BenchConnection[][];
  readonly measure?: (
    phase: string,
    run: () => Promise<PhaseResult>,
  ) => Promise<{
    usage: UsageSnapshot;
    storedBytesPerMessage: number;
    storedEventBytesPerMessage: number;
    perMessage?: PerMessage;
  }>;
}

async function runScenario(run: ScenarioRun): Promise<PhaseRecord[]> {
  const { target, scenario, endpoint, duration, options, log } = run;
  const tag = `${target[0]}${Date.now().toString(36)}`;
  const fixedRates = scenario === 'direct' ? options.directRates : [options.groupRate];
  const saturationRate = scenario === 'direct' ? 2000 : GROUP_SENDERS * 2;
  // Past its capacity a target queues what it cannot deliver yet, and draining takes (sent / capacity)
  // seconds: a cap on the messages per phase keeps the run to minutes. The phase still sends at its rate.
  const maxMessages = options.maxMessages ?? (options.quick ? 300 : 1000);
  const cap = scenario === 'direct' ? maxMessages : Math.max(1, Math.floor(maxMessages / 20));
  const seconds = (rate: number) => Math.min(duration, cap / rate);
  const phasesToRun = [
    ...fixedRates.map((rate) => ({ kind: 'fixed' as const, rate, seconds: seconds(rate) })),
    ...(options.quick
      ? []
      : [{ kind: 'saturation' as const, rate: saturationRate, seconds: seconds(saturationRate) }]),
  ];
  const connections: BenchConnection[] = [];
  const records: PhaseRecord[] = [];
  // Connections stay open until the target's last scenario: closing them here would run $disconnect (and its
  // presence work) during the next scenario's measurements.
  run.open.push(connections);
  let routesFor: (rate: number) => Route[];
  if (scenario === 'direct') {
    const pairs = Math.ceil(Math.max(...phasesToRun.map((p) => p.rate)) / MAX_RATE_PER_SENDER);
    log(`${target} direct: connecting ${pairs * 2} clients (${pairs} pairs)...`);
    const users = Array.from({ length: pairs }, (_, i) => [`${tag}a${i}`, `${tag}b${i}`] as const).flat();
    connections.push(...(await connectAll(endpoint, users)));
    const routes: Route[] = [];
    for (let i = 0; i < pairs; i++) {
      const a = connections[2 * i];
      const b = connections[2 * i + 1];
      if (!a || !b) throw new Error('missing connection');
      routes.push({ sender: a, conversationId: directId(a.userId, b.userId), recipients: [b] });
    }
    routesFor = (rate) => routes.slice(0, Math.ceil(rate / MAX_RATE_PER_SENDER));
  } else {
    log(`${target} group: connecting ${GROUP_MEMBERS} members...`);
    const users = Array.from({ length: GROUP_MEMBERS }, (_, i) => `${tag}m${i}`);
    connections.push(...(await connectAll(endpoint, users)));
    const conversationId = await createGroup(target, connections, tag);
    const senders = connections.slice(0, GROUP_SENDERS);
    const routes = senders.map((sender) => ({
      sender,
      conversationId,
      recipients: connections.filter((c) => c !== sender),
    }));
    routesFor = () => routes;
  }

  // Warm-up, not measured: starts execution environments (cold starts are measured on their own).
  const warmRate = Math.min(fixedRates[0] ?? 10, 20);
  log(`${target} ${scenario} warm-up at ${warmRate}/s...`);
  const warm = await runPhase({
    name: 'warm-up',
    routes: routesFor(warmRate),
    rate: warmRate,
    durationSeconds: 2,
    connections,
  });
  if (!warm.correctness.ok) {
    // Recorded like any phase, so the run fails loudly and the details are in the results.
    log(`  warm-up INCORRECT: ${warm.correctness.examples.join('; ')}`);
    const warmRoutes = routesFor(warmRate);
    records.push({
      ...warm,
      target,
      scenario,
      kind: 'fixed',
      senders: warmRoutes.length,
      recipientsPerMessage: warmRoutes[0]?.recipients.length ?? 0,
      loadAverage: loadavg()[0] ?? 0,
    });
  }

  for (const p of phasesToRun) {
    const routes = routesFor(p.rate);
    const name = `${scenario === 'direct' ? '1:1' : `group of ${GROUP_MEMBERS}`} ${p.kind === 'fixed' ? `@ ${p.rate}/s` : `saturation (${p.rate}/s offered)`}`;
    log(`${target} ${name}: ${routes.length} senders, ${p.seconds.toFixed(1)} s...`);
    const execute = () => runPhase({ name, routes, rate: p.rate, durationSeconds: p.seconds, connections });
    let result: PhaseResult;
    let extra: {
      usage?: UsageSnapshot;
      storedBytesPerMessage?: number;
      storedEventBytesPerMessage?: number;
      perMessage?: PerMessage;
    } = {};
    if (run.measure) {
      let captured: PhaseResult | undefined;
      extra = await run.measure(name, async () => {
        captured = await execute();
        return captured;
      });
      if (!captured) throw new Error('phase did not run');
      result = captured;
    } else {
      result = await execute();
    }
    const recipientsPerMessage = routes[0]?.recipients.length ?? 0;
    const record: PhaseRecord = {
      ...result,
      loadAverage: loadavg()[0] ?? 0,
      target,
      scenario,
      kind: p.kind,
      senders: routes.length,
      recipientsPerMessage,
      ...extra,
    };
    const l = result.latencyMs;
    log(
      `  sent ${result.sent} (${result.achievedSendRate.toFixed(0)}/s), ${result.deliveries} deliveries, ${result.deliveriesPerSecond.toFixed(0)}/s; p50 ${l.p50.toFixed(1)} p95 ${l.p95.toFixed(1)} p99 ${l.p99.toFixed(1)} max ${l.max.toFixed(1)} ms; ${result.correctness.ok ? 'correct' : 'INCORRECT'}${Object.keys(result.refused).length ? ` refused ${JSON.stringify(result.refused)}` : ''}`,
    );
    records.push(record);
  }
  return records;
}

async function connectAll(endpoint: Endpoint, users: readonly string[]): Promise<BenchConnection[]> {
  const out: BenchConnection[] = new Array(users.length);
  let next = 0;
  const worker = async () => {
    for (;;) {
      const i = next++;
      const userId = users[i];
      if (userId === undefined) return;
      out[i] = await openConnection(await endpoint.url(userId), `${userId}#0`, userId);
    }
  };
  await Promise.all(Array.from({ length: 25 }, worker));
  return out;
}

async function createGroup(
  target: TargetName,
  members: readonly BenchConnection[],
  tag: string,
): Promise<string> {
  const [owner, ...others] = members;
  if (!owner) throw new Error('no members');
  if (target === 'relay') {
    const conversationId = `grp:${tag}`;
    owner.send({ action: 'join', conversationId, members: members.map((m) => m.userId) });
    await sleep(100);
    return conversationId;
  }
  owner.send({
    action: 'createGroup',
    v: 1,
    clientMessageId: `${tag}-group`,
    name: 'bench',
    members: others.map((m) => m.userId),
  });
  await owner.until(() => owner.acks > 0 || owner.errors.length > 0, 30_000, 'the createGroup ack');
  if (owner.errors.length > 0) throw new Error(`createGroup refused: ${JSON.stringify(owner.errors)}`);
  for (const m of others) await m.until(() => m.events.length > 0, 30_000, 'group.created');
  const conversationId = owner.events[0]?.conversationId ?? others[0]?.events[0]?.conversationId;
  if (!conversationId) throw new Error('no group conversation id');
  return conversationId;
}

function phaseUsage(
  messages: number,
  usage: UsageSnapshot,
  sqsTriggered: ReadonlySet<string>,
  storedBytesPerMessage: number,
): PhaseUsage {
  return {
    messages,
    calls: usage.calls,
    lambdas: Object.fromEntries(
      Object.entries(usage.functions).map(([id, f]) => [
        id,
        {
          invocations: f.invocations,
          billedMs: f.billedMs,
          memoryMb: f.memoryMb,
          sqsTriggered: sqsTriggered.has(id),
        },
      ]),
    ),
    storedBytesPerMessage,
  };
}

function costOf(
  scenario: ScenarioName,
  basis: PhaseRecord,
  sqsTriggered: ReadonlySet<string>,
  connectionItemBytes: number,
): CostRecord {
  if (!basis.usage) throw new Error('no usage');
  const usage = phaseUsage(
    basis.accepted,
    basis.usage,
    sqsTriggered,
    Math.max(0, basis.storedBytesPerMessage ?? 0),
  );
  const herald = heraldCost(usage, PRICES);
  const floor = floorCost(basis.recipientsPerMessage, PRICES);
  // The naive design's one function: give it the command function's measured GB-s per invocation.
  const command = Object.entries(usage.lambdas).find(([id]) => /^Command/.test(id))?.[1];
  const lambdaGbSeconds = command
    ? (command.billedMs / command.invocations / 1000) * (command.memoryMb / 1024)
    : 0;
  const naiveAt = (users: number) =>
    naiveCost(
      {
        recipientConnections: basis.recipientsPerMessage,
        connectedUsers: users,
        connectionItemBytes,
        lambdaGbSeconds,
      },
      PRICES,
    );
  const ratio = COST_LIMIT[scenario];
  const batches = Object.values(usage.lambdas).reduce((a, l) => a + (l.sqsTriggered ? l.invocations : 0), 0);
  const eventItemBytes = Math.max(
    0,
    Math.round((basis.storedEventBytesPerMessage ?? 0) - DYNAMO_ITEM_OVERHEAD_BYTES),
  );
  const floors = FLOOR_BATCH_SIZES.map((b) => {
    const f = architectureFloor(basis.recipientsPerMessage, b, eventItemBytes, PRICES);
    return { ...f, ratioToFloor: f.total / floor };
  });
  return {
    scenario,
    phase: basis.name,
    recipientConnections: basis.recipientsPerMessage,
    perMessage: perMessage(usage),
    herald,
    floor,
    ratioToFloor: herald.total / floor,
    limit: { ratio, perMillion: floor * ratio },
    batchSize: batches > 0 ? usage.messages / batches : Number.NaN,
    eventItemBytes,
    architectureFloor: floors,
    ratioToArchitectureFloor: floors.map((f) => herald.total / f.total),
    batchSizeForLimit: finiteOrNull(
      batchSizeWithin(floor * ratio, basis.recipientsPerMessage, eventItemBytes, PRICES),
    ),
    byConnectedUsers: CONNECTED_USERS.map((users) => ({
      users,
      herald: heraldCostAt(users, herald).total,
      naive: naiveAt(users).total,
    })),
    naiveAt10k: naiveAt(10_000),
  };
}

function ratiosOf(phases: readonly PhaseRecord[]): BenchResult['ratios'] {
  const out: { scenario: string; phase: string; p50: number; p99: number; throughput: number }[] = [];
  for (const h of phases.filter((p) => p.target === 'herald')) {
    const r = phases.find((p) => p.target === 'relay' && p.name === h.name);
    if (!r) continue;
    out.push({
      scenario: h.scenario,
      phase: h.name,
      p50: h.latencyMs.p50 / r.latencyMs.p50,
      p99: h.latencyMs.p99 / r.latencyMs.p99,
      throughput: h.deliveriesPerSecond / r.deliveriesPerSecond,
    });
  }
  return out;
}

/** The Herald phase of a scenario the throughput targets are checked on: the highest throughput. */
function bestPhase(phases: readonly PhaseRecord[], scenario: ScenarioName): PhaseRecord | undefined {
  const candidates = phases.filter(
    (p) => p.target === 'herald' && p.scenario === scenario && (scenario === 'group' || p.correctness.ok),
  );
  const rate = (p: PhaseRecord) => (scenario === 'direct' ? p.messagesPerSecond : p.deliveriesPerSecond);
  return candidates.reduce<PhaseRecord | undefined>((a, p) => (!a || rate(p) > rate(a) ? p : a), undefined);
}

/** What the ceiling model needs from a Herald phase: its calls and event-source batches per message. */
function ceilingInput(p: PhaseRecord, sqsTriggered: ReadonlySet<string>) {
  if (!p.usage || p.accepted <= 0) return undefined;
  const n = p.accepted;
  const batches = Object.entries(p.usage.functions).reduce(
    (a, [id, f]) => a + (sqsTriggered.has(id) ? f.invocations : 0),
    0,
  );
  // Herald's send path reads connections by BatchGetItem, eventually consistent: half a read unit per item
  // (each under 4 KB), so its keys are twice its units.
  const batchGet = p.usage.calls['DynamoDBClient/BatchGetItemCommand'];
  return {
    callsPerMessage: Object.fromEntries(Object.entries(p.usage.calls).map(([k, c]) => [k, c.calls / n])),
    batchesPerMessage: batches / n,
    recipientsPerMessage: p.recipientsPerMessage,
    ...(batchGet && batchGet.calls > 0
      ? { keysPerBatchGet: Math.max(1, (2 * batchGet.read) / batchGet.calls) }
      : {}),
  };
}

const SERVICE_NAMES = { dynamodb: 'DynamoDB Local', sqs: 'fauxqs' } as const;

function describeCeiling(c: Ceiling, unit: 'messages' | 'deliveries'): string {
  const rate = unit === 'messages' ? c.messagesPerSecond : c.deliveriesPerSecond;
  return `${rate.toFixed(0)} ${unit}/s (${SERVICE_NAMES[c.limitedBy]})`;
}

function checkTargets(
  phases: readonly PhaseRecord[],
  cost: readonly CostRecord[],
  coldStarts: readonly ColdStart[],
): TargetCheck[] {
  const checks: TargetCheck[] = [];
  const herald = phases.filter((p) => p.target === 'herald');
  const at100 = herald.find((p) => p.scenario === 'direct' && p.kind === 'fixed' && p.offeredRate === 100);
  if (at100) {
    const { p50, p99 } = at100.latencyMs;
    const met = p50 <= 20 && p99 <= 60;
    const over = at100.ceiling && at100.ceiling.messagesPerSecond < 100;
    checks.push({
      target: '1:1 @ 100/s latency',
      goal: 'p50 <= 20 ms, p99 <= 60 ms',
      measured: `p50 ${p50.toFixed(1)} ms, p99 ${p99.toFixed(1)} ms`,
      ...(at100.ceiling ? { bound: `ceiling ${describeCeiling(at100.ceiling, 'messages')}` } : {}),
      met,
      ...(met
        ? {}
        : {
            note: `over by p50 ${Math.max(0, p50 - 20).toFixed(1)} ms, p99 ${Math.max(0, p99 - 60).toFixed(1)} ms${over ? `; 100/s is above the local services' ceiling for these calls (${at100.ceiling?.messagesPerSecond.toFixed(0)}/s), so a queue builds whatever Herald's code does` : ''}`,
          }),
    });
  }
  const direct = bestPhase(phases, 'direct');
  if (direct) {
    const best = direct.messagesPerSecond;
    const c = direct.ceiling;
    checks.push({
      target: '1:1 sustained, zero loss/dup/reorder',
      goal: '>= 500 messages/s',
      measured: `${best.toFixed(0)} messages/s`,
      ...(c ? { bound: `ceiling ${describeCeiling(c, 'messages')}` } : {}),
      met: best >= 500,
      ...(best >= 500
        ? {}
        : {
            note: `short by ${(500 - best).toFixed(0)}/s${c ? ceilingNote(c.messagesPerSecond, 500, best, 'messages', direct.name) : ''}`,
          }),
    });
  }
  const group = bestPhase(phases, 'group');
  if (group) {
    const best = group.deliveriesPerSecond;
    const c = group.ceiling;
    checks.push({
      target: '100-member group deliveries',
      goal: '>= 10,000 deliveries/s',
      measured: `${best.toFixed(0)} deliveries/s`,
      ...(c ? { bound: `ceiling ${describeCeiling(c, 'deliveries')}` } : {}),
      met: best >= 10_000,
      ...(best >= 10_000
        ? {}
        : {
            note: `short by ${(10_000 - best).toFixed(0)}/s (${((best / 10_000) * 100).toFixed(0)}% of it)${c ? ceilingNote(c.deliveriesPerSecond, 10_000, best, 'deliveries', group.name) : ''}`,
          }),
    });
  }
  for (const c of cost) {
    const limit = c.limit.ratio;
    const floors = c.architectureFloor.map((f) => `$${f.total.toFixed(3)} at b=${f.batchSize}`).join(', ');
    const below = c.architectureFloor
      .filter((f) => f.total > c.limit.perMillion)
      .map((f) => `b=${f.batchSize}`);
    const reach =
      below.length === 0
        ? `; the architecture floor (${floors}) is within it`
        : `; below the architecture floor at ${below.join(' and ')} (${floors}): no design with a queue and a stored history reaches it${c.batchSizeForLimit === null ? ' at any batch size' : ` with batches under ${c.batchSizeForLimit} messages${c.batchSizeForLimit > 10 ? ' (a FIFO event source batch holds at most 10)' : ''}`}`;
    checks.push({
      target: `cost, ${c.scenario === 'direct' ? '1:1' : '100-member group'}`,
      goal: `<= ${limit}x the floor ($${c.limit.perMillion.toFixed(2)}/M)`,
      measured: `$${c.herald.total.toFixed(2)}/M = ${c.ratioToFloor.toFixed(2)}x`,
      bound: `architecture floor ${c.architectureFloor.map((f) => `${f.ratioToFloor.toFixed(3)}x (b=${f.batchSize})`).join(', ')}`,
      met: c.ratioToFloor <= limit,
      ...(c.ratioToFloor <= limit
        ? {}
        : { note: `over by $${(c.herald.total - c.limit.perMillion).toFixed(2)}/M${reach}` }),
    });
  }
  for (const s of coldStarts) {
    checks.push({
      target: `init ${s.id}`,
      goal: '<= 150 ms',
      measured: `${s.initMs.toFixed(0)} ms (${(s.bundleBytes / 1024).toFixed(0)} KiB)`,
      met: s.initMs <= 150,
      ...(s.initMs <= 150 ? {} : { note: `over by ${(s.initMs - 150).toFixed(0)} ms` }),
    });
  }
  return checks;
}

/** Where a missed throughput target stands against the ceiling the local services allow. */
function ceilingNote(ceiling: number, target: number, measured: number, unit: string, phase: string): string {
  const share = `Herald's best phase (${phase}) reached ${((measured / ceiling) * 100).toFixed(0)}% of it${measured > ceiling ? " (above it: the ceiling's stand-ins, or the machine's load, differ between the two measurements)" : ''}`;
  return ceiling < target
    ? `; the target is above the local services' ceiling for Herald's calls (${ceiling.toFixed(0)} ${unit}/s), so no code making these calls on these emulators reaches it here; ${share}`
    : `; the target is within the local services' ceiling for Herald's calls (${ceiling.toFixed(0)} ${unit}/s): ${share}, the rest of the gap is Herald's own`;
}

const finiteOrNull = (v: number): number | null => (Number.isFinite(v) ? v : null);

/** The stack must never turn call counting on: only the bench's local environment does. */
function assertStackLeavesCountingOff(assemblyDir: string): void {
  const template = readFileSync(join(assemblyDir, 'Herald.template.json'), 'utf8');
  if (template.includes('HERALD_SDK_CALL_LOG'))
    throw new Error('the synthesized template sets HERALD_SDK_CALL_LOG');
}

async function tableBytes(ddb: ReturnType<typeof dynamoDbClient>, table: string): Promise<number> {
  let bytes = 0;
  let start: Record<string, unknown> | undefined;
  do {
    const page = await ddb.send(
      new ScanCommand({ TableName: table, ...(start ? { ExclusiveStartKey: start as never } : {}) }),
    );
    // DynamoDB bills 100 bytes of overhead per item on top of its attributes.
    for (const item of page.Items ?? []) bytes += dynamoItemBytes(unmarshall(item)) + 100;
    start = page.LastEvaluatedKey;
  } while (start);
  return bytes;
}

async function firstItemBytes(ddb: ReturnType<typeof dynamoDbClient>, table: string): Promise<number> {
  const page = await ddb.send(new ScanCommand({ TableName: table, Limit: 20 }));
  const sizes = (page.Items ?? []).map((i) => dynamoItemBytes(unmarshall(i)));
  if (sizes.length === 0) throw new Error(`no rows in ${table}`);
  return Math.round(sizes.reduce((a, b) => a + b, 0) / sizes.length);
}

/** The repository lints Markdown with Biome: the report is written as Biome would format it. */
function formatMarkdown(file: string): void {
  try {
    execFileSync(join(REPO_ROOT, 'node_modules', '.bin', 'biome'), ['format', '--write', file], {
      stdio: 'ignore',
    });
  } catch {
    console.warn(`could not format ${file} with Biome: run npx biome format --write ${file}`);
  }
}

function directId(a: string, b: string): string {
  return a < b ? `dm:${a}:${b}` : `dm:${b}:${a}`;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(error instanceof Error ? (error.stack ?? error.message) : error);
    process.exit(1);
  },
);
