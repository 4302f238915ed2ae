import { IsDefined, IsIn, IsInt, IsNotEmpty, IsNumber, IsObject, IsOptional, IsPositive, IsString, Matches, Max, MaxLength, Min, ValidateIf, validateSync } from 'class-validator';

import { ConnectError, Code } from '@connectrpc/connect';
import { applyDecorators } from '@nestjs/common';

import { SUBSCRIPTION_STATUSES } from '@vevee/contracts';

/** Identifiers a person may be known by: printable, no control characters. */
const PERSON_ID = /^[^\p{Cc}]+$/u;
const METER = /^[A-Za-z][A-Za-z0-9_.-]*$/;
/** App event types, and `$identify`, the reserved type that sets a person's properties. */
const EVENT_TYPE = /^(\$identify|[A-Za-z][A-Za-z0-9_.:-]*)$/;
const CURRENCY = /^[A-Z]{3}$/;
const FINITE = { allowNaN: false, allowInfinity: false };
/** The largest quantity or cost accepted: sums of such values stay exact in a double. */
export const MAX_AMOUNT = 1e15;

// class-validator runs a property's checks in the order they are applied and stops at
// the first failure; applyDecorators applies them in the order listed.

function IsPersonId(subject: string): PropertyDecorator {
  return IsPersonField('personId', `send the id of the person the ${subject} is for`);
}

/** Checks a field that holds a person id: required (with `hint` saying what to send), at most 256 characters, no control characters. */
function IsPersonField(field: string, hint: string): PropertyDecorator {
  return applyDecorators(
    IsString({ message: `${field} must be a string` }),
    IsNotEmpty({ message: `${field} is required: ${hint}` }),
    MaxLength(256, { message: `${field} must be at most 256 characters` }),
    Matches(PERSON_ID, { message: `${field} must not contain control characters` }),
  );
}

function IsMeterName(): PropertyDecorator {
  return applyDecorators(
    MaxLength(64),
    Matches(METER, { message: 'meter must start with a letter and contain only letters, digits, ".", "_" and "-"' }),
  );
}

/** Checks a quantity or cost: finite, 0 or more, at most MAX_AMOUNT. */
function IsAmount(field: string): PropertyDecorator {
  return applyDecorators(
    IsNumber(FINITE, { message: `${field} must be a finite number` }),
    Min(0, { message: `${field} must be 0 or greater` }),
    Max(MAX_AMOUNT, { message: `${field} must be at most ${MAX_AMOUNT}` }),
  );
}

/** Checks a meter that a request names: required, then a valid meter name. */
function IsPlanMeter(): PropertyDecorator {
  return applyDecorators(
    IsNotEmpty({ message: 'meter is required: send a meter of the workspace plan, for example "tokens"' }),
    IsMeterName(),
  );
}

/** Checks a quantity or amount that must be above 0: finite, greater than 0, at most MAX_AMOUNT. */
function IsPositiveAmount(field: string): PropertyDecorator {
  return applyDecorators(
    IsNumber(FINITE, { message: `${field} must be a finite number` }),
    IsPositive({ message: `${field} must be greater than 0` }),
    Max(MAX_AMOUNT, { message: `${field} must be at most ${MAX_AMOUNT}` }),
  );
}

function IsCurrency(): PropertyDecorator {
  return applyDecorators(IsOptional(), Matches(CURRENCY, { message: 'currency must be an ISO 4217 code such as "USD"' }));
}

export class ReserveRequestBody {
  @IsPersonId('call')
  personId = '';

  @IsPlanMeter()
  meter = '';

  @IsPositiveAmount('quantity')
  quantity = 0;

  @IsNotEmpty({ message: 'idempotencyKey is required: send a unique key per call and reuse it when retrying' })
  @MaxLength(128)
  idempotencyKey = '';

