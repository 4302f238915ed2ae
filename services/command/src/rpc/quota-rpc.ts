import { timestampFromMs, timestampMs, type Timestamp } from '@bufbuild/protobuf/wkt';
import type { ConnectRouter, HandlerContext } from '@connectrpc/connect';
import { Code, ConnectError } from '@connectrpc/connect';
import { Inject, Injectable } from '@nestjs/common';
import { CommandBus, type Command } from '@nestjs/cqrs';

import { LIMIT_PERIODS, QuotaService, personIdOfReservation, type Period, type SubscriptionStatus, type SubscriptionTerms, type TransferredUsage, type UsageTransfer } from '@vevee/contracts';
import { DEFAULT_RESERVATION_TTL_SECONDS, MergedPersonError, type TransferOut } from '@vevee/domain';
import { LOGGER, type Logger, type RpcRoutes } from '@vevee/platform';

import { DecideCommand } from '../commands/quota.commands';
import { QuotaDecider } from '../decider/quota-decider';
import { unavailable } from '../errors';
import { WorkspaceDirectory } from '../workspaces';
import { FORWARDED_HEADER, Forwarder } from './forwarder';
import { REPLICA_TOKEN_HEADER, ReplicaToken } from './replica-token';
import { WORKSPACE_ID, authInterceptor } from './auth';
import { toConnectError } from './error-mapping';
import {
  AliasRequestBody,
  CheckRequestBody,
  CommitRequestBody,
  GrantCreditsRequestBody,
  ReleaseRequestBody,
  ReserveRequestBody,
  TrackRequestBody,
  TransferUsageRequestBody,
  UpsertSubscriptionRequestBody,
  INVALID_FIELDS_HEADER,
  validateRequest,
} from './requests';

/** Converts an optional protobuf Timestamp to epoch milliseconds for validation. */
function instantOf(timestamp: Timestamp | undefined): number | undefined {
  return timestamp === undefined ? undefined : timestampMs(timestamp);
}

function subscriptionOf(terms: SubscriptionTerms | null | undefined) {
  return terms === null || terms === undefined ? undefined : { planId: terms.planId, status: terms.status, startsAt: timestampFromMs(terms.startsAt) };
}

/** Carries the reply of the replica that ran a request for a merged person's target, out of the handler. */
class ReplyFromOwner {
  constructor(readonly reply: unknown) {}
}

/** How many merges a request follows from the person it names: a merged person's target may itself be merged. */
const MAX_MERGE_HOPS = 3;

function toWire(transfer: UsageTransfer): TransferredUsage {
  return {
    $typeName: 'vevee.v1.TransferredUsage',
    meter: transfer.meter,
    period: transfer.window.period,
    windowStart: timestampFromMs(transfer.window.start),
    windowEnd: timestampFromMs(transfer.window.end),
    used: transfer.used,
  };
}

