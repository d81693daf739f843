/**
 * Herald on the local cloud: what `npm start` and the end-to-end tests share. This is the
 * only place that knows Herald's own configuration (dev auth, the state file); the local cloud does not.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { ENV } from '../lambdas/config';
import { type LocalCloud, type LocalCloudOptions, startLocalCloud } from './cloud/local-cloud';
import { type LocalState, REPO_ROOT, STATE_FILE } from './state';

export { type LocalState, REPO_ROOT, readLocalState, STATE_FILE } from './state';

export class JavaMissingError extends Error {
  override readonly name = 'JavaMissingError';
}

/** DynamoDB Local needs Java 17+: say so before spending 20 s on synthesis. */
export function checkJava(): void {
  const java = process.env.JAVA_HOME ? join(process.env.JAVA_HOME, 'bin', 'java') : 'java';
  try {
    execFileSync(java, ['-version'], { stdio: 'ignore' });
  } catch {
    throw new JavaMissingError(
      "Java was not found, and DynamoDB Local (AWS's own engine, run by the local cloud) needs Java 17 or later.\n" +
        'Install it with:  sudo apt-get install -y openjdk-17-jre-headless   (Debian/Ubuntu)\n' +
        '              or:  brew install openjdk@17                         (macOS)',
    );
  }
}

export interface LocalHerald {
  readonly cloud: LocalCloud;
  readonly state: LocalState;
  stop(): Promise<void>;
}

/** Synthesizes Herald with development auth and runs it on the local cloud. */
export async function startLocalHerald(
  options: Omit<LocalCloudOptions, 'appDir'> & {
    /** Write .herald/local.json for `npm run token`. @default true */
    readonly writeStateFile?: boolean;
  } = {},
): Promise<LocalHerald> {
  checkJava();
  const { writeStateFile = true, ...cloudOptions } = options;
  const cloud = await startLocalCloud({
    appDir: REPO_ROOT,
    ...cloudOptions,
    context: { 'herald:auth': 'dev', ...options.context },
  });
  try {
    const api = cloud.webSocketApis[0];
    if (!api) throw new Error('the synthesized app has no WebSocket API');
    const authorizer = cloud.stacks
      .flatMap((s) => s.functions)
      .find((f) => f.environment[ENV.AUTH_MODE] === 'dev' && f.environment[ENV.AUTH_DEV_SECRET_ARN]);
    if (!authorizer) throw new Error('no authorizer in development auth mode was found in the template');
    const state: LocalState = {
      pid: process.pid,
      wsUrl: api.url,
      callbackUrl: api.callbackUrl,
      region: cloud.stacks[0]?.context.region ?? 'us-east-1',
      secretsManagerEndpoint: cloud.endpoints.secretsManager,
      auth: {
        secretArn: authorizer.environment[ENV.AUTH_DEV_SECRET_ARN] ?? '',
        issuer: authorizer.environment[ENV.AUTH_ISSUER] ?? '',
        audience: authorizer.environment[ENV.AUTH_AUDIENCE] ?? '',
      },
    };
    if (writeStateFile) {
      mkdirSync(dirname(STATE_FILE), { recursive: true });
      writeFileSync(STATE_FILE, `${JSON.stringify(state, null, 2)}\n`);
    }
    return { cloud, state, stop: () => cloud.stop() };
  } catch (error) {
    await cloud.stop();
    throw error;
  }
}
