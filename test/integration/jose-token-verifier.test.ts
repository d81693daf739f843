import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, type JWK, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { JoseTokenVerifier } from '../../lambdas/adapters/jose-token-verifier';
import { InvalidTokenError } from '../../lambdas/core/errors';

type PrivateKey = Awaited<ReturnType<typeof generateKeyPair>>['privateKey'];

// An OIDC provider's JWKS endpoint on 127.0.0.1, as Cognito publishes at /.well-known/jwks.json.
let server: Server;
let jwksUrl: string;
let signingKey: PrivateKey;
let otherKey: PrivateKey;
const ISSUER = 'https://cognito-idp.us-east-1.amazonaws.com/us-east-1_Example';
const AUDIENCE = 'herald-client-id';

beforeAll(async () => {
  const pair = await generateKeyPair('RS256');
  signingKey = pair.privateKey;
  otherKey = (await generateKeyPair('RS256')).privateKey;
  const jwk: JWK = { ...(await exportJWK(pair.publicKey)), kid: 'key-1', alg: 'RS256', use: 'sig' };
  server = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: [jwk] }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  jwksUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/.well-known/jwks.json`;
});
afterAll(async () => {
  await new Promise((resolve) => server?.close(resolve));
});

function token(key: PrivateKey, claims: { iss?: string; aud?: string; sub?: string; exp?: number }) {
  return new SignJWT({})
    .setProtectedHeader({ alg: 'RS256', kid: 'key-1' })
    .setSubject(claims.sub ?? 'user-123')
    .setIssuer(claims.iss ?? ISSUER)
    .setAudience(claims.aud ?? AUDIENCE)
    .setIssuedAt()
    .setExpirationTime(claims.exp ?? '10m')
    .sign(key);
}

describe('JoseTokenVerifier against a JWKS endpoint', () => {
  const verifier = () => new JoseTokenVerifier({ kind: 'jwks', url: jwksUrl }, ISSUER, AUDIENCE);

  it('accepts a token signed by a key of the JWKS, for this issuer and audience', async () => {
    expect(await verifier().verify(await token(signingKey, {}))).toEqual({ subject: 'user-123' });
  });

  it.each([
    ['signed by a key outside the JWKS', () => token(otherKey, {})],
    ['for another audience', () => token(signingKey, { aud: 'another-app' })],
    ['from another issuer', () => token(signingKey, { iss: 'https://evil.example' })],
    ['expired', () => token(signingKey, { exp: Math.floor(Date.now() / 1000) - 600 })],
  ])('refuses a token %s', async (_name, make) => {
    await expect(verifier().verify(await make())).rejects.toBeInstanceOf(InvalidTokenError);
  });

  it('refuses an HS256 token even if it were signed with the public key material (algorithm confusion)', async () => {
    const forged = await new SignJWT({})
      .setProtectedHeader({ alg: 'HS256', kid: 'key-1' })
      .setSubject('user-123')
      .setIssuer(ISSUER)
      .setAudience(AUDIENCE)
      .setExpirationTime('10m')
      .sign(new TextEncoder().encode('x'.repeat(64)));
    await expect(verifier().verify(forged)).rejects.toBeInstanceOf(InvalidTokenError);
  });
});
