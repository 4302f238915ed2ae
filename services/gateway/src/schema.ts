/**
 * The GraphQL schema of the dashboard API, written schema-first: code-first
 * needs the decorator metadata that esbuild does not emit.
 */
export const typeDefs = /* GraphQL */ `
  """
  An instant as an ISO 8601 date-time with a time zone, for example
  2026-05-01T00:00:00Z or 2026-05-01T02:00:00+02:00. Returned in UTC.
  """
  scalar DateTime

  "A calendar window that quotas count in, aligned to the workspace's time zone."
  enum Period {
    DAY
    MONTH
  }

  type Query {
    "A person of the workspace. Any id is valid: a person with no usage has zero usage."
    person(id: String!): Person!

    "Events and cost of the workspace in [from, to), at most 400 days long."
    usageSummary(from: DateTime!, to: DateTime!): UsageSummary!
  }

  type Person {
    id: String!

    """
    The person's quota of one meter in the current window of each period
    (DAY and MONTH, or only the given period).
    """
    usage(meter: String!, period: Period): [MeterUsage!]!

    """
    The person this id was merged into by an alias, or null. Requests for a
    merged id run for that person, so read its usage, limits and credits there.
    """
    mergedInto: String
  }

  type MeterUsage {
    meter: String!
    period: Period!
    "Quantity committed in this window."
    used: Float!
    "Quantity held by reservations made in this window that have not expired."
    reserved: Float!
    "The plan's limit for this period; null when the period has no limit."
    limit: Float
    "max(0, limit - used - reserved); null when the period has no limit."
    remaining: Float
    "The end of this window, when the quota starts again from zero."
    resetsAt: DateTime!
    windowStart: DateTime!
  }

  type UsageSummary {
    from: DateTime!
    to: DateTime!
    events: Int!
    cost: Float!
    activePersons: Int!
    byType: [TypeCount!]!
  }

  type TypeCount {
    type: String!
    count: Int!
    cost: Float!
  }
`;