/** Checks and converts the transfers of a TransferUsage request, naming the first invalid one. */
function fromWire(transfers: TransferredUsage[]): UsageTransfer[] {
  return transfers.map((transfer, index) => {
    const start = instantOf(transfer.windowStart);
    const end = instantOf(transfer.windowEnd);
    const valid =
      /^[A-Za-z][A-Za-z0-9_.-]{0,63}$/.test(transfer.meter) &&
      LIMIT_PERIODS.includes(transfer.period as Period) &&
      start !== undefined &&
      end !== undefined &&
      start < end &&
      Number.isFinite(transfer.used);
    if (!valid) {
      throw new ConnectError(
        `invalid TransferUsageRequest: transfers[${index}] needs a meter name, a period (${LIMIT_PERIODS.join(', ')}), windowStart before windowEnd and a finite used`,
        Code.InvalidArgument,
      );
    }
    return { meter: transfer.meter, window: { period: transfer.period as Period, start: start!, end: end! }, used: transfer.used };
  });
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
    @Inject(ReplicaToken) private readonly replicaToken: ReplicaToken,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {}

  routes(): RpcRoutes {
    return {
      pathPrefix: `/${QuotaService.typeName}/`,
      methods: QuotaService.methods.map((method) => method.name),
      // TransferUsage is internal to the replicas.
      documentedMethods: QuotaService.methods.map((method) => method.name).filter((name) => name !== 'TransferUsage'),
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
          const reply = await this.followMerges(context, body.personId, (personId) =>
            new DecideCommand({
              kind: 'reserve',
              workspaceId: workspaceOf(context),
              personId,
              meter: body.meter,
              quantity: body.quantity,
              idempotencyKey: body.idempotencyKey,
              ttlSeconds: body.ttlSeconds ?? DEFAULT_RESERVATION_TTL_SECONDS,
            }),
            (url, personId) => this.forward(url, context, (client, options) => client.reserve({ ...request, personId }, options)),
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
          const reply = await this.followMerges(
            context,
            body.personId,
            (personId) => new DecideCommand({ kind: 'check', workspaceId: workspaceOf(context), personId, meter: body.meter, quantity: body.quantity }),
            (url, personId) => this.forward(url, context, (client, options) => client.check({ ...request, personId }, options)),
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
          const reply = await this.followMerges(context, body.personId, (personId) =>
            new DecideCommand({
              kind: 'upsertSubscription',
              workspaceId: workspaceOf(context),
              personId,
              planId: body.planId,
              status: body.status as SubscriptionStatus,
              startsAt: body.startsAt,
              source: body.source,
              externalId: body.externalId,
              occurredAt: body.occurredAt!,
              effective: body.effective === 'next_period' ? 'next_period' : 'immediately',
              reason: body.reason ?? '',
            }),
            (url, personId) => this.forward(url, context, (client, options) => client.upsertSubscription({ ...request, personId }, options)),
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
          const reply = await this.followMerges(context, body.personId, (personId) =>
            new DecideCommand({
              kind: 'grantCredits',
              workspaceId: workspaceOf(context),
              personId,
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
            (url, personId) => this.forward(url, context, (client, options) => client.grantCredits({ ...request, personId }, options)),
          );
          return { grantId: reply.grantId, balance: reply.balance };
        }),

      alias: (request, context) =>
        this.run(async () => {
          const body = validateRequest(new AliasRequestBody(), { ...request }, 'AliasRequest');
          if (body.anonymousId === body.knownId) {
            const error = new ConnectError('invalid AliasRequest: knownId must differ from anonymousId', Code.InvalidArgument);
            error.metadata.set(INVALID_FIELDS_HEADER, 'knownId');
            throw error;
          }
          const url = this.ownerElsewhere(context, body.anonymousId);
          if (url !== undefined) return this.forward(url, context, (client, options) => client.alias(request, options));
          const knownId = await this.resolveKnownPerson(context, body.anonymousId, body.knownId);
          const reply = await this.commandBus.execute(
            new DecideCommand({ kind: 'mergeInto', workspaceId: workspaceOf(context), personId: body.anonymousId, targetPersonId: knownId }),
          );
          // A failure here leaves the usage with the anonymous person; repeating Alias delivers it, once.
          await this.deliverTransfer(context, body.anonymousId, reply.transfer);
          return { transferId: reply.transfer.transferId, transfers: reply.transfer.transfers.map(toWire) };
        }),

      transferUsage: (request, context) =>
        this.run(async () => {
          if (!this.replicaToken.matches(context.requestHeader.get(REPLICA_TOKEN_HEADER))) {
            throw new ConnectError(
              'TransferUsage is called only by Vevee\'s command replicas while they merge persons; call Alias to merge an anonymous person into a known one',
              Code.PermissionDenied,
            );
          }
          const body = validateRequest(new TransferUsageRequestBody(), { ...request }, 'TransferUsageRequest');
          const transfers = fromWire(request.transfers);
          const url = this.ownerElsewhere(context, body.targetPersonId);
          if (url !== undefined) return this.forward(url, context, (client, options) => client.transferUsage(request, options));
          const reply = await this.commandBus.execute(
            new DecideCommand({
              kind: 'transferIn',
              workspaceId: workspaceOf(context),
              personId: body.targetPersonId,
              transferId: body.transferId,
              sourcePersonId: body.sourcePersonId,
              transfers,
            }),
          );
          return { applied: reply.applied };
        }),

      commit: (request, context) =>
        this.run(async () => {
          const body = validateRequest(new CommitRequestBody(), { ...request }, 'CommitRequest');
          const url = this.ownerElsewhere(context, personOfReservation(body.reservationId));
          if (url !== undefined) return this.forward(url, context, (client, options) => client.commit(request, options));
          const reply = await this.commandBus.execute(
            new DecideCommand({
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
          if (reply.transfer !== undefined) await this.deliverTransfer(context, personOfReservation(body.reservationId), reply.transfer);
          return {
            reservationId: reply.reservationId,
            quantity: reply.quantity,
            overage: reply.overage,
            afterExpiry: reply.afterExpiry,
            creditQuantity: reply.creditQuantity,
            capped: reply.capped,
          };
        }),

      release: (request, context) =>
        this.run(async () => {
          const body = validateRequest(new ReleaseRequestBody(), { ...request }, 'ReleaseRequest');
          const url = this.ownerElsewhere(context, personOfReservation(body.reservationId));
          if (url !== undefined) return this.forward(url, context, (client, options) => client.release(request, options));
          const reply = await this.commandBus.execute(
            new DecideCommand({
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
          const reply = await this.followMerges(context, body.personId, (personId) =>
            new DecideCommand({
              kind: 'track',
              workspaceId: workspaceOf(context),
              personId,
              eventType: body.eventType,
              meter: body.meter ?? '',
              quantity: body.quantity,
              cost: body.cost,
              currency: body.currency ?? '',
              metadata: body.metadata ?? {},
              idempotencyKey: body.idempotencyKey,
            }),
            (url, personId) => this.forward(url, context, (client, options) => client.track({ ...request, personId }, options)),
          );
          return { eventId: reply.eventId };
        }),
    });
  }

  /**
   * Runs a person's command, and runs it again for the known person when the
   * person named was merged into one. When a replica other than this one
   * decides the known person, `retarget` sends it the request with the known
   * person's id, and its reply becomes this request's reply. A request that was
   * forwarded once already gets the error instead, whose message names the person to use.
   */
  private async followMerges<R>(
    context: HandlerContext,
    personId: string,
    command: (personId: string) => Command<R>,
    retarget?: (url: string, personId: string) => Promise<unknown>,
  ): Promise<R> {
    let current = personId;
    for (let hop = 0; ; hop += 1) {
      try {
        return await this.commandBus.execute(command(current));
      } catch (error) {
        if (!(error instanceof MergedPersonError) || hop >= MAX_MERGE_HOPS) throw error;
        const route = this.decider.locate(workspaceOf(context), error.targetPersonId);
        if (route.kind === 'remote' && retarget !== undefined && context.requestHeader.get(FORWARDED_HEADER) === null) {
          throw new ReplyFromOwner(await retarget(route.url, error.targetPersonId));
        }
        if (route.kind !== 'local') throw error;
        current = error.targetPersonId;
      }
    }
  }

  /**
   * Returns the person that `knownId` stands for now: itself, or the person it
   * was merged into. Rejects an alias that would merge a person into itself
   * through earlier merges, such as the same alias sent again with its ids
   * swapped, which would otherwise leave both ids merged into each other.
   * NOTE: only a known person decided by this replica is checked.
   */
  private async resolveKnownPerson(context: HandlerContext, anonymousId: string, knownId: string): Promise<string> {
    const workspaceId = workspaceOf(context);
    if (this.decider.locate(workspaceId, knownId).kind !== 'local') return knownId;
    const resolved = await this.followMerges(context, knownId, (personId) => new DecideCommand({ kind: 'resolve', workspaceId, personId }));
    if (resolved.personId === anonymousId) {
      const error = new ConnectError(
        `invalid AliasRequest: knownId "${knownId}" was merged into "${anonymousId}" earlier, so this alias would merge "${anonymousId}" into itself; check the order of anonymousId and knownId`,
        Code.InvalidArgument,
      );
      error.metadata.set(INVALID_FIELDS_HEADER, 'knownId');
      throw error;
    }
    return resolved.personId;
  }

  /** Hands a merged person's usage to the person it was merged into, here or on its owner. */
  private async deliverTransfer(context: HandlerContext, sourcePersonId: string, transfer: TransferOut): Promise<void> {
    if (transfer.transfers.length === 0) return;
    const workspaceId = workspaceOf(context);
    const route = this.decider.locate(workspaceId, transfer.targetPersonId);
    if (route.kind === 'local') {
      await this.commandBus.execute(
        new DecideCommand({
          kind: 'transferIn',
          workspaceId,
          personId: transfer.targetPersonId,
          transferId: transfer.transferId,
          sourcePersonId,
          transfers: transfer.transfers,
        }),
      );
      return;
    }
    if (route.kind === 'unknown') throw unavailable('the known person\'s ledger partition is changing owner; repeat the request, which is safe');
    await this.forward(route.url, context, (client, options) =>
      client.transferUsage(
        { transferId: transfer.transferId, sourcePersonId, targetPersonId: transfer.targetPersonId, transfers: transfer.transfers.map(toWire) },
        options,
      ),
    );
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
      const reply = await call(this.forwarder.clientFor(url), { headers: Forwarder.headers(context.requestHeader.get('authorization'), this.replicaToken.value()), signal: context.signal });
      this.decider.countForward('ok');
      return reply;
    } catch (error) {
      this.decider.countForward('error');
      // An error the owner replied with goes back as it is. Any other error comes
      // from the connection to the owner (a refused or broken socket is reported
      // as internal, a timeout as deadline_exceeded), and every command carries
      // an idempotency key, so the caller may retry.
      if (error instanceof ConnectError && error.isWireError) throw error;
      throw unavailable(`forwarding to the owner at ${url} failed; retry with the same idempotency key`, error);
    }
  }

  private async run<T>(handle: () => Promise<T>): Promise<T> {
    try {
      return await handle();
    } catch (error) {
      // The owner of a merged person's target ran the request, so its reply has this method's type.
      if (error instanceof ReplyFromOwner) return error.reply as T;
      throw toConnectError(error, this.logger);
    }
  }
}

function workspaceOf(context: HandlerContext): string {
  return context.values.get(WORKSPACE_ID);
}
