import { mintToken } from '../../local/tokens';

export const DEV_AUTH = {
  secret: 'test-secret-that-is-at-least-32-characters-long',
  issuer: 'herald-dev',
  audience: 'herald',
} as const;

/** Mints an HS256 token the dev-mode authorizer accepts (or, with overrides, one it must refuse). */
export function mintDevToken(
  subject: string,
  overrides: { secret?: string; issuer?: string; audience?: string; expiresIn?: string | number } = {},
): Promise<string> {
  return mintToken(subject, {
    secret: overrides.secret ?? DEV_AUTH.secret,
    issuer: overrides.issuer ?? DEV_AUTH.issuer,
    audience: overrides.audience ?? DEV_AUTH.audience,
    expiresIn: overrides.expiresIn ?? '1h',
  });
}
