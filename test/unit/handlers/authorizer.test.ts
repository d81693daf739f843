import { afterEach, describe, expect, it, vi } from 'vitest';
import { JoseTokenVerifier } from '../../../lambdas/adapters/jose-token-verifier';
import { createAuthorizerHandler } from '../../../lambdas/handlers/authorizer';
import { logger } from '../../../lambdas/wiring/logger';
import { authorizerEvent } from '../../helpers/events';
import { DEV_AUTH, mintDevToken } from '../../helpers/tokens';

const verifier = new JoseTokenVerifier(
  { kind: 'secret', secret: async () => DEV_AUTH.secret },
  DEV_AUTH.issuer,
  DEV_AUTH.audience,
);
const handler = createAuthorizerHandler(() => ({ verifier }));

afterEach(() => {
  vi.restoreAllMocks();
});

describe('authorizer handler', () => {
  it('allows a valid token and passes the user id in the authorizer context', async () => {
    const event = authorizerEvent({ token: await mintDevToken('alice') });
    const result = await handler(event);
    expect(result).toEqual({
      principalId: 'alice',
      policyDocument: {
        Version: '2012-10-17',
        Statement: [{ Action: 'execute-api:Invoke', Effect: 'Allow', Resource: event.methodArn }],
      },
      context: { userId: 'alice' },
    });
  });

  it.each([
    ['no query string', async () => null],
    ['an empty token', async () => ({ token: '' })],
    ['garbage', async () => ({ token: 'not.a.jwt' })],
    [
      'an expired token',
      async () => ({
        token: await mintDevToken('alice', { expiresIn: Math.floor(Date.now() / 1000) - 3600 }),
      }),
    ],
    [
      'a token for another audience',
      async () => ({ token: await mintDevToken('alice', { audience: 'other-app' }) }),
    ],
    ['a token from another issuer', async () => ({ token: await mintDevToken('alice', { issuer: 'evil' }) })],
    [
      'a token signed with another secret',
      async () => ({ token: await mintDevToken('alice', { secret: 'x'.repeat(40) }) }),
    ],
    [
      'an unsigned token',
      async () => ({
        token: `${b64({ alg: 'none' })}.${b64({ sub: 'alice', iss: DEV_AUTH.issuer, aud: DEV_AUTH.audience })}.`,
      }),
    ],
  ])('answers 401 (Unauthorized) for %s', async (_name, query) => {
    await expect(handler(authorizerEvent(await query()))).rejects.toThrow(/^Unauthorized$/);
  });

  it('denies (403) a valid token whose subject cannot be a user id', async () => {
    const event = authorizerEvent({ token: await mintDevToken('alice:admin') });
    const result = await handler(event);
    expect(result.policyDocument.Statement[0]).toMatchObject({ Effect: 'Deny' });
    expect(result.context).toBeUndefined();
  });

  it('never writes the token to the logs, accepted or refused', async () => {
    const written: string[] = [];
    const capture = (chunk: unknown) => {
      written.push(String(chunk));
      return true;
    };
    vi.spyOn(process.stdout, 'write').mockImplementation(capture);
    vi.spyOn(process.stderr, 'write').mockImplementation(capture);
    const previous = logger.getLevelName();
    logger.setLogLevel('DEBUG');
    try {
      const good = await mintDevToken('alice');
      const bad = await mintDevToken('alice', { audience: 'other-app' });
      await handler(authorizerEvent({ token: good }));
      await handler(authorizerEvent({ token: bad })).catch(() => undefined);
    } finally {
      logger.setLogLevel(previous);
    }
    const output = written.join('');
    expect(output).toContain('connection authorized'); // the capture works: logs were written
    expect(output).toContain('connection refused');
    expect(output).not.toMatch(/eyJ[\w-]+\.eyJ/); // no JWT of any kind
  });

  it('rethrows failures that are not the token’s fault, so they surface as errors', async () => {
    const broken = createAuthorizerHandler(() => ({
      verifier: { verify: async () => Promise.reject(new Error('JWKS endpoint unreachable')) },
    }));
    await expect(broken(authorizerEvent({ token: 'x.y.z' }))).rejects.toThrow('JWKS endpoint unreachable');
  });
});

function b64(value: object): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}
