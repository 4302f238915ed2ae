import type { ConnectRouter, Interceptor } from '@connectrpc/connect';
import { connectNodeAdapter } from '@connectrpc/connect-node';
import type { INestApplication } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { NextFunction, Request, Response } from 'express';
import express from 'express';
import type { Registry } from 'prom-client';

import type { VeveeConfig } from './config';
import type { Logger } from './logger';
import type { Deferred } from './platform.module';
import { HTTP_URL, METRICS, READINESS, RPC_ROUTES } from './tokens';

/** The RPC surface a module contributes to the HTTP server. */
export interface RpcRoutes {
  /** The URL path prefix of the routes, for example `/vevee.v1.QuotaService/`. */
  pathPrefix: string;
  /** Every method name under the prefix, such as `Reserve`. */
  methods: string[];
  /** The methods that an unknown method's error lists: the public ones. */
  documentedMethods: string[];
  routes: (router: ConnectRouter) => void;
  interceptors: Interceptor[];
}

/** Content types of the protocols Connect serves: Connect, gRPC and gRPC-Web. */
const RPC_CONTENT_TYPES = ['application/json', 'application/proto', 'application/connect+', 'application/grpc'];

/** Whether a process can serve requests now, as opposed to merely running. */
export interface Readiness {
  isReady(): boolean;
}

export interface HttpApp {
  app: INestApplication;
  /** The base URL the server listens on, for example `http://127.0.0.1:4000`. */
  url: string;
}

function optional<T>(app: INestApplication, token: symbol): T | undefined {
  try {
    return app.get<T>(token, { strict: false });
  } catch {
    // The module that provides it is not part of this process.
    return undefined;
  }
}

/**
 * Starts a Nest application with one HTTP server for everything the composed
 * modules serve: Connect RPC routes, GraphQL, `/metrics` and `/healthz`.
 * Nest's own body parsers stay off, because Connect reads raw request bodies;
 * JSON parsing is added for `/graphql` only.
 */
export async function startHttpApp(rootModule: unknown, config: VeveeConfig, logger: Logger): Promise<HttpApp> {
  const app = await NestFactory.create(rootModule as never, { bodyParser: false, logger: false });
  app.enableShutdownHooks();
  const server = app.getHttpAdapter().getInstance() as express.Express;

  const rpc = optional<RpcRoutes>(app, RPC_ROUTES);
  if (rpc !== undefined) {
    const adapter = connectNodeAdapter({
      routes: rpc.routes,
      interceptors: rpc.interceptors,
      readMaxBytes: config.rpcMaxBodyBytes,
      // A misspelt field is an error, not a silent default, and replies carry
      // every field, `allowed: false` included.
      jsonOptions: { ignoreUnknownFields: false, alwaysEmitImplicit: true },
    });
    server.use((request: Request, response: Response, next: NextFunction) => {
      if (!request.path.startsWith(rpc.pathPrefix)) {
        next();
        return;
      }
      // Connect replies to these three with an empty body, so each gets its reason and fix here.
      const method = request.path.slice(rpc.pathPrefix.length);
      if (!rpc.methods.includes(method)) {
        response.status(404).json({ code: 'unimplemented', message: `unknown method "${method}" of ${rpc.pathPrefix}: call one of ${rpc.documentedMethods.join(', ')}` });
        return;
      }
      if (request.method !== 'POST') {
        response.status(405).setHeader('allow', 'POST');
        response.json({ code: 'unimplemented', message: `${request.method} is not supported for ${request.path}: send a POST request` });
        return;
      }
      const contentType = (request.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
      if (!RPC_CONTENT_TYPES.some((known) => contentType.startsWith(known))) {
        const sent = contentType === '' ? 'no content-type header' : `content-type "${contentType}"`;
        response.status(415).json({ code: 'invalid_argument', message: `${sent} is not supported: send the body as application/json or application/proto` });
        return;
      }
      // Connect enforces the same limit while reading a body without a length;
      // this check rejects a declared oversize body before reading it, with the fix.
      const declared = Number(request.headers['content-length'] ?? 0);
      if (declared > config.rpcMaxBodyBytes) {
        response.status(429).json({
          code: 'resource_exhausted',
          message: `request body of ${declared} bytes is over the limit of ${config.rpcMaxBodyBytes} bytes; send a smaller body or raise RPC_MAX_BODY_BYTES`,
        });
        return;
      }
      adapter(request, response);
    });
  }
  server.use('/graphql', express.json({ limit: config.rpcMaxBodyBytes }));

  const registry = optional<Registry>(app, METRICS);
  server.get('/metrics', async (_request: Request, response: Response) => {
    response.setHeader('content-type', registry?.contentType ?? 'text/plain');
    response.end(registry === undefined ? '' : await registry.metrics());
  });
  server.get('/healthz', (_request: Request, response: Response) => {
    response.json({ status: 'ok' });
  });
  const readiness = optional<Readiness>(app, READINESS);
  server.get('/readyz', (_request: Request, response: Response) => {
    const ready = readiness?.isReady() ?? true;
    response.status(ready ? 200 : 503).json({ status: ready ? 'ready' : 'starting' });
  });

  await app.listen(config.httpPort, config.host);
  const address = app.getHttpServer().address() as { port: number };
  const url = `http://${config.host}:${address.port}`;
  logger.info({ url }, 'http server started');
  optional<Deferred<string>>(app, HTTP_URL)?.resolve(url);
  return { app, url };
}
