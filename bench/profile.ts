/**
 * What a V8 CPU profile (`.cpuprofile`, the format of `node --cpu-prof` and the inspector's `Profiler.stop`)
 * says about where a thread's CPU went: sampled time per category of code (Herald's own, the AWS SDK, the
 * local cloud, fauxqs...) and the functions with the most self time. Pure: the caller resolves positions in
 * bundled code to their original files (bench/profile-sources.ts reads the bundles' source maps) and passes
 * the resolver in.
 *
 * Attribution rules:
 * - a sample's time is the gap to the next sample (the last one's: to the profile's end), as DevTools counts;
 * - a sample is charged to the frame it landed in (self time), by the file that frame's code comes from;
 * - V8 builtins and native functions (frames with no URL, such as `JSON.parse` or `Date.now`) are charged to
 *   the nearest caller that has one: JSON parsing done by the SDK is the SDK's cost;
 * - `(garbage collector)`, `(program)` (V8 or Node's own work outside JavaScript, e.g. native I/O callbacks)
 *   and `(idle)` (waiting in the event loop) are categories of their own; CPU time is every sample but idle.
 */

export interface CallFrame {
  readonly functionName: string;
  readonly url: string;
  /** 0-based. */
  readonly lineNumber: number;
  /** 0-based. */
  readonly columnNumber: number;
  readonly scriptId?: string;
}

export interface ProfileNode {
  readonly id: number;
  readonly callFrame: CallFrame;
  readonly children?: readonly number[];
  readonly hitCount?: number;
}

export interface CpuProfile {
  readonly nodes: readonly ProfileNode[];
  /** Microseconds. */
  readonly startTime: number;
  /** Microseconds. */
  readonly endTime: number;
  readonly samples?: readonly number[];
  /** Microseconds since the previous sample (the first: since startTime). */
  readonly timeDeltas?: readonly number[];
}

export const CATEGORIES = [
  'herald',
  'aws-sdk',
  'powertools',
  'zod',
  'jose',
  'ws',
  'local-cloud',
  'fauxqs',
  'bench',
  'other-deps',
  'bundle-helpers',
  'node',
  'profiler',
  'gc',
  'program',
  'idle',
] as const;
export type Category = (typeof CATEGORIES)[number];

export const CATEGORY_LABELS: Readonly<Record<Category, string>> = {
  herald: "Herald's code (lambdas/, protocol/)",
  'aws-sdk': 'AWS SDK (@aws-sdk, @smithy)',
  powertools: 'Powertools',
  zod: 'zod',
  jose: 'jose',
  ws: 'ws',
  'local-cloud': 'local cloud (local/)',
  fauxqs: 'fauxqs (and its fastify)',
  bench: 'bench load generator (bench/)',
  'other-deps': 'other dependencies',
  'bundle-helpers': "bundle code with no source mapping (esbuild's helpers, e.g. keepNames' __name)",
  node: 'Node internals (node:*, V8 builtins they call)',
  profiler: 'the profiler itself (node:inspector)',
  gc: 'GC',
  program: '(program)',
  idle: '(idle)',
};

/** Where a frame's code comes from, once bundles are mapped to their sources. */
export interface ResolvedFrame {
  /** A path or URL: `node_modules/@smithy/...`, `/repo/local/cloud/x.ts`, `node:internal/...`. */
  readonly file: string;
  /** 1-based, in `file`. */
  readonly line: number;
  readonly functionName: string;
}

/** Maps a frame of bundled code to its original source; undefined: take the frame as it is. */
export type FrameResolver = (frame: CallFrame) => ResolvedFrame | undefined;

export interface TopFunction {
  readonly functionName: string;
  /** Relative to the repository where it is inside it. */
  readonly file: string;
  readonly line: number;
  readonly category: Category;
  readonly selfMs: number;
}

export interface ThreadProfileSummary {
  /** `main`, or the function's id. */
  readonly thread: string;
  /** Profiles merged (a function's execution environments). */
  readonly profiles: number;
  /** The profiles' length, summed. */
  readonly wallMs: number;
  /** Every sample but (idle). */
  readonly cpuMs: number;
  /** The thread's own CPU clock over the same window (process.threadCpuUsage), when known. */
  readonly threadCpuMs?: number;
  /** Self time per category, ms; (idle) included, so the values sum to wallMs. */
  readonly byCategory: Readonly<Record<Category, number>>;
  readonly top: readonly TopFunction[];
}

