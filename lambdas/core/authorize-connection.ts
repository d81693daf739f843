import { type UserId, UserId as UserIdSchema } from '../../protocol';
import { ForbiddenSubjectError, InvalidTokenError } from './errors';
import type { TokenVerifier } from './ports';

/**
 * Verifies the token presented on $connect and returns the user it names. Rejects with InvalidTokenError
 * (the handshake gets 401) or ForbiddenSubjectError (403). Never logs or echoes the token.
 */
export async function authorizeConnection(
  verifier: TokenVerifier,
  token: string | undefined,
): Promise<UserId> {
  if (token === undefined || token.length === 0) throw new InvalidTokenError('no token');
  if (token.length > 8192) throw new InvalidTokenError('token too long');
  const { subject } = await verifier.verify(token);
  const userId = UserIdSchema.safeParse(subject);
  if (!userId.success) throw new ForbiddenSubjectError('token subject is not a usable user id');
  return userId.data;
}
