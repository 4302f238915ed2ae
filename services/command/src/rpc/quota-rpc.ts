import { timestampFromMs, timestampMs, type Timestamp } from '@bufbuild/protobuf/wkt';
import type { ConnectRouter, HandlerContext } from '@connectrpc/connect';
import { Code, ConnectError } from '@connectrpc/connect';
import { Inject, Injectable } from '@nestjs/common';
import { CommandBus } from '@nestjs/cqrs';

import { QuotaService, personIdOfReservation, type SubscriptionStatus, type SubscriptionTerms } from '@vevee/contracts';
import { DEFAULT_RESERVATION_TTL_SECONDS } from '@vevee/domain';
import { LOGGER, type Logger, type RpcRoutes } from '@vevee/platform';

import {
  CheckQuotaCommand,
  CommitQuotaCommand,
  GrantCreditsCommand,
  ReleaseQuotaCommand,
  ReserveQuotaCommand,
  TrackUsageCommand,
  UpsertSubscriptionCommand,
} from '../commands/quota.commands';
import { QuotaDecider } from '../decider/quota-decider';
import { unavailable } from '../errors';
import { WorkspaceDirectory } from '../workspaces';
import { FORWARDED_HEADER, Forwarder } from './forwarder';
import { WORKSPACE_ID, authInterceptor } from './auth';
import { toConnectError } from './error-mapping';
import {
  CheckRequestBody,
  CommitRequestBody,
  GrantCreditsRequestBody,
  ReleaseRequestBody,
  ReserveRequestBody,
  TrackRequestBody,
  UpsertSubscriptionRequestBody,
  validateRequest,
} from './requests';

/** Converts an optional protobuf Timestamp to epoch milliseconds for validation. */
function instantOf(timestamp: Timestamp | undefined): number | undefined {
  return timestamp === undefined ? undefined : timestampMs(timestamp);
}

function subscriptionOf(terms: SubscriptionTerms | null | undefined) {
  return terms === null || terms === undefined ? undefined : { planId: terms.planId, status: terms.status, startsAt: timestampFromMs(terms.startsAt) };
}

function personOfReservation(reservationId: string): string {
  const personId = personIdOfReservation(reservationId);
  if (personId === undefined) {
    throw new ConnectError(`invalid reservationId "${reservationId.slice(0, 80)}": send the id that Reserve returned`, Code.InvalidArgument);
  }
  return personId;
}

/**
 * The Connect implementation of vevee.v1.QuotaService: validate, then hand the
 * command to the bus when this replica owns the person, or forward the request
 * to the replica that does.
 */
@Injectable()
export class QuotaRpc {
  private readonly forwarder = new Forwarder();

