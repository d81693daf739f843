/**
 * Typed configuration of every Herald Lambda. The CDK code imports the env var names from here, so the stack
 * and the functions cannot drift; each function parses its own slice once, at cold start, and fails loudly by
 * name when something is missing or wrong.
 *
 * The schemas use `zod/mini`: every function builds all of them when it loads this module, and a mini
 * schema costs a fraction of a classic one to construct (classic binds its whole method chain to every
 * instance). In isolation (this module and the protocol bundled alone, 31 fresh processes each) the median
 * import took 12 ms less. The parse results and messages are the classic ones (the protocol, which this module
 * imports, sets zod's English locale).
 */
import * as z from 'zod/mini';
import { LIMITS } from '../protocol';

export const ENV = {
  CONNECTIONS_TABLE: 'CONNECTIONS_TABLE',
  CONVERSATIONS_TABLE: 'CONVERSATIONS_TABLE',
  MESSAGES_TABLE: 'MESSAGES_TABLE',
  MESSAGE_QUEUE_URL: 'MESSAGE_QUEUE_URL',
  DEAD_LETTER_QUEUE_URL: 'DEAD_LETTER_QUEUE_URL',
  FANOUT_QUEUE_URL: 'FANOUT_QUEUE_URL',
  CALLBACK_URL: 'CALLBACK_URL',
  DELIVERY_CONCURRENCY: 'DELIVERY_CONCURRENCY',
  RECALL_WINDOW_SECONDS: 'RECALL_WINDOW_SECONDS',
  AUTH_MODE: 'AUTH_MODE',
  AUTH_JWKS_URL: 'AUTH_JWKS_URL',
  AUTH_ISSUER: 'AUTH_ISSUER',
  AUTH_AUDIENCE: 'AUTH_AUDIENCE',
  AUTH_DEV_SECRET: 'AUTH_DEV_SECRET',
  AUTH_DEV_SECRET_ARN: 'AUTH_DEV_SECRET_ARN',
  /** Benchmarks only (the stack never sets it): see `sdkCallLogConfig`. */
  HERALD_SDK_CALL_LOG: 'HERALD_SDK_CALL_LOG',
} as const;
export type EnvName = keyof typeof ENV;

/** Names of the GSIs, shared by the table construct and the adapters. */
export const INDEX = {
  conversationsByMember: 'byMember',
} as const;

const name = z.string().check(z.minLength(1));

/** The longest recall window a deployment may set: 7 days. */
export const MAX_RECALL_WINDOW_SECONDS = 7 * 24 * 60 * 60;

const connectionsConfig = z.object({
  CONNECTIONS_TABLE: name,
});

const auth = z.discriminatedUnion('AUTH_MODE', [
  z.object({
    AUTH_MODE: z.literal('jwks'),
    AUTH_JWKS_URL: z.url({ protocol: /^https?$/ }),
    AUTH_ISSUER: name,
    AUTH_AUDIENCE: name,
  }),
  z
    .object({
      AUTH_MODE: z.literal('dev'),
      AUTH_ISSUER: name,
      AUTH_AUDIENCE: name,
      /** The HS256 secret itself: local runs and tests only. */
      AUTH_DEV_SECRET: z.optional(
        z.string().check(z.minLength(32, 'AUTH_DEV_SECRET must be at least 32 characters')),
      ),
      /** Where a deployed dev-mode stack keeps its secret (Secrets Manager). */
      AUTH_DEV_SECRET_ARN: z.optional(z.string().check(z.startsWith('arn:'))),
    })
    .check(
      z.refine((c) => (c.AUTH_DEV_SECRET === undefined) !== (c.AUTH_DEV_SECRET_ARN === undefined), {
        message: 'dev auth needs exactly one of AUTH_DEV_SECRET or AUTH_DEV_SECRET_ARN',
      }),
    ),
]);

export const authorizerConfig = auth;
export type AuthorizerConfig = z.infer<typeof authorizerConfig>;

export const connectConfig = connectionsConfig;
export type ConnectConfig = z.infer<typeof connectConfig>;

export const commandConfig = z.object({
  CONNECTIONS_TABLE: name,
  CONVERSATIONS_TABLE: name,
  MESSAGE_QUEUE_URL: z.url(),
});
export type CommandConfig = z.infer<typeof commandConfig>;

export const queryConfig = z.object({
  CONNECTIONS_TABLE: name,
  CONVERSATIONS_TABLE: name,
  MESSAGES_TABLE: name,
});
export type QueryConfig = z.infer<typeof queryConfig>;

/** Connection lookups and pushes in flight at once (per invocation). */
const deliveryConcurrency = z._default(z.coerce.number().check(z.int(), z.minimum(1), z.maximum(256)), 16);

/** The ephemeral (typing) function, and $connect/$disconnect, which announce presence. */
export const ephemeralConfig = z.extend(connectionsConfig, {
  CONVERSATIONS_TABLE: name,
  CALLBACK_URL: z.url(),
  DELIVERY_CONCURRENCY: deliveryConcurrency,
});
export type EphemeralConfig = z.infer<typeof ephemeralConfig>;

export const deliverConfig = z.extend(connectionsConfig, {
  CONVERSATIONS_TABLE: name,
  MESSAGES_TABLE: name,
  CALLBACK_URL: z.url(),
  /** Records whose body breaks the queue contract go here at once instead of blocking their FIFO group. */
  DEAD_LETTER_QUEUE_URL: z.url(),
  /** Where deliveries to large groups go, in chunks, for the fan-out function. */
  FANOUT_QUEUE_URL: z.url(),
  DELIVERY_CONCURRENCY: deliveryConcurrency,
  /** How long after sending an author may recall a message (owners and admins of a group: any time). */
  RECALL_WINDOW_SECONDS: z._default(
    z.coerce.number().check(z.int(), z.minimum(1), z.maximum(MAX_RECALL_WINDOW_SECONDS)),
    LIMITS.recallWindowSeconds,
  ),
});
export type DeliverConfig = z.infer<typeof deliverConfig>;

/** The fan-out function: pushes one chunk of a large group's delivery. */
export const fanoutConfig = z.extend(connectionsConfig, {
  CALLBACK_URL: z.url(),
  /** Bodies that are not fan-out jobs go here at once instead of holding their FIFO group (bucket). */
  DEAD_LETTER_QUEUE_URL: z.url(),
  /** Posts in flight per invocation: with the mapping's maxConcurrency it bounds all posts in flight. */
  DELIVERY_CONCURRENCY: deliveryConcurrency,
});
export type FanoutConfig = z.infer<typeof fanoutConfig>;

/**
 * Opt-in AWS call counting for `npm run bench` (lambdas/wiring/sdk-call-log.ts): `true` adds an SDK
 * middleware to every client that counts calls by client and command and logs them as
 * `HERALD_SDK_CALLS {...}` lines. Off by default, and then no middleware is added at all. The CDK stack never
 * sets it.
 */
export const sdkCallLogConfig = z.object({
  HERALD_SDK_CALL_LOG: z._default(z.stringbool(), false),
});
export type SdkCallLogConfig = z.infer<typeof sdkCallLogConfig>;

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

/** Parses the env vars a function needs; the error names every bad variable and never echoes values. */
export function loadConfig<S extends z.ZodMiniType>(
  schema: S,
  env: Readonly<Record<string, string | undefined>>,
): z.infer<S> {
  const parsed = schema.safeParse(env);
  if (parsed.success) return parsed.data;
  const problems = parsed.error.issues.map((i) => `${i.path.join('.') || '(config)'}: ${i.message}`);
  throw new ConfigError(`Invalid configuration: ${problems.join('; ')}`);
}
