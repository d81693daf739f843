import { createRemoteJWKSet, type JWTVerifyGetKey, errors as joseErrors, jwtVerify } from 'jose';
import { InvalidTokenError } from '../core/errors';
import type { TokenVerifier } from '../core/ports';

/** Asymmetric algorithms accepted from an OIDC provider (Cognito signs with RS256). */
const JWKS_ALGORITHMS = ['RS256', 'RS384', 'RS512', 'ES256', 'ES384', 'PS256'];

type KeySource =
  | { readonly kind: 'jwks'; readonly url: string }
  | { readonly kind: 'secret'; readonly secret: () => Promise<string> };

/**
 * Verifies JWTs with `jose`: signature, `exp`/`nbf` (60 s of clock tolerance), issuer and audience. Either
 * against a provider's JWKS URL (keys cached by jose) or, in development mode, an HS256 shared secret.
 */
export class JoseTokenVerifier implements TokenVerifier {
  private readonly jwks: JWTVerifyGetKey | undefined;
  private secretKey: Promise<Uint8Array> | undefined;

  constructor(
    private readonly source: KeySource,
    private readonly issuer: string,
    private readonly audience: string,
  ) {
    this.jwks = source.kind === 'jwks' ? createRemoteJWKSet(new URL(source.url)) : undefined;
  }

  async verify(token: string): Promise<{ subject: string }> {
    try {
      const { payload } = this.jwks
        ? await jwtVerify(token, this.jwks, this.options(JWKS_ALGORITHMS))
        : await jwtVerify(token, await this.secret(), this.options(['HS256']));
      if (typeof payload.sub !== 'string') throw new InvalidTokenError('token has no subject');
      return { subject: payload.sub };
    } catch (error) {
      if (error instanceof InvalidTokenError) throw error;
      // Token problems become InvalidTokenError; failures to reach the JWKS endpoint stay what they are.
      if (error instanceof joseErrors.JOSEError && !(error instanceof joseErrors.JWKSTimeout)) {
        throw new InvalidTokenError(error.code);
      }
      throw error;
    }
  }

  private options(algorithms: string[]) {
    return { issuer: this.issuer, audience: this.audience, algorithms, clockTolerance: 60 };
  }

  private secret(): Promise<Uint8Array> {
    if (this.source.kind !== 'secret') throw new Error('no shared secret configured');
    const { secret } = this.source;
    this.secretKey ??= secret().then((s) => new TextEncoder().encode(s));
    // A failed fetch must not be cached for the life of the execution environment.
    this.secretKey.catch(() => {
      this.secretKey = undefined;
    });
    return this.secretKey;
  }
}
