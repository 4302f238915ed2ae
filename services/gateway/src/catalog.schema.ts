/** The GraphQL schema of the workspace catalog: meters, plans and plan versions, added to the gateway's schema. */
export const catalogTypeDefs = /* GraphQL */ `
  "How a meter adds up quantities: SUM adds each quantity, COUNT adds 1 per event."
  enum Aggregation {
    SUM
    COUNT
  }

  "The length of a limit's window. BILLING is the subscription's billing month."
  enum LimitPeriod {
    MINUTE
    HOUR
    DAY
    WEEK
    MONTH
    BILLING
    LIFETIME
  }

  "CALENDAR windows align to the workspace's time zone; ANCHORED ones start at the subscription's start."
  enum LimitWindow {
    CALENDAR
    ANCHORED
  }

  "HARD limits deny a reserve; SOFT limits allow it and report the overage."
  enum Enforcement {
    HARD
    SOFT
  }

  "At commit, RECORD keeps usage above the reservation as overage; CAP cuts the quantity to the reservation."
  enum OveragePolicy {
    RECORD
    CAP
  }

  type Meter {
    key: String!
    unit: String!
    aggregation: Aggregation!
    displayName: String!
  }

  type Limit {
    "Unique within the plan version."
    id: String!
    meter: String!
    amount: Float!
    period: LimitPeriod!
    window: LimitWindow!
    enforcement: Enforcement!
    overage: OveragePolicy!
    "When true, credits pay for usage above this limit once its allowance is spent."
    credits: Boolean!
  }

  "A published version of a plan. A version never changes: a change publishes the next one."
  type PlanVersion {
    planId: String!
    version: Int!
    name: String!
    limits: [Limit!]!
    publishedAt: DateTime!
  }

  type Plan {
    id: String!
    "True for the plan of persons without an active subscription."
    isDefault: Boolean!
    latest: PlanVersion!
    "Every version, oldest first."
    versions: [PlanVersion!]!
  }

  input MeterInput {
    "What the SDK passes as meter: 1 to 64 letters, digits, '_', '.' or '-'."
    key: String!
    "Free text such as tokens, or a currency code such as USD."
    unit: String!
    aggregation: Aggregation = SUM
    "Defaults to the key."
    displayName: String
  }

  input LimitInput {
    id: String!
    meter: String!
    "Above 0 and at most 10^15."
    amount: Float!
    period: LimitPeriod!
    window: LimitWindow = CALENDAR
    enforcement: Enforcement = HARD
    overage: OveragePolicy = RECORD
    credits: Boolean = false
  }

  extend type Query {
    "The workspace's meters, by key."
    meters: [Meter!]!
    "The workspace's plans, by id."
    plans: [Plan!]!
    "One plan, or null when the workspace has no plan with this id."
    plan(id: String!): Plan
  }

  type Mutation {
    "Creates a meter, or replaces the unit, aggregation and display name of an existing one."
    defineMeter(input: MeterInput!): Meter!

    """
    Publishes the next version of a plan (version 1 creates the plan) and sends
    the catalog to the command service. Older versions never change. The first
    plan of a workspace becomes its default plan.
    """
    publishPlanVersion(planId: String!, name: String!, limits: [LimitInput!]!): PlanVersion!

    "Makes a published plan the plan of persons without an active subscription."
    setDefaultPlan(planId: String!): Plan!
  }
`;

/** Maps the schema's enum values to the catalog's spelling (`sum`, `minute`, `calendar`, ...). */
export const catalogEnumResolvers = {
  Aggregation: { SUM: 'sum', COUNT: 'count' },
  LimitPeriod: { MINUTE: 'minute', HOUR: 'hour', DAY: 'day', WEEK: 'week', MONTH: 'month', BILLING: 'billing', LIFETIME: 'lifetime' },
  LimitWindow: { CALENDAR: 'calendar', ANCHORED: 'anchored' },
  Enforcement: { HARD: 'hard', SOFT: 'soft' },
  OveragePolicy: { RECORD: 'record', CAP: 'cap' },
};
