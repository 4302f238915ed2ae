/**
 * The Person fields of subscriptions, credits and limits, read from the
 * PostgreSQL read models that the Postgres projector writes from the ledger.
 */
export const personAccountTypeDefs = /* GraphQL */ `
  extend type Person {
    "The person's subscription: the terms in force now, a change scheduled for later, and every change."
    subscription: PersonSubscription!

    "The person's credit: what can be spent now, per meter or currency, and every movement."
    credits: PersonCredits!

    """
    Each limit of the plan that applies to the person now, with its usage in
    the current window. Only the limits on meter when it is given.
    """
    limits(meter: String): [LimitUsage!]!
  }

  enum SubscriptionStatus {
    ACTIVE
    TRIALING
    PAST_DUE
    PAUSED
    CANCELED
  }

  type SubscriptionTerms {
    planId: String!
    status: SubscriptionStatus!
    "The anchor of billing periods and anchored windows."
    startsAt: DateTime!
  }

  "A change that applies at a later billing period boundary."
  type ScheduledSubscriptionChange {
    terms: SubscriptionTerms!
    effectiveAt: DateTime!
  }

  type PersonSubscription {
    "The terms in force now; null for a person who never subscribed."
    current: SubscriptionTerms
    scheduled: ScheduledSubscriptionChange
    """
    The plan whose limits apply now: the subscribed plan while the status is
    ACTIVE, TRIALING or PAST_DUE, otherwise the workspace's default plan.
    """
    planId: String!
    "Changes, newest first. first is 1 to 100; after is the endCursor of the previous page."
    history(first: Int = 20, after: String): SubscriptionChangePage!
  }

  "One applied SubscriptionChanged event: who, when, from what to what, and why."
  type SubscriptionChange {
    eventId: String!
    "When the decider applied the change."
    at: DateTime!
    "When the billing system made the change."
    occurredAt: DateTime!
    "When the new terms apply."
    effectiveAt: DateTime!
    from: SubscriptionTerms
    to: SubscriptionTerms!
    reason: String!
    "The system that sent the change, for example stripe."
    source: String!
    "The billing system's id of the change; each is applied once."
    externalId: String!
  }

  type SubscriptionChangePage {
    nodes: [SubscriptionChange!]!
    "Pass as after to read the next page; null when there is none."
    endCursor: String
    hasMore: Boolean!
  }

  type PersonCredits {
    """
    The spendable balance per meter or currency: the remaining credit of grants
    that are effective now and not expired. Only meter when it is given.
    """
    balances(meter: String): [CreditBalance!]!
    "Movements of credit, newest first. first is 1 to 100; after is the endCursor of the previous page."
    entries(first: Int = 20, after: String): CreditEntryPage!
  }

  type CreditBalance {
    "A meter key, or a currency code whose credit pays for every meter with that unit."
    meter: String!
    balance: Float!
    "How many grants make up the balance."
    grants: Int!
  }

  enum CreditEntryKind {
    "A one-off grant."
    GRANT
    "A recurring grant was set up; its renewals carry the credit."
    SCHEDULE
    "A recurring grant's credit for one period."
    RENEWAL
    "Unused credit carried into a new grant."
    ROLLOVER_IN
    "The same credit leaving the previous period's grant."
    ROLLOVER_OUT
    "Credit spent by usage."
    BURN
    "Unused credit written off when its grant expired."
    EXPIRY
  }

  type CreditEntry {
    eventId: String!
    grantId: String!
    meter: String!
    kind: CreditEntryKind!
    "Positive when credit is added to the grant, negative when it leaves it."
    amount: Float!
    "The reservation whose commit spent the credit, for a BURN of a reservation."
    reservationId: String
    "The commit or tracked event that spent the credit, for a BURN."
    usageEventId: String
    "When the decider recorded the movement."
    at: DateTime!
    "When it counts: a grant's start, or an expired grant's expiry."
    effectiveAt: DateTime!
  }

  type CreditEntryPage {
    nodes: [CreditEntry!]!
    endCursor: String
    hasMore: Boolean!
  }

  type LimitUsage {
    limitId: String!
    meter: String!
    period: LimitPeriod!
    window: LimitWindow!
    enforcement: Enforcement!
    "Credits pay for usage above this limit; used and reserved then leave out the part paid by credits."
    credits: Boolean!
    amount: Float!
    used: Float!
    "Quantity held by active reservations made in this window that have not expired."
    reserved: Float!
    "max(0, amount - used - reserved)."
    remaining: Float!
    windowStart: DateTime!
    "The end of the window, when the count starts again from zero."
    resetsAt: DateTime!
  }
`;

/**
 * Enum values as the ledger and the domain spell them. LimitUsage uses the
 * catalog schema's LimitPeriod, LimitWindow and Enforcement enums.
 */
export const personAccountEnumResolvers = {
  SubscriptionStatus: { ACTIVE: 'active', TRIALING: 'trialing', PAST_DUE: 'past_due', PAUSED: 'paused', CANCELED: 'canceled' },
  CreditEntryKind: {
    GRANT: 'grant',
    SCHEDULE: 'schedule',
    RENEWAL: 'renewal',
    ROLLOVER_IN: 'rollover_in',
    ROLLOVER_OUT: 'rollover_out',
    BURN: 'burn',
    EXPIRY: 'expiry',
  },
};
