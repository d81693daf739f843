import { mkdirSync } from 'node:fs';
import { buildApp } from 'fauxqs';

// fauxqs (an SQS emulator speaking the JSON protocol of the current SDK) inside this process, bound to 127.0.0.1
// only: its CLI and startFauxqs() listen on 0.0.0.0, so this builds the app and listens itself.
// Its queue URLs look like http://sqs.us-east-1.localhost:<port>/000000000000/<name>: build SQS clients with
// `useQueueUrlAsEndpoint: false` (see aws-clients.ts), or the SDK sends calls to that unresolvable host.

export interface SqsOptions {
  /** Port to listen on; 0 (the default) picks a free port. */
  port?: number;
  /** Keep queues and messages in SQLite files in this directory, across restarts. @default in memory */
  dataDir?: string;
}

export interface LocalSqs {
  endpoint: string;
  stop(): Promise<void>;
}

const HOST = '127.0.0.1';

export async function startSqs(opts: SqsOptions = {}): Promise<LocalSqs> {
  const app = buildApp({
    logger: false,
    ...(opts.dataDir ? { stores: await persistentStores(opts.dataDir) } : {}),
  });
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

/**
 * fauxqs wires SQLite persistence only inside `startFauxqs`, which listens on 0.0.0.0. These are the same steps
 * with its internal modules (not in its exports map, so loaded by file URL; pinned by our lockfile).
 */
async function persistentStores(dataDir: string) {
  const dist = new URL('.', import.meta.resolve('fauxqs'));
  const load = (path: string) => import(new URL(path, dist).href);
  const [{ SqsStore }, { SnsStore }, { S3Store }, { PersistenceManager }] = await Promise.all([
    load('sqs/sqsStore.js'),
    load('sns/snsStore.js'),
    load('s3/s3Store.js'),
    load('persistence.js'),
  ]);
  mkdirSync(dataDir, { recursive: true });
  const sqsStore = new SqsStore();
  const snsStore = new SnsStore();
  const s3Store = new S3Store();
  const persistence = new PersistenceManager(dataDir);
  persistence.load(sqsStore, snsStore, s3Store);
  sqsStore.persistence = persistence;
  snsStore.persistence = persistence;
  s3Store.persistence = persistence;
  for (const queue of sqsStore.allQueues()) queue.persistence = persistence;
  return { sqsStore, snsStore, s3Store };
}