  @IsOptional()
  @IsInt({ message: 'ttlSeconds must be a whole number of seconds' })
  @Min(1, { message: 'ttlSeconds must be at least 1' })
  @Max(86_400, { message: 'ttlSeconds must be at most 86400 (one day)' })
  ttlSeconds: number | undefined = undefined;
}

export class CommitRequestBody {
  @IsNotEmpty({ message: 'reservationId is required: send the id that Reserve returned' })
  @MaxLength(512)
  reservationId = '';

  @IsAmount('quantity')
  @IsDefined({ message: 'quantity is required: send the quantity the call actually used, 0 if none' })
  quantity: number | undefined = undefined;

  @IsAmount('cost')
  cost = 0;

  @IsCurrency()
  currency: string | undefined = undefined;

  @IsOptional()
  @IsObject()
  metadata: Record<string, unknown> | undefined = undefined;

  @IsOptional()
  @MaxLength(128)
  idempotencyKey: string | undefined = undefined;
}

export class ReleaseRequestBody {
  @IsNotEmpty({ message: 'reservationId is required: send the id that Reserve returned' })
  @MaxLength(512)
  reservationId = '';

  @IsOptional()
  @MaxLength(128)
  idempotencyKey: string | undefined = undefined;
}

export class TrackRequestBody {
  @IsPersonId('event')
  personId = '';

  @Matches(EVENT_TYPE, { message: 'eventType must be "$identify", or start with a letter and contain only letters, digits, ".", ":", "_" and "-"' })
  @MaxLength(128)
  @IsNotEmpty({ message: 'eventType is required, for example "chat.completion"' })
  eventType = '';

  @IsOptional()
  @IsMeterName()
  meter: string | undefined = undefined;

  @IsAmount('quantity')
  quantity = 0;

  @IsAmount('cost')
  cost = 0;

  @IsCurrency()
  currency: string | undefined = undefined;

  @IsOptional()
  @IsObject()
  metadata: Record<string, unknown> | undefined = undefined;

  @IsNotEmpty({ message: 'idempotencyKey is required: send a unique key per event and reuse it when retrying' })
  @MaxLength(128)
  idempotencyKey = '';
}

export class CheckRequestBody {
  @IsPersonId('check')
  personId = '';

  @IsPlanMeter()
  meter = '';

  @IsPositiveAmount('quantity')
  quantity = 0;
}

/** Identifiers chosen by the workspace, such as plan ids and billing sources. */
const SLUG = /^[A-Za-z0-9][A-Za-z0-9_.:-]*$/;

/** Checks an optional instant, already converted from a protobuf Timestamp to epoch milliseconds. */
function IsOptionalInstant(field: string): PropertyDecorator {
  return applyDecorators(
    IsOptional(),
    IsInt({ message: `${field} must be a valid timestamp` }),
    Min(0, { message: `${field} must not be before 1970` }),
    Max(8.64e15, { message: `${field} must be a valid date` }),
  );
}

export class UpsertSubscriptionRequestBody {
  @IsPersonId('subscription')
  personId = '';

  @Matches(SLUG, { message: 'planId must start with a letter or digit and contain only letters, digits, ".", ":", "_" and "-"' })
  @MaxLength(64)
  @IsNotEmpty({ message: 'planId is required: send the id of a plan of the workspace, for example "pro"' })
  planId = '';

  @IsIn(SUBSCRIPTION_STATUSES, { message: `status must be one of ${SUBSCRIPTION_STATUSES.join(', ')}` })
  status = '';

  @IsOptionalInstant('startsAt')
  startsAt: number | undefined = undefined;

  @Matches(SLUG, { message: 'source must start with a letter or digit and contain only letters, digits, ".", ":", "_" and "-"' })
  @MaxLength(64)
  @IsNotEmpty({ message: 'source is required: name the billing system, for example "stripe"' })
  source = '';

  @MaxLength(256)
  @IsNotEmpty({ message: 'externalId is required: send the webhook event id, so a repeated webhook applies once' })
  externalId = '';

