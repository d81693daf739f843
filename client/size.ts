/**
 * Prints the SDK's browser bundle size: `client/index.ts` bundled with esbuild for the browser (ESM, minified,
 * zod included), then gzipped. `npm run size:client`.
 */
import { gzipSync } from 'node:zlib';
import { build } from 'esbuild';

const result = await build({
  entryPoints: [new URL('./index.ts', import.meta.url).pathname],
  bundle: true,
  minify: true,
  format: 'esm',
  platform: 'browser',
  write: false,
  metafile: true,
});
const code = result.outputFiles[0]?.contents ?? new Uint8Array();
const gzipped = gzipSync(code, { level: 9 }).length;
const kb = (n: number) => `${(n / 1024).toFixed(1)} KB`;
const inputs = Object.entries(result.metafile.inputs);
const sdk = inputs.filter(([path]) => path.startsWith('client/')).reduce((sum, [, i]) => sum + i.bytes, 0);
console.log(`client SDK bundle (esbuild --bundle --minify --format=esm --platform=browser):`);
console.log(
  `  minified: ${kb(code.length)}  minified + gzip: ${kb(gzipped)}  (${code.length} / ${gzipped} bytes)`,
);
console.log(
  `  sources: ${inputs.length} files, of which client/ ${kb(sdk)} unminified; the rest is zod and the protocol`,
);
