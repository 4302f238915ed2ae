import { createClient, type Client } from '@connectrpc/connect';
import { createConnectTransport } from '@connectrpc/connect-node';

import { QuotaService } from '@vevee/contracts';

import { REPLICA_TOKEN_HEADER } from './replica-token';

/** Marks a request that one replica forwarded to another, so it is never forwarded twice. */
export const FORWARDED_HEADER = 'vevee-forwarded';

type QuotaClient = Client<typeof QuotaService>;

/** Clients of the other command replicas, one per URL, reused across requests. */
export class Forwarder {
  private readonly clients = new Map<string, QuotaClient>();

  clientFor(url: string): QuotaClient {
    let client = this.clients.get(url);
    if (client === undefined) {
      client = createClient(QuotaService, createConnectTransport({ baseUrl: url, httpVersion: '1.1', useBinaryFormat: true }));
      this.clients.set(url, client);
    }
    return client;
  }

  /** Headers for a forwarded call: the caller's API key, the loop guard and the replica token. */
  static headers(authorization: string | null, replicaToken: string): Headers {
    const headers = new Headers({ [FORWARDED_HEADER]: '1', [REPLICA_TOKEN_HEADER]: replicaToken });
    if (authorization !== null) headers.set('authorization', authorization);
    return headers;
  }
}
