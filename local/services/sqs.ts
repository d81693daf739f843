import { buildApp } from 'fauxqs';

// fauxqs (an SQS emulator speaking the JSON protocol of the current SDK) inside this process, bound to 127.0.0.1
// only: its CLI and startFauxqs() listen on 0.0.0.0, so this builds the app and listens itself.
// Its queue URLs look like http://sqs.us-east-1.localhost:<port>/000000000000/<name>: build SQS clients with
// `useQueueUrlAsEndpoint: false` (see aws-clients.ts), or the SDK sends calls to that unresolvable host.

export interface SqsOptions {
  /** Port to listen on; 0 (the default) picks a free port. */
  port?: number;
}

export interface LocalSqs {
  endpoint: string;
  stop(): Promise<void>;
}

const HOST = '127.0.0.1';

export async function startSqs(opts: SqsOptions = {}): Promise<LocalSqs> {
  const app = buildApp({ logger: false });
  await app.listen({ host: HOST, port: opts.port ?? 0 });
  const address = app.server.address();
  if (typeof address !== 'object' || !address) {
    await app.close();
    throw new Error(`fauxqs did not report the port it listens on (${String(address)})`);
  }
  return {
    endpoint: `http://${HOST}:${address.port}`,
    stop: async () => {
      await app.close();
    },
  };
}