export interface SummariseOptions {
  readonly thread: string;
  readonly resolve?: FrameResolver;
  /** The repository root (a path): stripped from file names, so `lambdas/` means the repository's. */
  readonly root?: string;
  /** Functions listed in `top`. @default 15 */
  readonly topCount?: number;
  /** Per profile, the thread's CPU clock in ms over the profile's window, to report beside the samples. */
  readonly threadCpuMs?: readonly (number | undefined)[];
}

/** The package a path inside node_modules belongs to (`@scope/name` or `name`); undefined outside. */
export function packageOf(file: string): string | undefined {
  const at = file.lastIndexOf('node_modules/');
  if (at < 0) return undefined;
  const parts = file.slice(at + 'node_modules/'.length).split('/');
  const [first = '', second = ''] = parts;
  return first.startsWith('@') ? `${first}/${second}` : first;
}

/** fauxqs and the server framework it runs on (nothing else in the bench process uses these). */
const FAUXQS_PACKAGES =
  /^(fauxqs|fastify|@fastify\/.*|find-my-way|avvio|light-my-request|fast-json-stringify|fast-querystring|fast-uri|toad-cache|valibot|pino|pino-std-serializers|sonic-boom|thread-stream|abstract-logging|process-warning|rfdc|secure-json-parse|ajv|ajv-formats|json-schema-ref-resolver|fast-decode-uri-component|safe-regex2|ret|@pinojs\/.*)$/;