  @IsOptionalInstant('occurredAt')
  @IsDefined({ message: 'occurredAt is required: send when the billing system made the change' })
  occurredAt: number | undefined = undefined;

  @IsOptional()
  @IsIn(['immediately', 'next_period'], { message: 'effective must be "immediately" or "next_period"' })
  effective: string | undefined = undefined;

  @IsOptional()
  @MaxLength(512)
  reason: string | undefined = undefined;
}

export class GrantCreditsRequestBody {
  @IsPersonId('grant')
  personId = '';

  @IsNotEmpty({ message: 'idempotencyKey is required: send a unique key per grant and reuse it when retrying' })
  @MaxLength(128)
  idempotencyKey = '';

  @IsMeterName()
  @IsNotEmpty({ message: 'meter is required: send a meter key such as "tokens", or a currency code such as "USD"' })
  meter = '';

  @IsPositiveAmount('amount')
  amount = 0;

  @IsInt({ message: 'priority must be a whole number' })
  @Min(-1_000_000, { message: 'priority must be at least -1000000' })
  @Max(1_000_000, { message: 'priority must be at most 1000000' })
  priority = 0;

  @IsOptionalInstant('effectiveAt')
  effectiveAt: number | undefined = undefined;

  @IsOptionalInstant('expiresAt')
  expiresAt: number | undefined = undefined;

  @IsOptional()
  @IsIn(['day', 'week', 'month'], { message: 'recurrence.period must be "day", "week" or "month"' })
  recurrencePeriod: string | undefined = undefined;

  @ValidateIf((body: GrantCreditsRequestBody) => body.recurrencePeriod !== undefined)
  @IsAmount('recurrence.rolloverCap')
  rolloverCap: number | undefined = undefined;

  @IsOptional()
  @IsInt({ message: 'recurrence.rolloverExpiresAfterSeconds must be a whole number of seconds' })
  @Min(1, { message: 'recurrence.rolloverExpiresAfterSeconds must be at least 1' })
  rolloverExpiresAfterSeconds: number | undefined = undefined;

  @IsOptional()
  @MaxLength(512)
  reason: string | undefined = undefined;
}

export class AliasRequestBody {
  @IsPersonField('anonymousId', 'send the id the app used before the person signed in')
  anonymousId = '';

  @IsPersonField('knownId', "send the person's id after sign-in")
  knownId = '';
}

export class TransferUsageRequestBody {
  @IsNotEmpty({ message: 'transferId is required: send the transfer id that Alias or Commit produced' })
  @MaxLength(256)
  transferId = '';

  @IsPersonField('sourcePersonId', 'send the merged person the usage comes from')
  sourcePersonId = '';

  @IsPersonField('targetPersonId', 'send the person the usage moves to')
  targetPersonId = '';
}

/** Header that carries the names of the invalid fields, comma-separated, on an invalid_argument error. */
export const INVALID_FIELDS_HEADER = 'vevee-invalid-fields';

/**
 * Copies the request's fields into `body` and validates them. Empty strings
 * stand for unset optional fields, as in proto3. Throws invalid_argument with
 * one message per invalid field.
 */
export function validateRequest<T extends object>(body: T, fields: Record<string, unknown>, requestName: string): T {
  for (const key of Object.keys(body)) {
    const value = fields[key];
    (body as Record<string, unknown>)[key] = value === '' && (body as Record<string, unknown>)[key] === undefined ? undefined : value;
  }
  const errors = validateSync(body, { forbidUnknownValues: true, stopAtFirstError: true });
  if (errors.length > 0) {
    const messages = errors.flatMap((error) => Object.values(error.constraints ?? {}));
    const error = new ConnectError(`invalid ${requestName}: ${messages.join('; ')}`, Code.InvalidArgument);
    error.metadata.set(INVALID_FIELDS_HEADER, errors.map((each) => each.property).join(','));
    throw error;
  }
  return body;
}

