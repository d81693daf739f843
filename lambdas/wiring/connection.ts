import { DynamoConnectionStore } from '../adapters/dynamo-connection-store';
import { connectConfig, loadConfig } from '../config';
import type { ConnectionStore } from '../core/ports';
import { documentClient } from './dynamodb';
import { once } from './once';

/** $connect and $disconnect: the connection store (presence comes from `./presence`). */
export const connectionDeps = /* @__PURE__ */ once((): { connections: ConnectionStore } => {
  const config = loadConfig(connectConfig, process.env);
  return {
    connections: new DynamoConnectionStore(documentClient(), config.CONNECTIONS_TABLE),
  };
});
