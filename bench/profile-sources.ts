/**
 * Maps frames of the functions' minified bundles to their original files and names, with the source map
 * esbuild writes next to each bundle file (`index.mjs.map`, `chunk-*.mjs.map`): without it a worker's profile
 * would say only `index.mjs`. Uses Node's own source map reader (node:module SourceMap).
 */
import { existsSync, readFileSync } from 'node:fs';
import { findSourceMap, SourceMap } from 'node:module';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { CallFrame, FrameResolver, ResolvedFrame } from './profile';

/**
 * A resolver for frames of the bundles under `bundlesDir` (the cloud assembly) that have a `.map` beside them;
 * the others (the repository's own files, packages that ship maps of their own) are left as they are.
 */
export function sourceMapResolver(bundlesDir: string): FrameResolver {
  const maps = new Map<string, SourceMap | undefined>();
  const mapOf = (url: string): SourceMap | undefined => {
    if (maps.has(url)) return maps.get(url);
    let map: SourceMap | undefined;
    try {
      const file = url.startsWith('file://') ? fileURLToPath(url) : url;
      if (file.startsWith(resolve(bundlesDir)) && /\.m?js$/.test(file) && existsSync(`${file}.map`)) {
        map = new SourceMap(JSON.parse(readFileSync(`${file}.map`, 'utf8')));
      }
    } catch {
      map = undefined;
    }
    maps.set(url, map);
    return map;
  };
  return (frame: CallFrame): ResolvedFrame | undefined => {
    const map = mapOf(frame.url);
    if (!map) return undefined;
    return resolveWith(map, frame);
  };
}

/**
 * A resolver for this thread's own TypeScript modules, which tsx compiles with source maps Node keeps
 * (without it every frame of a `.ts` file would be at line 1 of the compiled code).
 */
export function loadedModuleResolver(): FrameResolver {
  return (frame: CallFrame): ResolvedFrame | undefined => {
    if (!/\.[cm]?ts$/.test(frame.url)) return undefined;
    const map = findSourceMap(frame.url);
    return map ? resolveWith(map, frame) : undefined;
  };
}

function resolveWith(map: SourceMap, frame: CallFrame): ResolvedFrame | undefined {
  {
    const entry = map.findEntry(frame.lineNumber, frame.columnNumber) as {
      originalSource?: string;
      originalLine?: number;
      name?: string;
    };
    if (!entry.originalSource) return undefined;
    return {
      file: normaliseSource(entry.originalSource),
      line: (entry.originalLine ?? 0) + 1,
      // Minified names say nothing; the map's name at the function's position is the best guess there is.
      functionName: frame.functionName.length > 2 ? frame.functionName : (entry.name ?? frame.functionName),
    };
  }
}

/**
 * The bundles' sources are relative to esbuild's working directory (`../../../lambdas/x.ts`,
 * `../../../node_modules/...`): the repository-relative path is what follows the `../` run.
 */
export function normaliseSource(source: string): string {
  return source.replace(/^file:\/\//, '').replace(/^(?:\.\.?\/)+/, '');
}
