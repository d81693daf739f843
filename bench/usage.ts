/**
 * What the functions did, read from their log lines as the local cloud forwards them (`[functionName] line`):
 * the `HERALD_SDK_CALLS {...}` lines of the opt-in call counter in lambdas/wiring/sdk-call-log.ts, and the
 * runtime's `REPORT` lines (duration, billed duration, memory). Totals only grow; a phase is the difference of two
 * snapshots.
 */
import type { CallCount } from './cost-model';

export interface FunctionTotals {
  invocations: number;
  billedMs: number;
  durationMs: number;
  memoryMb: number;
}

export interface UsageSnapshot {
  readonly calls: Record<string, CallCount>;
  readonly functions: Record<string, FunctionTotals>;
}

const LINE = /^\[([^\]]+)\] (.*)$/;
const REPORT =
  /^REPORT RequestId: \S+\tDuration: ([\d.]+) ms\tBilled Duration: (\d+) ms\tMemory Size: (\d+) MB/;
const CALLS = 'HERALD_SDK_CALLS ';

export class UsageCollector {
  private readonly calls: Record<string, { calls: number; read: number; write: number; ms: number }> = {};
  private readonly functions: Record<string, FunctionTotals> = {};
  /** Lines at ERROR level or crash reports: a benchmark with errors says so. */
  readonly errorLines: string[] = [];
  errorCount = 0;

  /** @param names function name -> the id the report uses (the template's logical id). */
  constructor(private readonly names: () => ReadonlyMap<string, string>) {}

  readonly onLine = (line: string): void => {
    const m = LINE.exec(line);
    if (!m) return;
    const [, source = '', text = ''] = m;
    if (text.startsWith(CALLS)) {
      const counts = JSON.parse(text.slice(CALLS.length)) as Record<string, CallCount>;
      for (const [key, c] of Object.entries(counts)) {
        const total = this.calls[key] ?? { calls: 0, read: 0, write: 0, ms: 0 };
        this.calls[key] = total;
        total.ms += c.ms ?? 0;
        total.calls += c.calls;
        total.read += c.read;
        total.write += c.write;
      }
      return;
    }
    const report = REPORT.exec(text);
    if (report) {
      const id = this.names().get(source) ?? source;
      const f = this.functions[id] ?? { invocations: 0, billedMs: 0, durationMs: 0, memoryMb: 0 };
      this.functions[id] = f;
      f.invocations += 1;
      f.durationMs += Number(report[1]);
      f.billedMs += Number(report[2]);
      f.memoryMb = Number(report[3]);
      return;
    }
    if (/"level":"(ERROR|CRITICAL)"|Task timed out|Runtime\.\w+Error/.test(text)) {
      this.errorCount += 1;
      if (this.errorLines.length < 10) this.errorLines.push(line.slice(0, 500));
    }
  };

  snapshot(): UsageSnapshot {
    return structuredClone({ calls: this.calls, functions: this.functions });
  }
}

export function usageBetween(before: UsageSnapshot, after: UsageSnapshot): UsageSnapshot {
  const calls: Record<string, CallCount> = {};
  for (const [key, c] of Object.entries(after.calls)) {
    const b = before.calls[key] ?? { calls: 0, read: 0, write: 0, ms: 0 };
    if (c.calls - b.calls > 0) {
      calls[key] = {
        calls: c.calls - b.calls,
        read: c.read - b.read,
        write: c.write - b.write,
        ms: (c.ms ?? 0) - (b.ms ?? 0),
      };
    }
  }
  const functions: Record<string, FunctionTotals> = {};
  for (const [id, f] of Object.entries(after.functions)) {
    const b = before.functions[id] ?? { invocations: 0, billedMs: 0, durationMs: 0, memoryMb: f.memoryMb };
    if (f.invocations - b.invocations > 0) {
      functions[id] = {
        invocations: f.invocations - b.invocations,
        billedMs: f.billedMs - b.billedMs,
        durationMs: f.durationMs - b.durationMs,
        memoryMb: f.memoryMb,
      };
    }
  }
  return { calls, functions };
}
