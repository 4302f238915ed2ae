/** Nest injection tokens shared by every service. */
export const CONFIG = Symbol('VeveeConfig');
export const LOGGER = Symbol('Logger');
export const METRICS = Symbol('MetricsRegistry');
/** Connect routes that the HTTP bootstrap mounts, provided by the command service. */
export const RPC_ROUTES = Symbol('RpcRoutes');
/** A Deferred<string> that resolves to the HTTP server's base URL once it listens. */
export const HTTP_URL = Symbol('HttpUrl');
/** A `Readiness` that `/readyz` consults: a module that serves only after it recovers provides it. */
export const READINESS = Symbol('Readiness');
