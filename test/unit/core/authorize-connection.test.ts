import { describe, expect, it } from 'vitest';
import { authorizeConnection } from '../../../lambdas/core/authorize-connection';
import { ForbiddenSubjectError, InvalidTokenError } from '../../../lambdas/core/errors';

const verifier = (subject: string) => ({ verify: async () => ({ subject }) });

describe('authorizeConnection', () => {
  it('returns the token subject as the user id', async () => {
    expect(await authorizeConnection(verifier('auth0|123'), 'token')).toBe('auth0|123');
  });

  it.each([undefined, ''])('refuses a missing token (%s) without calling the verifier', async (token) => {
    let called = false;
    const spy = {
      verify: async () => {
        called = true;
        return { subject: 'x' };
      },
    };
    await expect(authorizeConnection(spy, token)).rejects.toBeInstanceOf(InvalidTokenError);
    expect(called).toBe(false);
  });

  it('refuses absurdly long tokens', async () => {
    await expect(authorizeConnection(verifier('a'), 'x'.repeat(9000))).rejects.toBeInstanceOf(
      InvalidTokenError,
    );
  });

  it.each(['alice:bob', '', 'a b', 'x'.repeat(200)])('forbids the unusable subject %j', async (subject) => {
    await expect(authorizeConnection(verifier(subject), 't')).rejects.toBeInstanceOf(ForbiddenSubjectError);
  });
});
