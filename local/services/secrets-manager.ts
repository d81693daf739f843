/**
 * A minimal Secrets Manager on 127.0.0.1 for the local cloud: the JSON 1.1 protocol's `GetSecretValue` and
 * `DescribeSecret`, enough for functions that read a secret at cold start with the unmodified
 * `@aws-sdk/client-secrets-manager`. Secrets come from the template (`SecretString` or
 * `GenerateSecretString`), are generated once and, with a data directory, kept across restarts.
 */
import { randomBytes, randomInt } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';

export interface LocalSecret {
  readonly arn: string;
  readonly name: string;
  readonly value: string;
  readonly createdAt: number;
}

export interface LocalSecretsManager {
  readonly endpoint: string;
  /** Creates the secret unless one with that ARN exists (kept from an earlier run). */
  ensure(secret: { arn: string; name: string; value: () => string }): LocalSecret;
  get(arnOrName: string): LocalSecret | undefined;
  stop(): Promise<void>;
}

export async function startSecretsManager(
  opts: { dataDir?: string; port?: number } = {},
): Promise<LocalSecretsManager> {
  const file = opts.dataDir ? join(opts.dataDir, 'secrets.json') : undefined;
  const secrets = new Map<string, LocalSecret>();
  if (file) {
    try {
      for (const s of JSON.parse(readFileSync(file, 'utf8')) as LocalSecret[]) secrets.set(s.arn, s);
    } catch {
      // no earlier run
    }
  }
  const save = () => {
    if (!file || !opts.dataDir) return;
    mkdirSync(opts.dataDir, { recursive: true });
    writeFileSync(file, JSON.stringify([...secrets.values()], null, 2), { mode: 0o600 });
  };
  const find = (id: string) => secrets.get(id) ?? [...secrets.values()].find((s) => s.name === id);

  const server: Server = createServer(async (req, res) => {
    const target = String(req.headers['x-amz-target'] ?? '');
    const reply = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/x-amz-json-1.1' }).end(JSON.stringify(body));
    };
    let input: { SecretId?: unknown };
    try {
      input = JSON.parse((await readBody(req)) || '{}') as { SecretId?: unknown };
    } catch {
      reply(400, { __type: 'InvalidRequestException', message: 'body is not JSON' });
      return;
    }
    const secret = typeof input.SecretId === 'string' ? find(input.SecretId) : undefined;
    const operation = target.replace(/^secretsmanager\./, '');
    if (operation !== 'GetSecretValue' && operation !== 'DescribeSecret') {
      reply(400, { __type: 'UnknownOperationException', message: `${operation} is not supported locally` });
      return;
    }
    if (!secret) {
      reply(400, {
        __type: 'ResourceNotFoundException',
        message: "Secrets Manager can't find the specified secret.",
      });
      return;
    }
    const base = { ARN: secret.arn, Name: secret.name, CreatedDate: secret.createdAt / 1000 };
    if (operation === 'DescribeSecret') reply(200, base);
    else
      reply(200, {
        ...base,
        SecretString: secret.value,
        VersionId: 'local-1',
        VersionStages: ['AWSCURRENT'],
      });
  });
  await new Promise<void>((resolve) => server.listen(opts.port ?? 0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    ensure({ arn, name, value }) {
      const existing = secrets.get(arn);
      if (existing) return existing;
      const secret = { arn, name, value: value(), createdAt: Date.now() };
      secrets.set(arn, secret);
      save();
      return secret;
    },
    get: find,
    stop: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

/** A value for a template's `GenerateSecretString`, following its documented options. */
export function generateSecretString(spec: Record<string, unknown> = {}): string {
  const length = typeof spec.PasswordLength === 'number' ? spec.PasswordLength : 32;
  let alphabet = '';
  if (spec.ExcludeLowercase !== true) alphabet += 'abcdefghijklmnopqrstuvwxyz';
  if (spec.ExcludeUppercase !== true) alphabet += 'ABCDEFGHIJKLMNOPQRSTUVWXYZ';
  if (spec.ExcludeNumbers !== true) alphabet += '0123456789';
  if (spec.ExcludePunctuation !== true) alphabet += '!"#$%&\'()*+,-./:;<=>?@[\\]^_`{|}~';
  if (spec.IncludeSpace === true) alphabet += ' ';
  const excluded = typeof spec.ExcludeCharacters === 'string' ? spec.ExcludeCharacters : '';
  const chars = [...alphabet].filter((c) => !excluded.includes(c));
  if (chars.length === 0) return randomBytes(length).toString('hex').slice(0, length);
  const password = Array.from({ length }, () => chars[randomInt(chars.length)]).join('');
  if (typeof spec.SecretStringTemplate === 'string' && typeof spec.GenerateStringKey === 'string') {
    return JSON.stringify({ ...JSON.parse(spec.SecretStringTemplate), [spec.GenerateStringKey]: password });
  }
  return password;
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}
