import { Inject, Injectable, type OnModuleDestroy, type OnModuleInit } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import type { NextFunction, Request, Response } from 'express';
import express from 'express';
import { Partitioners, type Kafka, type Message, type Producer } from 'kafkajs';

import { WorkspaceDirectory } from '@vevee/command';
import { personKey } from '@vevee/contracts';
import { KAFKA, ingestTopic } from '@vevee/kafka';
import { CONFIG, LOGGER, type Logger, type VeveeConfig } from '@vevee/platform';

import { INGEST_METRICS, type IngestMetrics } from './ingest-metrics';
import { validateEvent } from './ingest-record';
import { checkWorkspace } from './ingest-sink';

/** The URL path of the batch endpoint. */
export const EVENTS_BATCH_PATH = '/v1/events:batch';
/** The maximum number of events in one request. */
export const MAX_BATCH_EVENTS = 1_000;
/** The largest request body accepted, in bytes. */
export const MAX_BATCH_BODY_BYTES = 1024 * 1024;

const BEARER = /^Bearer\s+(\S+)\s*$/i;

/** The outcome of one event of a batch request, at the event's index in the request. */
export type EventResult =
  | { index: number; eventId: string | undefined; status: 'accepted' }
  | { index: number; eventId: string | undefined; status: 'rejected'; field: string; reason: string };

function sendError(response: Response, status: number, code: string, message: string): void {
  response.status(status).json({ code, message });
}

function eventIdOf(event: unknown): string | undefined {
  const eventId = (event as { eventId?: unknown } | null)?.eventId;
  return typeof eventId === 'string' ? eventId : undefined;
}

/**
 * `POST /v1/events:batch`: validates a batch of events of the API key's
 * workspace and produces the valid ones to the ingest topic, where the sink
 * stores them like any other producer's records. The response lists each
 * event as accepted (durable in the ingest topic) or rejected with its field
 * and reason. One bad event does not reject the others.
 */
@Injectable()
export class IngestHttp implements OnModuleInit, OnModuleDestroy {
  private readonly logger: Logger;
  private producer: Promise<Producer> | undefined;

  constructor(
    @Inject(HttpAdapterHost) private readonly adapterHost: HttpAdapterHost,
    @Inject(KAFKA) private readonly kafka: Kafka,
    @Inject(CONFIG) private readonly config: VeveeConfig,
    @Inject(WorkspaceDirectory) private readonly workspaces: WorkspaceDirectory,
    @Inject(INGEST_METRICS) private readonly metrics: IngestMetrics,
    @Inject(LOGGER) logger: Logger,
  ) {
    this.logger = logger.child({ component: 'ingest-http' });
  }

  onModuleInit(): void {
    const adapter = this.adapterHost.httpAdapter as { getInstance(): express.Express } | undefined;
    // An application context without an HTTP server serves no endpoint.
    if (adapter === undefined) return;
    const server = adapter.getInstance();
    const readBody = express.raw({ type: () => true, limit: MAX_BATCH_BODY_BYTES });
    server.use((request: Request, response: Response, next: NextFunction) => {
      if (request.path !== EVENTS_BATCH_PATH) {
        next();
        return;
      }
      if (request.method !== 'POST') {
        response.setHeader('allow', 'POST');
        sendError(response, 405, 'method_not_allowed', `use POST for ${EVENTS_BATCH_PATH}`);
        return;
      }
      readBody(request, response, (error?: unknown) => {
        if (error !== undefined) {
          const status = (error as { status?: number }).status;
          if (status === 413) {
            sendError(response, 413, 'resource_exhausted', `request body is over ${MAX_BATCH_BODY_BYTES} bytes; send at most ${MAX_BATCH_EVENTS} events per request in smaller requests`);
          } else {
            sendError(response, 400, 'invalid_argument', `request body cannot be read: ${(error as Error).message}`);
          }
          return;
        }
        this.handle(request, response).catch((failure: unknown) => {
          this.logger.error({ err: failure }, 'events batch request failed');
          if (!response.headersSent) sendError(response, 500, 'internal', 'events batch request failed; see the server log');
        });
      });
    });
  }

  async onModuleDestroy(): Promise<void> {
    const producer = this.producer;
    this.producer = undefined;
    await (await producer?.catch(() => undefined))?.disconnect();
  }

