import { Annotations, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import { Secret } from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import { ENV } from '../../lambdas/config';

/** Tokens come from an OIDC provider (Cognito, Auth0, ...) and are verified against its JWKS. */
export interface JwksAuthConfig {
  readonly mode: 'jwks';
  /** The provider's JWKS endpoint (https). */
  readonly jwksUrl: string;
  /** Expected `iss` claim. */
  readonly issuer: string;
  /** Expected `aud` claim. */
  readonly audience: string;
}

/** Development only: HS256 tokens signed with a generated secret kept in Secrets Manager. */
export interface DevAuthConfig {
  readonly mode: 'dev';
  /** Expected `iss` claim. @default 'herald-dev' */
  readonly issuer?: string;
  /** Expected `aud` claim. @default 'herald' */
  readonly audience?: string;
}

export type HeraldAuthConfig = JwksAuthConfig | DevAuthConfig;

export const DEV_AUTH_DEFAULTS = { issuer: 'herald-dev', audience: 'herald' } as const;

export interface HeraldAuthProps {
  readonly config: HeraldAuthConfig;

  /** Removal policy of the dev-mode signing secret. @default RemovalPolicy.DESTROY */
  readonly removalPolicy?: RemovalPolicy;
}

/**
 * How the `$connect` authorizer verifies tokens. It produces the authorizer's environment and, in dev mode,
 * the signing secret; the stack grants the authorizer read access to it.
 */
export class HeraldAuth extends Construct {
  public readonly mode: HeraldAuthConfig['mode'];
  /** Environment of the authorizer function (names from lambdas/config.ts). */
  public readonly environment: Readonly<Record<string, string>>;
  /** The HS256 signing secret; only in dev mode. */
  public readonly devSecret: Secret | undefined;

  constructor(scope: Construct, id: string, props: HeraldAuthProps) {
    super(scope, id);
    const { config } = props;
    this.mode = config.mode;

    switch (config.mode) {
      case 'jwks': {
        validateJwks(config);
        this.devSecret = undefined;
        this.environment = {
          [ENV.AUTH_MODE]: 'jwks',
          [ENV.AUTH_JWKS_URL]: config.jwksUrl,
          [ENV.AUTH_ISSUER]: config.issuer,
          [ENV.AUTH_AUDIENCE]: config.audience,
        };
        break;
      }
      case 'dev': {
        const issuer = config.issuer ?? DEV_AUTH_DEFAULTS.issuer;
        const audience = config.audience ?? DEV_AUTH_DEFAULTS.audience;
        requireNonEmpty({ issuer, audience }, 'dev');
        const secret = new Secret(this, 'DevSigningSecret', {
          description: 'Herald development auth: HS256 signing secret of dev tokens. Not for production.',
          generateSecretString: { passwordLength: 48, excludePunctuation: true },
          removalPolicy: props.removalPolicy ?? RemovalPolicy.DESTROY,
        });
        Validations.of(secret).acknowledge({
          id: 'AwsSolutions-SMG4',
          reason:
            'Development-only HS256 signing secret: rotating it would silently invalidate every dev token ' +
            'already issued. Production stacks use auth mode "jwks" and have no secret at all.',
        });
        this.devSecret = secret;
        this.environment = {
          [ENV.AUTH_MODE]: 'dev',
          [ENV.AUTH_DEV_SECRET_ARN]: secret.secretArn,
          [ENV.AUTH_ISSUER]: issuer,
          [ENV.AUTH_AUDIENCE]: audience,
        };
        Annotations.of(Stack.of(this)).addWarningV2(
          'herald:devAuth',
          'Herald auth mode is "dev": tokens are HS256 JWTs signed with a shared secret from Secrets Manager. ' +
            'Use it for development only; deploy production with -c herald:auth=jwks.',
        );
        break;
      }
      default: {
        const unknown: never = config;
        throw new Error(`HeraldAuth: unknown auth mode ${JSON.stringify(unknown)}`);
      }
    }
  }
}

function requireNonEmpty(values: Readonly<Record<string, string | undefined>>, mode: string): void {
  const missing = Object.entries(values)
    .filter(([, v]) => typeof v !== 'string' || v.trim() === '')
    .map(([k]) => k);
  if (missing.length > 0) {
    throw new Error(`HeraldAuth: auth mode "${mode}" needs a non-empty ${missing.join(', ')}`);
  }
}

function validateJwks(config: JwksAuthConfig): void {
  requireNonEmpty({ jwksUrl: config.jwksUrl, issuer: config.issuer, audience: config.audience }, 'jwks');
  let url: URL;
  try {
    url = new URL(config.jwksUrl);
  } catch {
    throw new Error(`HeraldAuth: jwksUrl is not a URL: ${JSON.stringify(config.jwksUrl)}`);
  }
  if (url.protocol !== 'https:') {
    throw new Error(
      `HeraldAuth: jwksUrl must use https (keys fetched over plain http can be forged): ${url.href}`,
    );
  }
}
