/** The command line of `npm run chat`: parsed with node:util, validated with zod, explained by `--help`. */
import { parseArgs } from 'node:util';
import * as z from 'zod';
import { LIMITS, UserId } from '../protocol';

export const USAGE = `Usage: npm run chat -- --user <userId> [options]

A terminal chat for Herald. By default it talks to the local Herald started by \`npm start\`
(its URL and development secret come from .herald/local.json) and mints tokens for --user.

  --user USER            who you are (required unless --token or --token-command gives the token)
  --url URL              ws:// or wss:// URL of a Herald WebSocket API (env HERALD_WS_URL;
                         default: the local Herald's)
  --token JWT            use this token (env HERALD_TOKEN); it is not renewed
  --token-command CMD    run CMD (with sh -c) before every connection; its output is the token
  --secret-arn ARN       mint development tokens with this Secrets Manager secret (a deployed
                         development-auth stack's DevAuthSecretArn; env HERALD_DEV_SECRET_ARN)
  --region REGION        the secret's region (env AWS_REGION; default us-east-1)
  --secrets-endpoint URL a Secrets Manager endpoint other than AWS's (a local one)
  --issuer ISS           issuer of minted tokens (default herald-dev)
  --audience AUD         audience of minted tokens (default herald)
  --page-size N          messages shown on /open and per /more (1-${LIMITS.maxHistoryPage}, default 20)
  --no-color             plain text (also when NO_COLOR is set or the output is not a terminal)
  --help                 this text

In the chat, type /help for the commands.`;

const WsUrl = z.url({ protocol: /^wss?$/, error: 'must be a ws:// or wss:// URL' });

/** Where tokens come from. */
export type TokenSource =
  | { readonly kind: 'static'; readonly token: string }
  | { readonly kind: 'command'; readonly command: string }
  | {
      readonly kind: 'mint';
      /** Undefined: the local Herald's secret, from .herald/local.json. */
      readonly secret?: {
        readonly secretArn: string;
        readonly region: string;
        readonly endpoint?: string;
        readonly issuer: string;
        readonly audience: string;
      };
    };

export interface ChatOptions {
  readonly user?: string;
  /** Undefined: the local Herald's URL. */
  readonly url?: string;
  readonly tokens: TokenSource;
  readonly pageSize: number;
  readonly color: boolean;
}

const Raw = z
  .strictObject({
    user: z.optional(UserId),
    url: WsUrl.optional(),
    token: z.string().min(1, 'must not be empty').optional(),
    'token-command': z.string().trim().min(1, 'must not be empty').optional(),
    'secret-arn': z.string().startsWith('arn:', 'must be an ARN').optional(),
    region: z.string().min(1),
    'secrets-endpoint': z.url({ protocol: /^https?$/, error: 'must be an http(s) URL' }).optional(),
    issuer: z.string().min(1),
    audience: z.string().min(1),
    'page-size': z.coerce
      .number({ error: 'must be a number' })
      .int('must be a whole number')
      .min(1, 'must be at least 1')
      .max(LIMITS.maxHistoryPage, `must be at most ${LIMITS.maxHistoryPage}`),
    color: z.boolean(),
  })
  .superRefine((o, ctx) => {
    const sources = [
      o.token && '--token',
      o['token-command'] && '--token-command',
      o['secret-arn'] && '--secret-arn',
    ]
      .filter(Boolean)
      .join(', ');
    if (sources.includes(','))
      ctx.addIssue({ code: 'custom', path: ['token'], message: `give only one of ${sources}` });
    if (!o.user && !o.token && !o['token-command'])
      ctx.addIssue({ code: 'custom', path: ['user'], message: 'is required to mint a token' });
    if (o['secret-arn'] && !o.url)
      ctx.addIssue({ code: 'custom', path: ['url'], message: 'is required with --secret-arn' });
  });

/** A usage error: printed with the usage, exit code 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

export type Parsed = { readonly help: true } | { readonly help: false; readonly options: ChatOptions };

export function parseChatArgs(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): Parsed {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args: [...argv],
      strict: true,
      allowPositionals: false,
      options: {
        user: { type: 'string' },
        url: { type: 'string' },
        token: { type: 'string' },
        'token-command': { type: 'string' },
        'secret-arn': { type: 'string' },
        region: { type: 'string' },
        'secrets-endpoint': { type: 'string' },
        issuer: { type: 'string' },
        audience: { type: 'string' },
        'page-size': { type: 'string' },
        'no-color': { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message : String(error));
  }
  if (values.help) return { help: true };
  const { 'no-color': noColor, help: _help, ...given } = values;
  const withDefaults = {
    ...given,
    url: given.url ?? (env.HERALD_WS_URL || undefined),
    token: given.token ?? (env.HERALD_TOKEN || undefined),
    'secret-arn': given['secret-arn'] ?? (env.HERALD_DEV_SECRET_ARN || undefined),
    region: given.region ?? (env.AWS_REGION || 'us-east-1'),
    issuer: given.issuer ?? 'herald-dev',
    audience: given.audience ?? 'herald',
    'page-size': given['page-size'] ?? '20',
    color: !noColor && !env.NO_COLOR,
  };
  // A token given on the command line wins over a secret from the environment.
  if ((given.token || given['token-command']) && !given['secret-arn']) withDefaults['secret-arn'] = undefined;
  if (given['token-command'] || given['secret-arn']) withDefaults.token = given.token;
  const parsed = Raw.safeParse(withDefaults);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((issue) => {
      const name = issue.path.length > 0 ? `--${issue.path.join('.')}` : 'options';
      return `${name}: ${issue.message}`;
    });
    throw new UsageError(lines.join('\n'));
  }
  const o = parsed.data;
  const tokens: TokenSource = o.token
    ? { kind: 'static', token: o.token }
    : o['token-command']
      ? { kind: 'command', command: o['token-command'] }
      : o['secret-arn']
        ? {
            kind: 'mint',
            secret: {
              secretArn: o['secret-arn'],
              region: o.region,
              ...(o['secrets-endpoint'] ? { endpoint: o['secrets-endpoint'] } : {}),
              issuer: o.issuer,
              audience: o.audience,
            },
          }
        : { kind: 'mint' };
  return {
    help: false,
    options: {
      ...(o.user ? { user: o.user } : {}),
      ...(o.url ? { url: o.url } : {}),
      tokens,
      pageSize: o['page-size'],
      color: o.color,
    },
  };
}
