import { Command } from '@nestjs/cqrs';

import type {
  CheckQuotaCommand as CheckInput,
  CheckReply,
  GrantCreditsCommand as GrantInput,
  GrantReply,
  MergeIntoCommand as MergeInput,
  MergeReply,
  ResolvePersonCommand as ResolveInput,
  ResolveReply,
  SubscriptionReply,
  TransferInCommand as TransferInput,
  TransferInReply,
  UpsertSubscriptionCommand as SubscriptionInput,
  CommitQuotaCommand as CommitInput,
  CommitReply,
  ReleaseQuotaCommand as ReleaseInput,
  ReleaseReply,
  ReserveQuotaCommand as ReserveInput,
  ReserveReply,
  TrackUsageCommand as TrackInput,
  TrackReply,
} from '@vevee/domain';

/** Holds quota for a person until commit, release or expiry. */
export class ReserveQuotaCommand extends Command<ReserveReply> {
  constructor(readonly input: ReserveInput) {
    super();
  }
}

/** Turns a hold into usage with the call's actual quantity and cost. */
export class CommitQuotaCommand extends Command<CommitReply> {
  constructor(readonly input: CommitInput) {
    super();
  }
}

/** Gives a hold back. */
export class ReleaseQuotaCommand extends Command<ReleaseReply> {
  constructor(readonly input: ReleaseInput) {
    super();
  }
}

/** Records usage that needs no hold. */
export class TrackUsageCommand extends Command<TrackReply> {
  constructor(readonly input: TrackInput) {
    super();
  }
}

/** Answers what a reserve would answer, without holding anything. */
export class CheckQuotaCommand extends Command<CheckReply> {
  constructor(readonly input: CheckInput) {
    super();
  }
}

/** Applies a subscription change from a billing webhook. */
export class UpsertSubscriptionCommand extends Command<SubscriptionReply> {
  constructor(readonly input: SubscriptionInput) {
    super();
  }
}

/** Adds a credit grant to a person. */
export class GrantCreditsCommand extends Command<GrantReply> {
  constructor(readonly input: GrantInput) {
    super();
  }
}

/** Answers whether a person stands for itself or was merged into another. */
export class ResolvePersonCommand extends Command<ResolveReply> {
  constructor(readonly input: ResolveInput) {
    super();
  }
}

/** Merges an anonymous person into a known one. */
export class MergePersonCommand extends Command<MergeReply> {
  constructor(readonly input: MergeInput) {
    super();
  }
}

/** Adds a merged person's usage to the person it was merged into. */
export class TransferUsageCommand extends Command<TransferInReply> {
  constructor(readonly input: TransferInput) {
    super();
  }
}
