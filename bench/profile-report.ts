/** The Markdown of the --cpu-prof summaries (part of bench/results/latest.md). */
import type { PhaseProfile } from './cpu-profile';
import { CATEGORIES, CATEGORY_LABELS, type ThreadProfileSummary } from './profile';

/** Top functions listed per thread in the report (the JSON keeps more). */
const TOP_IN_REPORT = 10;

const ms0 = (v: number | undefined) => (v === undefined ? 'n/a' : Math.round(v).toLocaleString('en-US'));
const pct = (part: number, whole: number) => (whole > 0 ? `${((part / whole) * 100).toFixed(1)}%` : 'n/a');

/** A function's logical id without the hash CDK appends (`SendFunction1A2B3C4D` -> `SendFunction`). */
export function threadLabel(thread: string): string {
  return thread.replace(/[0-9A-F]{8}$/, '');
}

export function renderProfiles(profiles: readonly PhaseProfile[]): string[] {
  const out: string[] = [];
  for (const p of profiles) {
    const threads = p.threads;
    out.push(
      '',
      `**CPU profile: ${p.phase}** (self time by category, as a share of each thread's busy samples; sampled every ${p.samplingIntervalUs} µs; files in \`${p.dir}\`). Busy: every sample but (idle), which counts time a runnable thread waited for a core, so it exceeds the thread's CPU clock when threads outnumber cores.`,
      '',
      `| category | ${threads.map((t) => threadLabel(t.thread)).join(' | ')} |`,
      `| --- | ${threads.map(() => '---:').join(' | ')} |`,
      `| busy ms (samples not idle) | ${threads.map((t) => ms0(t.cpuMs)).join(' | ')} |`,
      `| CPU ms, thread clock | ${threads.map((t) => ms0(t.threadCpuMs)).join(' | ')} |`,
      `| wall ms (environments) | ${threads.map((t) => `${ms0(t.wallMs)} (${t.profiles})`).join(' | ')} |`,
    );
    for (const c of CATEGORIES) {
      if (c === 'idle' || threads.every((t) => t.byCategory[c] === 0)) continue;
      out.push(`| ${CATEGORY_LABELS[c]} | ${threads.map((t) => cell(t, c)).join(' | ')} |`);
    }
    out.push(
      '',
      `Top functions by self time (${p.phase})`,
      '',
      '| thread | function | file | category | self ms | of thread busy |',
      '| --- | --- | --- | --- | ---: | ---: |',
    );
    for (const t of threads) {
      for (const f of t.top.slice(0, TOP_IN_REPORT)) {
        out.push(
          `| ${threadLabel(t.thread)} | \`${f.functionName}\` | ${f.file}${f.line > 0 ? `:${f.line}` : ''} | ${f.category} | ${ms0(f.selfMs)} | ${pct(f.selfMs, t.cpuMs)} |`,
        );
      }
    }
  }
  return out;
}

function cell(t: ThreadProfileSummary, c: keyof ThreadProfileSummary['byCategory']): string {
  const v = t.byCategory[c];
  return v === 0 ? '' : pct(v, t.cpuMs);
}
