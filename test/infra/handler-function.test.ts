import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { builtinModuleAliases } from '../../lib/constructs/handler-function';

const dir = mkdtempSync(path.join(tmpdir(), 'herald-builtins-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('builtinModuleAliases', () => {
  const aliases = builtinModuleAliases(dir);
  const target = (specifier: string) => aliases[specifier];

  it('maps each built-in, bare and node:-prefixed, to one shim', () => {
    for (const name of ['http', 'https', 'crypto', 'fs/promises', 'stream', 'zlib']) {
      expect(target(name), name).toBeDefined();
      expect(target(`node:${name}`), name).toBe(target(name));
    }
  });

  it('hands a dependency the very module object the built-in is', () => {
    const load = createRequire(import.meta.url);
    for (const name of ['http', 'crypto', 'fs/promises', 'process']) {
      const shim = target(name) ?? '';
      expect(load(shim), name).toBe(process.getBuiltinModule(`node:${name}`));
    }
  });

  it('leaves shims that are up to date untouched (parallel synths read whole files)', () => {
    const shim = target('http') ?? '';
    const before = statSync(shim).mtimeMs;
    builtinModuleAliases(dir);
    expect(statSync(shim).mtimeMs).toBe(before);
    expect(readFileSync(shim, 'utf8')).toBe("module.exports = process.getBuiltinModule('node:http');\n");
  });
});
