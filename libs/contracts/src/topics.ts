/** The ledger: every state change of a person, keyed `workspaceId:personId`. */
export const LEDGER_TOPIC = 'vevee.ledger.v1';

/** Usage events that customers' pipelines produce, keyed `workspaceId:personId` (docs/ingest.md). */
export const INGEST_TOPIC = 'vevee.ingest.v1';

/** Ingest records that failed validation: the original key and bytes, with the reason in headers. */
export const INGEST_DLQ_TOPIC = 'vevee.ingest.dlq.v1';

/**
 * Workspace catalogs (meters, plans, plan versions), keyed `workspaceId`, one
 * record per change with the whole catalog and its `version`. Compacted, so
 * it keeps at least the latest catalog of each workspace.
 */
export const CATALOG_TOPIC = 'vevee.catalog.v1';

/** The partition count the local stack creates the ledger with. */
export const DEFAULT_LEDGER_PARTITIONS = 12;

/**
 * Returns a topic name inside a namespace. Test runs pass their own namespace
 * so that each run writes to topics of its own on a shared broker.
 */
export function namespacedTopic(namespace: string, topic: string): string {
  return namespace === '' ? topic : `${namespace}.${topic}`;
}

/** Returns the record key that totally orders one person's events. */
export function personKey(workspaceId: string, personId: string): string {
  return `${workspaceId}:${personId}`;
}

const RESERVATION_PREFIX = 'rsv_';

/**
 * Builds a reservation id that carries its person id, so that commit and
 * release route to the person's decider with the reservation id alone.
 */
export function reservationIdFor(personId: string, unique: string): string {
  return `${RESERVATION_PREFIX}${Buffer.from(personId, 'utf8').toString('base64url')}.${unique}`;
}

/** Returns the person id inside a reservation id, or undefined when it is malformed. */
export function personIdOfReservation(reservationId: string): string | undefined {
  if (!reservationId.startsWith(RESERVATION_PREFIX)) return undefined;
  const dot = reservationId.indexOf('.', RESERVATION_PREFIX.length);
  if (dot <= RESERVATION_PREFIX.length || dot === reservationId.length - 1) return undefined;
  const personId = Buffer.from(reservationId.slice(RESERVATION_PREFIX.length, dot), 'base64url').toString('utf8');
  return personId === '' ? undefined : personId;
}
