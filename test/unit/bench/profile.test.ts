import { describe, expect, it } from 'vitest';
import {
  type CallFrame,
  type CpuProfile,
  categoryOf,
  cpuShare,
  packageOf,
  sampleWeights,
  summariseProfiles,
} from '../../../bench/profile';
import { renderProfiles, threadLabel } from '../../../bench/profile-report';
import { normaliseSource } from '../../../bench/profile-sources';

const ROOT = '/repo';
const frame = (functionName: string, url: string, lineNumber = 0): CallFrame => ({
  functionName,
  url,
  lineNumber,
  columnNumber: 0,
});

/**
 * A hand-made profile of one thread, 10 ms long, sampled every ms:
 *
 *   (root)
 *   ├─ handler (lambdas/send/handler.ts)          self 2 samples
 *   │  ├─ JSON.parse (builtin, no url)            self 1 sample  -> charged to handler: herald
 *   │  └─ send (node_modules/@smithy/core/...)    self 3 samples
 *   │     └─ writev (builtin) under node:net      self 1 sample  -> node
 *   ├─ (garbage collector)                         1 sample
 *   ├─ onMessage (/repo/local/cloud/gateway.ts)    1 sample
 *   └─ (idle)                                      1 sample
 */
function handMadeProfile(): CpuProfile {
  const nodes = [
    { id: 1, callFrame: frame('(root)', ''), children: [2, 6, 7, 8] },
    { id: 2, callFrame: frame('handler', 'file:///repo/lambdas/send/handler.ts', 9), children: [3, 4] },
    { id: 3, callFrame: frame('parse', '') },
    {
      id: 4,
      callFrame: frame('send', 'file:///repo/node_modules/@smithy/core/dist-es/client.js'),
      children: [5],
    },
    { id: 5, callFrame: frame('writeGeneric', 'node:net'), children: [9] },
    { id: 6, callFrame: frame('(garbage collector)', '') },
    { id: 7, callFrame: frame('onMessage', 'file:///repo/local/cloud/gateway.ts', 41) },
    { id: 8, callFrame: frame('(idle)', '') },
    { id: 9, callFrame: frame('writev', '') },
  ];
  // Ten samples at t = 1..10 ms; each weighs the gap to the next, the last one up to endTime (11 ms).
  const samples = [2, 2, 3, 4, 4, 4, 9, 6, 7, 8];
  return {
    nodes,
    startTime: 0,
    endTime: 11_000,
    samples,
    timeDeltas: samples.map(() => 1000),
  };
}

