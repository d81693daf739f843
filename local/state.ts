/**
 * Where a running local Herald says how to reach it (.herald/local.json): read by `npm run token` and tests.
 * Kept apart from the local cloud so that reading it loads nothing heavy.
 */
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as z from 'zod';

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const STATE_FILE = join(REPO_ROOT, '.herald', 'local.json');

/** What a running local Herald tells other commands (token minting, tests): no secrets, only where to ask. */
export const LocalState = z.object({
  pid: z.number(),
  wsUrl: z.string(),
  callbackUrl: z.string(),
  region: z.string(),
  secretsManagerEndpoint: z.string(),
  auth: z.object({ secretArn: z.string(), issuer: z.string(), audience: z.string() }),
});
export type LocalState = z.infer<typeof LocalState>;

export function readLocalState(): LocalState {
  let text: string;
  try {
    text = readFileSync(STATE_FILE, 'utf8');
  } catch {
    throw new Error('Herald is not running locally: start it with `npm start` (in another terminal) first.');
  }
  return LocalState.parse(JSON.parse(text));
}
