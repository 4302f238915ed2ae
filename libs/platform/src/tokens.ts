/** Nest injection tokens shared by every service. */
export const CONFIG = Symbol('VeveeConfig');
export const LOGGER = Symbol('Logger');
export const METRICS = Symbol('MetricsRegistry');
/** Connect routes that the HTTP bootstrap mounts, provided by the command service. */
export const RPC_ROUTES = Symbol('RpcRoutes');