describe('the CPU profile summary', () => {
  it('weighs each sample by the gap to the next one, the last one by the gap to the end', () => {
    expect(
      sampleWeights({
        nodes: [],
        startTime: 0,
        endTime: 10_000,
        samples: [1, 1, 1],
        timeDeltas: [1000, 2000, 3000],
      }),
    ).toEqual([2, 3, 4]);
  });

  it('charges self time to the category of the code it ran in, builtins to their caller', () => {
    const s = summariseProfiles([handMadeProfile()], { thread: 'Send', root: ROOT });
    expect(s.wallMs).toBe(11);
    expect(s.byCategory.herald).toBe(3); // handler x2 + JSON.parse under it
    expect(s.byCategory['aws-sdk']).toBe(3);
    expect(s.byCategory.node).toBe(1); // writev under node:net
    expect(s.byCategory.gc).toBe(1);
    expect(s.byCategory['local-cloud']).toBe(1);
    expect(s.byCategory.idle).toBe(1);
    expect(s.cpuMs).toBe(9); // everything but idle
    expect(cpuShare(s, 'herald')).toBeCloseTo(3 / 9);
    const total = Object.values(s.byCategory).reduce((a, b) => a + b, 0);
    expect(total).toBe(10);
  });

  it('lists the functions with the most self time, with their repository-relative file', () => {
    const s = summariseProfiles([handMadeProfile()], { thread: 'Send', root: ROOT });
    expect(s.top[0]).toMatchObject({
      functionName: 'send',
      file: 'node_modules/@smithy/core/dist-es/client.js',
      category: 'aws-sdk',
      selfMs: 3,
    });
    expect(s.top[1]).toMatchObject({
      functionName: 'handler',
      file: 'lambdas/send/handler.ts',
      line: 10,
      selfMs: 2,
    });
    expect(s.top.find((f) => f.functionName === 'parse')).toMatchObject({
      file: '(native)',
      category: 'herald',
    });
    expect(s.top.some((f) => f.category === 'idle')).toBe(false);
  });

  it('uses the resolver for bundled frames (the source map says where the code came from)', () => {
    const bundled: CpuProfile = {
      nodes: [
        { id: 1, callFrame: frame('(root)', ''), children: [2] },
        { id: 2, callFrame: frame('a', 'file:///repo/.herald/cdk.out/asset.x/index.mjs', 1), children: [3] },
        { id: 3, callFrame: frame('b', 'file:///repo/.herald/cdk.out/asset.x/index.mjs', 2) },
      ],
      startTime: 0,
      endTime: 4000,
      samples: [2, 3, 3],
      timeDeltas: [1000, 1000, 1000],
    };
    const s = summariseProfiles([bundled, bundled], {
      thread: 'Deliver',
      root: ROOT,
      resolve: (f) =>
        f.lineNumber === 1
          ? { file: 'lambdas/deliver/handler.ts', line: 5, functionName: 'deliver' }
          : f.lineNumber === 2
            ? { file: 'node_modules/zod/v4/core/parse.js', line: 7, functionName: 'safeParse' }
            : undefined,
      threadCpuMs: [1.5, undefined],
    });
    expect(s.profiles).toBe(2);
    expect(s.byCategory.herald).toBe(2);
    expect(s.byCategory.zod).toBe(4);
    expect(s.threadCpuMs).toBe(1.5);
    expect(s.top[0]).toMatchObject({ functionName: 'safeParse', file: 'node_modules/zod/v4/core/parse.js' });
  });

  it('fails the attribution check if the categories were wrong (a bundle left unmapped is not Herald)', () => {
    const unmapped = summariseProfiles([handMadeProfile()], { thread: 'x', root: '/elsewhere' });
    // Without the repository root the repository's own files are not recognised as Herald's or the local cloud's.
    expect(unmapped.byCategory.herald).toBe(0);
    expect(unmapped.byCategory['local-cloud']).toBe(0);
  });

  it('sorts files into categories', () => {
    expect(categoryOf('node_modules/@aws-sdk/client-dynamodb/dist-es/index.js')).toBe('aws-sdk');
    expect(categoryOf('../../../node_modules/@smithy/core/dist-es/x.js')).toBe('aws-sdk');
    expect(categoryOf('node_modules/@aws-lambda-powertools/logger/lib/x.js')).toBe('powertools');
    expect(categoryOf('node_modules/zod/v4/core/core.js')).toBe('zod');
    expect(categoryOf('node_modules/jose/dist/webapi/jwt/verify.js')).toBe('jose');
    expect(categoryOf('node_modules/ws/lib/sender.js')).toBe('ws');
    expect(categoryOf('node_modules/fauxqs/dist/index.js')).toBe('fauxqs');
    expect(categoryOf('node_modules/fastify/lib/route.js')).toBe('fauxqs');
    expect(categoryOf('node_modules/tsx/dist/x.mjs')).toBe('other-deps');
    expect(categoryOf('../../../lambdas/core/errors.ts')).toBe('herald');
    expect(categoryOf('protocol/frames.ts')).toBe('herald');
    expect(categoryOf('local/cloud/websocket-gateway.ts')).toBe('local-cloud');
    expect(categoryOf('bench/load.ts')).toBe('bench');
    expect(categoryOf('node:internal/streams/writable')).toBe('node');
    expect(categoryOf('node:inspector')).toBe('profiler');
    expect(categoryOf('../../node-builtins/console.cjs')).toBe('node');
    expect(categoryOf('.herald/bench-cdk.out/asset.abc/chunk-X.mjs')).toBe('bundle-helpers');
    expect(packageOf('a/node_modules/b/node_modules/@x/y/z.js')).toBe('@x/y');
    expect(normaliseSource('../../../node_modules/ws/lib/x.js')).toBe('node_modules/ws/lib/x.js');
  });

  it('renders a table per phase with each thread as a column', () => {
    const s = summariseProfiles([handMadeProfile()], { thread: 'SendA1B2C3D4', root: ROOT });
    const md = renderProfiles([
      { phase: 'group saturation', dir: '/tmp/p', samplingIntervalUs: 1000, threads: [s] },
    ]).join('\n');
    expect(threadLabel('SendA1B2C3D4')).toBe('Send');
    expect(md).toContain('| category | Send |');
    expect(md).toContain("| Herald's code (lambdas/, protocol/) | 33.3% |");
    expect(md).toContain(
      '| Send | `send` | node_modules/@smithy/core/dist-es/client.js:1 | aws-sdk | 3 | 33.3% |',
    );
  });
});