  private async handle(request: Request, response: Response): Promise<void> {
    const match = BEARER.exec(request.headers.authorization ?? '');
    if (match === null) {
      response.setHeader('www-authenticate', 'Bearer');
      sendError(response, 401, 'unauthenticated', 'missing API key: send the header "Authorization: Bearer <api key>"');
      return;
    }
    const workspaceId = this.workspaces.authenticate(match[1]!);
    if (workspaceId === undefined) {
      response.setHeader('www-authenticate', 'Bearer');
      sendError(response, 401, 'unauthenticated', 'invalid API key: check the key, or create a new one for the workspace');
      return;
    }

    const events = this.readEvents(request.body as Buffer, response);
    if (events === undefined) return;

    const results: EventResult[] = [];
    const messages: Message[] = [];
    const window = { referenceMs: Date.now(), maxAgeMs: this.config.ingestMaxAgeMs, maxFutureMs: this.config.ingestMaxFutureMs };
    const seen = new Map<string, { index: number; value: string }>();
    events.forEach((raw, index) => {
      const eventId = eventIdOf(raw);
      const rejected = (field: string, reason: string) => results.push({ index, eventId, status: 'rejected', field, reason });
      if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
        rejected('value', 'each event must be a JSON object');
        return;
      }
      const record = raw as Record<string, unknown>;
      if (record.workspaceId !== undefined && record.workspaceId !== workspaceId) {
        rejected('workspaceId', `workspaceId "${String(record.workspaceId).slice(0, 128)}" is not the API key's workspace: omit it or send "${workspaceId}"`);
        return;
      }
      const withWorkspace = { ...record, workspaceId };
      const parsed = validateEvent(withWorkspace, window);
      if (!parsed.ok) {
        rejected(parsed.rejection.field, parsed.rejection.reason);
        return;
      }
      const rejection = checkWorkspace(this.workspaces, parsed.event);
      if (rejection !== undefined) {
        rejected(rejection.field, rejection.reason);
        return;
      }
      // The sink keeps the first of two events with one eventId and sends a different second one to the dead-letter topic, so it is rejected here.
      const value = JSON.stringify(withWorkspace);
      const earlier = seen.get(parsed.event.eventId);
      if (earlier !== undefined && earlier.value !== value) {
        rejected('eventId', `eventId "${parsed.event.eventId}" repeats event ${earlier.index} of this request with other values: send a new eventId for a new event`);
        return;
      }
      if (earlier === undefined) seen.set(parsed.event.eventId, { index, value });
      results.push({ index, eventId, status: 'accepted' });
      messages.push({ key: personKey(workspaceId, parsed.event.personId), value });
    });

    if (messages.length > 0) {
      try {
        const producer = await this.producerOnce();
        await producer.send({ topic: ingestTopic(this.config), acks: -1, messages });
      } catch (error) {
        this.logger.error({ err: error, workspaceId, events: messages.length }, 'producing events to the ingest topic failed');
        sendError(response, 503, 'unavailable', 'the ingest topic cannot be written now; retry the same events, which the eventIds deduplicate');
        return;
      }
    }

    const accepted = messages.length;
    this.metrics.httpEvents.inc({ outcome: 'accepted' }, accepted);
    this.metrics.httpEvents.inc({ outcome: 'rejected' }, results.length - accepted);
    response.json({ accepted, rejected: results.length - accepted, results });
  }

  /** Returns the request's events, or undefined after sending a 400 that explains what is wrong with the body. */
  private readEvents(body: Buffer, response: Response): unknown[] | undefined {
    let parsed: unknown;
    try {
      parsed = JSON.parse(Buffer.isBuffer(body) ? body.toString('utf8') : '');
    } catch (error) {
      sendError(response, 400, 'invalid_argument', `request body is not valid JSON (${(error as Error).message}): send {"events": [...]}`);
      return undefined;
    }
    const events = (parsed as { events?: unknown } | null)?.events;
    if (!Array.isArray(events)) {
      sendError(response, 400, 'invalid_argument', 'events is missing: send {"events": [...]} with 1 to 1000 event objects');
      return undefined;
    }
    if (events.length === 0 || events.length > MAX_BATCH_EVENTS) {
      sendError(response, 400, 'invalid_argument', `events has ${events.length} entries: send 1 to ${MAX_BATCH_EVENTS} per request`);
      return undefined;
    }
    return events;
  }

  /** Connects the producer on the first request; concurrent first requests share one connection. */
  private producerOnce(): Promise<Producer> {
    if (this.producer === undefined) {
      // The Java client's murmur2 partitioner, so a person's records share a partition whichever client produces them.
      const producer = this.kafka.producer({ idempotent: true, maxInFlightRequests: 1, createPartitioner: Partitioners.DefaultPartitioner });
      const connected = producer.connect().then(() => producer);
      // A failed connection is not kept, so the next request tries again.
      connected.catch(() => {
        if (this.producer === connected) this.producer = undefined;
      });
      this.producer = connected;
    }
    return this.producer;
  }
}
