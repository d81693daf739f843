/** The Markdown report of a benchmark run (bench/results/latest.md, and the README's Benchmarks section). */
import type { BenchResult } from './main';
import { renderProfiles } from './profile-report';

const ms = (v: number) => (Number.isFinite(v) ? v.toFixed(1) : 'n/a');
const n0 = (v: number) => (Number.isFinite(v) ? Math.round(v).toLocaleString('en-US') : 'n/a');
const usd = (v: number) => `$${v.toFixed(2)}`;
/** Three decimals, where a floor and a target a fraction of a cent apart must not read the same. */
const usd3 = (v: number) => `$${v.toFixed(3)}`;

export function renderMarkdown(r: BenchResult): string {
  const out: string[] = [];
  const m = r.machine;
  out.push(
    `Run ${r.startedAt.slice(0, 16).replace('T', ' ')} UTC on ${m.cores} cores (${m.cpu}), ${m.memoryGb} GB, Node ${m.node}, ${m.platform}: \`${r.command}\`. ${r.ok ? 'Every phase: nothing lost, duplicated or reordered.' : '**CORRECTNESS FAILURE** (see below).'}`,
    '',
    '**Latency (sender frame out to recipient frame in) and throughput**',
    '',
    '| target | phase | senders | sent | deliveries/s | msgs/s | p50 ms | p95 ms | p99 ms | max ms | correct | load avg |',
    '| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: |',
  );
  for (const p of r.phases) {
    const c = p.correctness;
    const refused = Object.entries(p.refused)
      .map(([k, v]) => `${v} ${k}`)
      .join(', ');
    const verdict = c.ok
      ? 'yes'
      : `**no**: lost ${c.lost}, dup ${c.duplicated}, reordered ${c.reordered}, gaps ${c.gaps}`;
    out.push(
      `| ${p.target} | ${p.name} | ${p.senders} | ${n0(p.sent)} | ${n0(p.deliveriesPerSecond)} | ${n0(p.messagesPerSecond)} | ${ms(p.latencyMs.p50)} | ${ms(p.latencyMs.p95)} | ${ms(p.latencyMs.p99)} | ${ms(p.latencyMs.max)} | ${verdict}${refused ? ` (refused: ${refused})` : ''} | ${p.loadAverage.toFixed(1)} |`,
    );
  }
  if (r.ratios.length) {
    out.push(
      '',
      '**Herald / relay**',
      '',
      '| phase | p50 | p99 | throughput |',
      '| --- | ---: | ---: | ---: |',
    );
    for (const x of r.ratios) {
      out.push(`| ${x.phase} | ${x.p50.toFixed(1)}x | ${x.p99.toFixed(1)}x | ${x.throughput.toFixed(2)}x |`);
    }
  }
  if (r.cost.length) {
    out.push(
      '',
      `**AWS calls per message** (counted in the functions; SQS adds the event source's receive and delete per batch)`,
      '',
      '| scenario | call | per message | write units | read units | avg ms |',
      '| --- | --- | ---: | ---: | ---: | ---: |',
    );
    for (const c of r.cost) {
      const phase = r.phases.find((p) => p.target === 'herald' && p.name === c.phase);
      const calls = Object.entries(phase?.usage?.calls ?? {}).sort(([a], [b]) => a.localeCompare(b));
      const msgs = phase?.accepted ?? 1;
      for (const [key, v] of calls) {
        out.push(
          `| ${c.phase} | ${key.replace('Client/', ' ').replace('Command', '')} | ${(v.calls / msgs).toFixed(2)} | ${(v.write / msgs).toFixed(2)} | ${(v.read / msgs).toFixed(2)} | ${((v.ms ?? 0) / v.calls).toFixed(1)} |`,
        );
      }
      for (const [id, f] of Object.entries(phase?.usage?.functions ?? {})) {
        out.push(
          `| ${c.phase} | Lambda ${id.replace(/[0-9A-F]{8}$/, '')} (${f.memoryMb} MB, ${(f.billedMs / f.invocations).toFixed(1)} ms billed avg) | ${(f.invocations / msgs).toFixed(2)} | | | ${(f.durationMs / f.invocations).toFixed(1)} |`,
        );
      }
    }
    out.push(
      '',
      `**Modelled AWS cost per million messages** (prices ${r.prices.region}, as of ${r.prices.asOf}: bench/prices.ts)`,
      '',
      '| scenario | WebSocket | Lambda req | Lambda GB-s | SQS | DynamoDB W | DynamoDB R | history (1 month) | **Herald** | floor | Herald / floor | naive @ 10k users |',
      '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
    );
    for (const c of r.cost) {
      const h = c.herald;
      out.push(
        `| ${c.phase} | ${usd(h.webSocket)} | ${usd(h.lambdaRequests)} | ${usd(h.lambdaCompute)} | ${usd(h.sqs)} | ${usd(h.dynamoWrites)} | ${usd(h.dynamoReads)} | ${usd(h.storageMonth)} | **${usd(h.total)}** | ${usd(c.floor)} | ${c.ratioToFloor.toFixed(2)}x | ${usd(c.naiveAt10k.total)} |`,
      );
    }
    out.push(
      '',
      `**Architecture floor**: what any design with this shape pays per message (the protocol floor, the route function's request, one FIFO SendMessage, the event source's ReceiveMessage + DeleteMessageBatch and the delivery function's request per batch of _b_ messages, one history write of the event and its storage for a month)`,
      '',
      '| scenario | protocol floor | event item | architecture floor b=1 | architecture floor b=10 | Herald | Herald / arch. floor (b=1, b=10) | Herald batch size | target | batch size the target needs |',
      '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
    );
    for (const c of r.cost) {
      const [b1, b10] = c.architectureFloor;
      const floorCell = (f: typeof b1) => (f ? `${usd3(f.total)} (${f.ratioToFloor.toFixed(3)}x)` : 'n/a');
      out.push(
        `| ${c.phase} | ${usd(c.floor)} | ${n0(c.eventItemBytes)} B | ${floorCell(b1)} | ${floorCell(b10)} | ${usd(c.herald.total)} | ${c.ratioToArchitectureFloor.map((x) => `${x.toFixed(2)}x`).join(', ')} | ${Number.isFinite(c.batchSize) ? c.batchSize.toFixed(2) : 'n/a'} | ${usd3(c.limit.perMillion)} (${c.limit.ratio}x) | ${c.batchSizeForLimit === null ? 'none' : c.batchSizeForLimit <= 10 ? `>= ${c.batchSizeForLimit}` : `>= ${c.batchSizeForLimit} (a FIFO batch holds 10)`} |`,
      );
    }
    out.push(
      '',
      '**Cost per million messages as connected users grow**',
      '',
      `| scenario | ${r.cost[0]?.byConnectedUsers.map((u) => `Herald @ ${n0(u.users)}`).join(' | ')} | ${r.cost[0]?.byConnectedUsers.map((u) => `naive @ ${n0(u.users)}`).join(' | ')} |`,
      `| --- | ${r.cost[0]?.byConnectedUsers.map(() => '---: | ---:').join(' | ')} |`,
    );
    for (const c of r.cost) {
      out.push(
        `| ${c.scenario === 'direct' ? '1:1' : 'group of 100'} | ${c.byConnectedUsers.map((u) => usd(u.herald)).join(' | ')} | ${c.byConnectedUsers.map((u) => usd(u.naive)).join(' | ')} |`,
      );
    }
  }
  if (r.ceiling) {
    const m = r.ceiling.measurement;
    const cores = (v: number | undefined) => (v === undefined ? 'n/a' : v.toFixed(2));
    const cpu = (o: (typeof m.ops)[number]) =>
      `${cores(o.cpu.process)} | ${cores(o.cpu.jvm)} | ${cores(o.cpu.machine)}`;
    out.push(
      '',
      `**Emulator capacity** (the local services alone, after Herald's scenarios, nothing else of the bench running: real SDK clients in this process, ${m.concurrency} callers in parallel${m.sweep.length ? ` (the best of ${m.sweep.map((x) => `${x.concurrency}: ${n0(x.callsPerSecond)}/s`).join(', ')} GetItem calls/s)` : ''}, ${m.seconds} s per operation after ${m.warmupSeconds} s of warm-up; DynamoDB Local's JIT: ${m.dynamodbLocalJit}; load average ${m.loadAverageBefore.toFixed(1)} before, ${m.loadAverageAfter.toFixed(1)} after; CPU in cores of ${m.cores}: this process holds the clients and fauxqs, and shares the cores with the JVM as Herald does)`,
      '',
      '| service | call | calls/s | p50 ms | p99 ms | alone p50 ms | CPU: this process | CPU: JVM | CPU: machine |',
      '| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
    );
    for (const o of m.ops) {
      const extra =
        o.itemsPerCall === undefined
          ? ''
          : ` (${o.itemsPerCall.toFixed(1)} messages per receive${o.emptyCalls ? `, ${o.emptyCalls} empty` : ''})`;
      out.push(
        `| ${o.service === 'dynamodb' ? 'DynamoDB Local' : 'fauxqs'} | ${o.call}${extra}${o.errors ? `, **${o.errors} errors**` : ''} | ${n0(o.callsPerSecond)} | ${ms(o.latencyMs.p50)} | ${ms(o.latencyMs.p99)} | ${ms(m.sequentialP50Ms[o.op] ?? Number.NaN)} | ${cpu(o)} |`,
      );
    }
    out.push(
      '',
      "**Ceiling**: the throughput each scenario could reach if Herald's code cost nothing, from its calls per message and the capacities above (each service is busy sum(calls / capacity) per message; the ceiling is the busiest service's bound; _in turn_: if the services could not overlap)",
      '',
      '| scenario | calls per message from | DynamoDB Local bound | fauxqs bound | ceiling | in turn | measured | measured / ceiling | target |',
      '| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
    );
    for (const x of r.ceiling.scenarios) {
      const c = x.ceiling;
      const group = x.scenario === 'group';
      const per = group ? x.recipientsPerMessage : 1;
      const unit = group ? 'deliveries/s' : 'msgs/s';
      const bound = (service: 'dynamodb' | 'sqs') => {
        const b = c.services.find((s) => s.service === service);
        return b ? `${n0(b.messagesPerSecond * per)} ${unit}` : 'n/a';
      };
      const measured = group ? x.measuredDeliveriesPerSecond : x.measuredMessagesPerSecond;
      const ceiling = group ? c.deliveriesPerSecond : c.messagesPerSecond;
      out.push(
        `| ${group ? 'group of 100' : '1:1'} | ${x.phase} | ${bound('dynamodb')} | ${bound('sqs')} | **${n0(ceiling)} ${unit}** | ${n0(c.inTurnMessagesPerSecond * per)} ${unit} | ${n0(measured)} ${unit} | ${((measured / ceiling) * 100).toFixed(0)}% | ${group ? '10,000 deliveries/s' : '500 msgs/s'} |`,
      );
      if (c.unmeasured.length)
        out.push(`| | not measured, left out: ${c.unmeasured.join(', ')} | | | | | | | |`);
    }
  }
  if (r.ceilingError) out.push('', `**The ceiling phase failed**: ${r.ceilingError}`);
  if (r.coldStarts.length) {
    out.push(
      '',
      `**Cold start** (handler module import in a fresh Node process with the function's environment, median; its NODE_OPTIONS: ${r.coldStarts[0]?.nodeOptions ? `\`${r.coldStarts[0].nodeOptions}\`` : '(none)'}; Node boot before it apart)`,
      '',
      '| function | bundle | asset dir | init ms | runs ms | init ms without NODE_OPTIONS | node boot ms |',
      '| --- | ---: | ---: | ---: | --- | ---: | ---: |',
    );
    for (const s of r.coldStarts) {
      out.push(
        `| ${s.id.replace(/[0-9A-F]{8}$/, '')} | ${(s.bundleBytes / 1024).toFixed(0)} KiB | ${(s.assetBytes / 1024).toFixed(0)} KiB | ${s.initMs.toFixed(0)} | ${s.initRunsMs.join(', ')} | ${s.initWithoutNodeOptionsMs.toFixed(0)} | ${s.nodeBootMs.toFixed(0)} |`,
      );
    }
  }
  if (r.targets.length) {
    out.push(
      '',
      "**Targets** (bound: the local services' ceiling for a throughput, the architecture floor for a cost)",
      '',
      '| target | goal | measured | bound | met |',
      '| --- | --- | --- | --- | --- |',
    );
    for (const t of r.targets) {
      out.push(
        `| ${t.target} | ${t.goal} | ${t.measured} | ${t.bound ?? ''} | ${t.met ? 'yes' : `**no**${t.note ? `: ${t.note}` : ''}`} |`,
      );
    }
  }
  if (r.profiles?.length) out.push(...renderProfiles(r.profiles));
  if (r.functionErrors.count > 0) {
    out.push(
      '',
      `Function errors logged during the run: ${r.functionErrors.count}. First: \`${r.functionErrors.examples[0] ?? ''}\``,
    );
  }
  return `${out.join('\n')}\n`;
}
