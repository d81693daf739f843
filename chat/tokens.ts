/**
 * Where the chat's tokens and URL come from: a fixed token, a command run before every connection, or development
 * tokens minted with Herald's dev secret (the local Herald's by default), with the code `npm run token` uses.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { readLocalState } from '../local/state';
import { mintToken, readSigningSecret } from '../local/tokens';
import type { ChatOptions } from './options';

const run = promisify(execFile);

export interface Connection {
  readonly url: string;
  /** Called by the SDK before every connection: a fresh token each time. */
  readonly token: () => Promise<string>;
}

/** Resolves the URL and the token function; reads .herald/local.json only when something must come from it. */
export function resolveConnection(options: ChatOptions): Connection {
  const { tokens } = options;
  const needsLocal = options.url === undefined || (tokens.kind === 'mint' && tokens.secret === undefined);
  const local = needsLocal ? readLocalState() : undefined;
  const url = options.url ?? local?.wsUrl;
  if (!url) throw new Error('no URL: pass --url');
  switch (tokens.kind) {
    case 'static':
      return { url, token: async () => tokens.token };
    case 'command':
      return { url, token: () => tokenFromCommand(tokens.command) };
    case 'mint': {
      const source =
        tokens.secret ??
        (local && {
          secretArn: local.auth.secretArn,
          region: local.region,
          endpoint: local.secretsManagerEndpoint,
          issuer: local.auth.issuer,
          audience: local.auth.audience,
        });
      const user = options.user;
      if (!source || !user) throw new Error('minting a token needs --user and a secret');
      let secret: Promise<string> | undefined;
      return {
        url,
        token: async () => {
          // Read once and kept; a failed read is retried on the next connection.
          secret ??= readSigningSecret(source.secretArn, source.region, source.endpoint).catch((error) => {
            secret = undefined;
            throw error;
          });
          return mintToken(user, {
            secret: await secret,
            issuer: source.issuer,
            audience: source.audience,
            expiresIn: '1h',
          });
        },
      };
    }
    default: {
      const unhandled: never = tokens;
      throw new Error(`no case for ${JSON.stringify(unhandled)}`);
    }
  }
}

async function tokenFromCommand(command: string): Promise<string> {
  const { stdout } = await run('/bin/sh', ['-c', command], { timeout: 30_000, maxBuffer: 64 * 1024 });
  const token = stdout.trim();
  if (!token) throw new Error(`--token-command printed nothing: ${command}`);
  return token;
}