  constructor(
    @Inject(CommandBus) private readonly commandBus: CommandBus,
    @Inject(WorkspaceDirectory) private readonly workspaces: WorkspaceDirectory,
    @Inject(QuotaDecider) private readonly decider: QuotaDecider,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {}

  routes(): RpcRoutes {
    return {
      pathPrefix: `/${QuotaService.typeName}/`,
      interceptors: [authInterceptor(this.workspaces)],
      routes: (router: ConnectRouter) => this.register(router),
    };
  }

  private register(router: ConnectRouter): void {
    router.service(QuotaService, {
      reserve: (request, context) =>
        this.run(async () => {
          const body = validateRequest(new ReserveRequestBody(), { ...request }, 'ReserveRequest');
          const url = this.ownerElsewhere(context, body.personId);
          if (url !== undefined) return this.forward(url, context, (client, options) => client.reserve(request, options));
          const reply = await this.commandBus.execute(
            new ReserveQuotaCommand({
              kind: 'reserve',
              workspaceId: workspaceOf(context),
              personId: body.personId,
              meter: body.meter,
              quantity: body.quantity,
              idempotencyKey: body.idempotencyKey,
              ttlSeconds: body.ttlSeconds ?? DEFAULT_RESERVATION_TTL_SECONDS,
            }),
          );
          return {
            allowed: reply.allowed,
            reservationId: reply.reservationId,
            remaining: reply.remaining,
            limit: reply.limit,
            period: reply.period,
            resetsAt: timestampFromMs(reply.resetsAt),
            expiresAt: reply.expiresAt === undefined ? undefined : timestampFromMs(reply.expiresAt),
            reason: reply.reason,
            creditQuantity: reply.creditQuantity,
            softExceeded: reply.softExceeded,
          };
        }),

      check: (request, context) =>
        this.run(async () => {
          const body = validateRequest(new CheckRequestBody(), { ...request }, 'CheckRequest');
          const url = this.ownerElsewhere(context, body.personId);
          if (url !== undefined) return this.forward(url, context, (client, options) => client.check(request, options));
          const reply = await this.commandBus.execute(
            new CheckQuotaCommand({ kind: 'check', workspaceId: workspaceOf(context), personId: body.personId, meter: body.meter, quantity: body.quantity }),
          );
          return {
            allowed: reply.allowed,
            remaining: reply.remaining,
            limit: reply.limit,
            period: reply.period,
            resetsAt: timestampFromMs(reply.resetsAt),
            reason: reply.reason,
            creditQuantity: reply.creditQuantity,
            softExceeded: reply.softExceeded,
          };
        }),

      upsertSubscription: (request, context) =>
        this.run(async () => {
          const fields = { ...request, startsAt: instantOf(request.startsAt), occurredAt: instantOf(request.occurredAt) };
          const body = validateRequest(new UpsertSubscriptionRequestBody(), fields, 'UpsertSubscriptionRequest');
          const url = this.ownerElsewhere(context, body.personId);
          if (url !== undefined) return this.forward(url, context, (client, options) => client.upsertSubscription(request, options));
          const reply = await this.commandBus.execute(
            new UpsertSubscriptionCommand({
              kind: 'upsertSubscription',
              workspaceId: workspaceOf(context),
              personId: body.personId,
              planId: body.planId,
              status: body.status as SubscriptionStatus,
              startsAt: body.startsAt,
              source: body.source,
              externalId: body.externalId,
              occurredAt: body.occurredAt!,
              effective: body.effective === 'next_period' ? 'next_period' : 'immediately',
              reason: body.reason ?? '',
            }),
          );
          return {
            applied: reply.applied,
            outcome: reply.outcome,
            current: subscriptionOf(reply.current),
            scheduled: subscriptionOf(reply.scheduled?.terms),
            scheduledAt: reply.scheduled === null ? undefined : timestampFromMs(reply.scheduled.effectiveAt),
          };
        }),

      grantCredits: (request, context) =>
        this.run(async () => {
          const fields = {
            ...request,
            effectiveAt: instantOf(request.effectiveAt),
            expiresAt: instantOf(request.expiresAt),
            recurrencePeriod: request.recurrence?.period,
            rolloverCap: request.recurrence?.rolloverCap,
            rolloverExpiresAfterSeconds: request.recurrence?.rolloverExpiresAfterSeconds === undefined ? undefined : Number(request.recurrence.rolloverExpiresAfterSeconds),
          };
          const body = validateRequest(new GrantCreditsRequestBody(), fields, 'GrantCreditsRequest');
          const url = this.ownerElsewhere(context, body.personId);
          if (url !== undefined) return this.forward(url, context, (client, options) => client.grantCredits(request, options));
          const period = body.recurrencePeriod as 'day' | 'week' | 'month' | undefined;
          const reply = await this.commandBus.execute(
            new GrantCreditsCommand({
              kind: 'grantCredits',
              workspaceId: workspaceOf(context),
              personId: body.personId,
              idempotencyKey: body.idempotencyKey,
              meter: body.meter,
              amount: body.amount,
              priority: body.priority,
              effectiveAt: body.effectiveAt,
              expiresAt: body.expiresAt ?? null,
              recurrence:
                period === undefined
                  ? null
                  : {
                      period,
                      rolloverCap: body.rolloverCap ?? 0,
                      rolloverExpiresAfterMs: body.rolloverExpiresAfterSeconds === undefined ? null : body.rolloverExpiresAfterSeconds * 1000,
                    },
              reason: body.reason ?? '',
            }),
          );
          return { grantId: reply.grantId, balance: reply.balance };
        }),

      commit: (request, context) =>
        this.run(async () => {
          const body = validateRequest(new CommitRequestBody(), { ...request }, 'CommitRequest');
          const url = this.ownerElsewhere(context, personOfReservation(body.reservationId));
          if (url !== undefined) return this.forward(url, context, (client, options) => client.commit(request, options));
          const reply = await this.commandBus.execute(
            new CommitQuotaCommand({
              kind: 'commit',
              workspaceId: workspaceOf(context),
              personId: personOfReservation(body.reservationId),
              reservationId: body.reservationId,
              quantity: body.quantity ?? 0,
              cost: body.cost,
              currency: body.currency ?? '',
              metadata: body.metadata ?? {},
              idempotencyKey: body.idempotencyKey ?? `commit:${body.reservationId}`,
            }),
          );
          return { ...reply };
        }),

      release: (request, context) =>
        this.run(async () => {
          const body = validateRequest(new ReleaseRequestBody(), { ...request }, 'ReleaseRequest');
          const url = this.ownerElsewhere(context, personOfReservation(body.reservationId));
          if (url !== undefined) return this.forward(url, context, (client, options) => client.release(request, options));
          const reply = await this.commandBus.execute(
            new ReleaseQuotaCommand({
              kind: 'release',
              workspaceId: workspaceOf(context),
              personId: personOfReservation(body.reservationId),
              reservationId: body.reservationId,
              idempotencyKey: body.idempotencyKey ?? `release:${body.reservationId}`,
            }),
          );
          return { ...reply };
        }),

      track: (request, context) =>
        this.run(async () => {
          const body = validateRequest(new TrackRequestBody(), { ...request }, 'TrackRequest');
          const url = this.ownerElsewhere(context, body.personId);
          if (url !== undefined) return this.forward(url, context, (client, options) => client.track(request, options));
          const reply = await this.commandBus.execute(
            new TrackUsageCommand({
              kind: 'track',
              workspaceId: workspaceOf(context),
              personId: body.personId,
              eventType: body.eventType,
              meter: body.meter ?? '',
              quantity: body.quantity,
              cost: body.cost,
              currency: body.currency ?? '',
              metadata: body.metadata ?? {},
              idempotencyKey: body.idempotencyKey,
            }),
          );
          return { eventId: reply.eventId };
        }),
    });
  }

  /**
   * Returns the URL of the replica that decides for the person, or undefined
   * when it is this one. A request that was already forwarded once is never
   * forwarded again: ownership is moving, and the caller retries.
   */
  private ownerElsewhere(context: HandlerContext, personId: string): string | undefined {
    const route = this.decider.locate(workspaceOf(context), personId);
    if (route.kind === 'local') return undefined;
    if (route.kind === 'unknown' || context.requestHeader.get(FORWARDED_HEADER) !== null) {
      throw unavailable('the person\'s ledger partition is changing owner; retry with the same idempotency key');
    }
    return route.url;
  }

  private async forward<T>(url: string, context: HandlerContext, call: (client: ReturnType<Forwarder['clientFor']>, options: { headers: Headers; signal: AbortSignal }) => Promise<T>): Promise<T> {
    try {
      const reply = await call(this.forwarder.clientFor(url), { headers: Forwarder.headers(context.requestHeader.get('authorization')), signal: context.signal });
      this.decider.countForward('ok');
      return reply;
    } catch (error) {
      this.decider.countForward('error');
      // These codes come from the connection to the owner, not from its reply,
      // and every command carries an idempotency key, so the caller may retry.
      const connectionCodes = [Code.Aborted, Code.Canceled, Code.Unknown, Code.DeadlineExceeded];
      if (error instanceof ConnectError && !connectionCodes.includes(error.code)) throw error;
      throw unavailable(`forwarding to the owner at ${url} failed; retry with the same idempotency key`, error);
    }
  }

  private async run<T>(handle: () => Promise<T>): Promise<T> {
    try {
      return await handle();
    } catch (error) {
      throw toConnectError(error, this.logger);
    }
  }
}

function workspaceOf(context: HandlerContext): string {
  return context.values.get(WORKSPACE_ID);
}
