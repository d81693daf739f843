/**
 * `npm run -s token -- <userId> [--expires 1h]`: prints a development token for the local Herald started by
 * `npm start`. For a deployed development stack: `--secret-arn <DevAuthSecretArn> [--region us-east-1]`
 * (reads the secret with your AWS credentials; issuer and audience default to herald-dev / herald).
 */
import { parseArgs } from 'node:util';
import { UserId } from '../protocol';
import { readLocalState } from './state';
import { mintToken, readSigningSecret } from './tokens';

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      expires: { type: 'string', default: '1h' },
      'secret-arn': { type: 'string' },
      region: { type: 'string', default: process.env.AWS_REGION ?? 'us-east-1' },
      issuer: { type: 'string', default: 'herald-dev' },
      audience: { type: 'string', default: 'herald' },
    },
  });
  const user = UserId.safeParse(positionals[0]);
  if (!user.success) {
    console.error('Usage: npm run -s token -- <userId> [--expires 1h] [--secret-arn ARN --region REGION]');
    console.error('A user id is 1-128 characters of letters, digits and _ . @ | + = -');
    process.exit(2);
  }
  let secret: string;
  let issuer = values.issuer;
  let audience = values.audience;
  if (values['secret-arn']) {
    secret = await readSigningSecret(values['secret-arn'], values.region);
  } else {
    const state = readLocalState();
    secret = await readSigningSecret(state.auth.secretArn, state.region, state.secretsManagerEndpoint);
    issuer = state.auth.issuer;
    audience = state.auth.audience;
  }
  const expires = /^\d+$/.test(values.expires)
    ? Math.floor(Date.now() / 1000) + Number(values.expires)
    : values.expires;
  process.stdout.write(`${await mintToken(user.data, { secret, issuer, audience, expiresIn: expires })}\n`);
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
