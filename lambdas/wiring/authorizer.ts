import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { JoseTokenVerifier } from '../adapters/jose-token-verifier';
import { readSecretString } from '../adapters/secrets-manager-secret';
import { authorizerConfig, loadConfig } from '../config';
import type { TokenVerifier } from '../core/ports';
import { once } from './once';
import { counted } from './sdk-call-log';

/**
 * The $connect authorizer: a JWKS verifier, or in dev mode an HS256 one whose secret is inline or in Secrets
 * Manager.
 */
export const authorizerDeps = /* @__PURE__ */ once((): { verifier: TokenVerifier } => {
  const config = loadConfig(authorizerConfig, process.env);
  if (config.AUTH_MODE === 'jwks') {
    return {
      verifier: new JoseTokenVerifier(
        { kind: 'jwks', url: config.AUTH_JWKS_URL },
        config.AUTH_ISSUER,
        config.AUTH_AUDIENCE,
      ),
    };
  }
  const { AUTH_DEV_SECRET: inline, AUTH_DEV_SECRET_ARN: arn } = config;
  const secret =
    inline !== undefined
      ? () => Promise.resolve(inline)
      : () => readSecretString(counted(new SecretsManagerClient({})), arn ?? '');
  return {
    verifier: new JoseTokenVerifier({ kind: 'secret', secret }, config.AUTH_ISSUER, config.AUTH_AUDIENCE),
  };
});