/** The category of the code in `file` (a path relative to the repository, a URL, or `node:...`). */
export function categoryOf(file: string): Category {
  if (file === '') return 'node';
  if (file.startsWith('node:inspector')) return 'profiler';
  if (file.startsWith('node:') || !/[/\\]/.test(file)) return 'node';
  const normalised = file.replace(/\\/g, '/');
  const pkg = packageOf(normalised);
  if (pkg !== undefined) {
    if (/^@(aws-sdk|smithy|aws-crypto)\//.test(pkg)) return 'aws-sdk';
    if (pkg.startsWith('@aws-lambda-powertools/')) return 'powertools';
    if (pkg === 'zod') return 'zod';
    if (pkg === 'jose') return 'jose';
    if (pkg === 'ws') return 'ws';
    if (FAUXQS_PACKAGES.test(pkg)) return 'fauxqs';
    return 'other-deps';
  }
  // Source-mapped paths are relative (`../../lambdas/x.ts`); the others are the repository's absolute ones.
  const path = normalised.replace(/^file:\/\//, '').replace(/^(\.\.\/|\.\/)+/, '');
  if (/^(lambdas|protocol)\//.test(path)) return 'herald';
  // A frame of a bundle the source map has no mapping for (the resolver left it as it was).
  if (/cdk\.out[^/]*\/asset\.[^/]+\//.test(path)) return 'bundle-helpers';
  // The bundles' stand-ins for Node's built-in modules (lib/constructs/handler-function.ts).
  if (/^(\.herald\/)?node-builtins\//.test(path)) return 'node';
  if (/^local\//.test(path)) return 'local-cloud';
  if (/^bench\//.test(path)) return 'bench';
  return 'other-deps';
}

const SPECIAL: Readonly<Record<string, Category>> = {
  '(garbage collector)': 'gc',
  '(program)': 'program',
  '(idle)': 'idle',
  '(root)': 'program',
};

function emptyCategories(): Record<Category, number> {
  return Object.fromEntries(CATEGORIES.map((c) => [c, 0])) as Record<Category, number>;
}

/** The repository-relative form of a file: `file://` and `root` stripped. */
function relativeTo(file: string, root: string | undefined): string {
  let f = file.startsWith('file://') ? decodeURIComponent(file.slice('file://'.length)) : file;
  if (root) {
    const prefix = root.endsWith('/') ? root : `${root}/`;
    if (f.startsWith(prefix)) f = f.slice(prefix.length);
  }
  return f;
}

/** Sample weights in ms: the gap from each sample to the next, the last one's to the end of the profile. */
export function sampleWeights(profile: CpuProfile): number[] {
  const samples = profile.samples ?? [];
  const deltas = profile.timeDeltas ?? [];
  const times: number[] = [];
  let t = profile.startTime;
  for (let i = 0; i < samples.length; i++) {
    t += deltas[i] ?? 0;
    times.push(t);
  }
  return times.map((at, i) => Math.max(0, ((times[i + 1] ?? Math.max(at, profile.endTime)) - at) / 1000));
}

interface Attributed {
  readonly category: Category;
  /** The frame itself, for the list of top functions. */
  readonly own: { readonly key: string; readonly fn: TopFunction };
}

/** Self time by category and by function, over one thread kind's profiles. */
export function summariseProfiles(
  profiles: readonly CpuProfile[],
  options: SummariseOptions,
): ThreadProfileSummary {
  const byCategory = emptyCategories();
  const byFunction = new Map<string, { fn: TopFunction; ms: number }>();
  let wallMs = 0;
  for (const profile of profiles) {
    wallMs += (profile.endTime - profile.startTime) / 1000;
    const attributed = attribute(profile, options);
    const weights = sampleWeights(profile);
    (profile.samples ?? []).forEach((id, i) => {
      const a = attributed.get(id);
      const ms = weights[i] ?? 0;
      if (!a || ms === 0) return;
      byCategory[a.category] += ms;
      const entry = byFunction.get(a.own.key) ?? { fn: a.own.fn, ms: 0 };
      entry.ms += ms;
      byFunction.set(a.own.key, entry);
    });
  }
  const cpuMs = CATEGORIES.filter((c) => c !== 'idle').reduce((sum, c) => sum + byCategory[c], 0);
  const top = [...byFunction.values()]
    .filter(({ fn }) => fn.category !== 'idle')
    .sort((a, b) => b.ms - a.ms)
    .slice(0, options.topCount ?? 15)
    .map(({ fn, ms }) => ({ ...fn, selfMs: ms }));
  const known = (options.threadCpuMs ?? []).filter((v): v is number => v !== undefined);
  return {
    thread: options.thread,
    profiles: profiles.length,
    wallMs,
    cpuMs,
    ...(known.length > 0 ? { threadCpuMs: known.reduce((a, b) => a + b, 0) } : {}),
    byCategory,
    top,
  };
}

/** Each node's category (a builtin's: its nearest caller with a URL) and its own identity. */
function attribute(profile: CpuProfile, options: SummariseOptions): Map<number, Attributed> {
  const parent = new Map<number, number>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);
  const nodes = new Map(profile.nodes.map((n) => [n.id, n]));
  const resolved = new Map<number, ResolvedFrame | undefined>();
  const resolve = (node: ProfileNode): ResolvedFrame | undefined => {
    if (resolved.has(node.id)) return resolved.get(node.id);
    const frame = node.callFrame;
    let r: ResolvedFrame | undefined;
    if (frame.url !== '') {
      const mapped = options.resolve?.(frame);
      r = mapped
        ? { ...mapped, file: relativeTo(mapped.file, options.root) }
        : {
            file: relativeTo(frame.url, options.root),
            line: frame.lineNumber + 1,
            functionName: frame.functionName,
          };
    }
    resolved.set(node.id, r);
    return r;
  };
  const out = new Map<number, Attributed>();
  for (const node of profile.nodes) {
    const name = node.callFrame.functionName;
    const special = node.callFrame.url === '' ? SPECIAL[name] : undefined;
    const own = resolve(node);
    let category: Category;
    if (special) category = special;
    else if (own) category = categoryOf(own.file);
    else {
      // A builtin: the nearest caller with code of its own decides.
      let up = parent.get(node.id);
      let caller: ResolvedFrame | undefined;
      while (up !== undefined && !caller) {
        const p = nodes.get(up);
        if (!p) break;
        caller = resolve(p);
        up = parent.get(up);
      }
      category = caller ? categoryOf(caller.file) : 'node';
    }
    const fn: TopFunction = own
      ? {
          functionName: own.functionName || '(anonymous)',
          file: own.file,
          line: own.line,
          category,
          selfMs: 0,
        }
      : { functionName: name || '(anonymous)', file: '(native)', line: 0, category, selfMs: 0 };
    out.set(node.id, { category, own: { key: `${fn.functionName}\u0000${fn.file}\u0000${fn.line}`, fn } });
  }
  return out;
}

/** A category's share of a thread's CPU (idle excluded), 0..1. */
export function cpuShare(summary: ThreadProfileSummary, category: Category): number {
  return summary.cpuMs > 0 && category !== 'idle' ? summary.byCategory[category] / summary.cpuMs : 0;
}
