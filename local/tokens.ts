/** Minting development tokens: HS256 JWTs the dev-mode authorizer accepts, locally or on a deployed dev stack. */
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SignJWT } from 'jose';

export interface DevTokenOptions {
  readonly secret: string;
  readonly issuer: string;
  readonly audience: string;
  /** A jose time span (`1h`, `30m`) or epoch seconds. @default '1h' */
  readonly expiresIn?: string | number;
}

export function mintToken(userId: string, options: DevTokenOptions): Promise<string> {
  return new SignJWT({})
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setSubject(userId)
    .setIssuer(options.issuer)
    .setAudience(options.audience)
    .setIssuedAt()
    .setExpirationTime(options.expiresIn ?? '1h')
    .sign(new TextEncoder().encode(options.secret));
}

/** Reads the signing secret from Secrets Manager: the local one (endpoint given) or the account's. */
export async function readSigningSecret(
  secretArn: string,
  region: string,
  endpoint?: string,
): Promise<string> {
  const client = new SecretsManagerClient({
    region,
    ...(endpoint ? { endpoint, credentials: { accessKeyId: 'local', secretAccessKey: 'local' } } : {}),
  });
  try {
    const { SecretString } = await client.send(new GetSecretValueCommand({ SecretId: secretArn }));
    if (!SecretString) throw new Error(`secret ${secretArn} has no string value`);
    return SecretString;
  } finally {
    client.destroy();
  }
}
