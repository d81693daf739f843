import { SignJWT } from 'jose';

export const DEV_AUTH = {
  secret: 'test-secret-that-is-at-least-32-characters-long',
  issuer: 'herald-dev',
  audience: 'herald',
} as const;

/** Mints an HS256 token the dev-mode authorizer accepts (or, with overrides, one it must refuse). */
export async function mintDevToken(
  subject: string,
  overrides: { secret?: string; issuer?: string; audience?: string; expiresIn?: string | number } = {},
): Promise<string> {
  return new SignJWT({})
    .setProtectedHeader({ alg: 'HS256' })
    .setSubject(subject)
    .setIssuer(overrides.issuer ?? DEV_AUTH.issuer)
    .setAudience(overrides.audience ?? DEV_AUTH.audience)
    .setIssuedAt()
    .setExpirationTime(overrides.expiresIn ?? '1h')
    .sign(new TextEncoder().encode(overrides.secret ?? DEV_AUTH.secret));
}
