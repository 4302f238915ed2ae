/** The GraphQL schema of the analytics queries, added to the gateway's schema. */
export const analyticsTypeDefs = /* GraphQL */ `
  "Any JSON value: a cell of a SQL result as ClickHouse's JSON output writes it."
  scalar SqlValue

  enum SortOrder {
    ASC
    DESC
  }

  enum PeopleSortField {
    FIRST_SEEN
    LAST_SEEN
    ID
  }

  enum PropertyOperator {
    EQUALS
    NOT_EQUALS
    "The value contains the text, ignoring case."
    CONTAINS
    IS_SET
    IS_NOT_SET
  }

  "A condition on a person property; value is required for EQUALS, NOT_EQUALS and CONTAINS and must be absent otherwise."
  input PropertyFilter {
    key: String!
    operator: PropertyOperator!
    value: String
  }

  extend type Query {
    """
    Count and cost per event name in the current DAY (hourly points) or MONTH
    (daily points) of the workspace's time zone.
    """
    eventSeries(period: Period = MONTH): EventSeries!

    """
    The workspace's persons after alias resolution, filtered by properties and
    id, sorted and paged, with the count of persons per value of each
    breakdown key.
    """
    people(
      filters: [PropertyFilter!]
      search: String
      sortBy: PeopleSortField = LAST_SEEN
      order: SortOrder = DESC
      limit: Int = 50
      offset: Int = 0
      breakdownKeys: [String!]
    ): PeoplePage!

    "The events of a person and of every anonymous id aliased to it, in [from, to) when given."
    personTimeline(id: String!, from: DateTime, to: DateTime, order: SortOrder = DESC, limit: Int = 100, offset: Int = 0): PersonTimeline!

    """
    Persons who did the steps (event names) in order, each within windowSeconds
    of their first step, among the events in [from, to).
    """
    funnel(steps: [String!]!, windowSeconds: Int!, from: DateTime!, to: DateTime!): Funnel!

    """
    Runs one read-only SELECT over the workspace's rows of the analytics tables
    and views (docs/analytics.md lists them). Name them with the database, for
    example vevee.events.
    """
    sql(query: String!): SqlResult!
  }

  extend type UsageSummary {
    "Distinct persons with an event in the 1, 7 and 30 days before to."
    active: ActivePersons!
    "Distinct persons per calendar day of the workspace's time zone in [from, to); days without events are left out."
    dailyActive: [DailyActive!]!
  }

  type ActivePersons {
    daily: Int!
    weekly: Int!
    monthly: Int!
  }

  type DailyActive {
    day: DateTime!
    persons: Int!
  }

  type EventSeries {
    period: Period!
    from: DateTime!
    to: DateTime!
    series: [EventNameSeries!]!
  }

  type EventNameSeries {
    "The app's event type, or the ledger type of a quota event."
    eventName: String!
    count: Int!
    cost: Float!
    "Buckets with at least one event, in time order."
    points: [SeriesPoint!]!
  }

  type SeriesPoint {
    "Start of the hour (period DAY) or of the day in the workspace's time zone (period MONTH)."
    at: DateTime!
    count: Int!
    cost: Float!
  }

  type PeoplePage {
    "Persons that match the filters and search."
    total: Int!
    limit: Int!
    offset: Int!
    people: [PersonProfile!]!
    breakdowns: [PropertyBreakdown!]!
  }

  type PersonProfile {
    id: String!
    firstSeen: DateTime!
    lastSeen: DateTime!
    "Anonymous ids merged into this person by alias events."
    anonymousIds: [String!]!
    "The latest set value of each property, else its earliest set-once value, sorted by key."
    properties: [PersonProperty!]!
  }

  type PersonProperty {
    key: String!
    "The JSON text of the value; a string value without its quotes."
    value: String!
  }

  type PropertyBreakdown {
    key: String!
    "Persons per value, most persons first, at most 100 values."
    values: [PropertyValueCount!]!
  }

  type PropertyValueCount {
    "Null counts the persons without this property."
    value: String
    count: Int!
  }

  type PersonTimeline {
    "The resolved person: the known id when the requested id is an aliased anonymous id."
    personId: String!
    "The ids whose events are listed: the person's own id, then its anonymous ids."
    ids: [String!]!
    total: Int!
    events: [TimelineEvent!]!
  }

  type TimelineEvent {
    eventId: String!
    "The ledger event type, or the event name of an ingested event."
    type: String!
    eventName: String!
    "The id the event was sent with."
    sentAs: String!
    at: DateTime!
    meter: String!
    quantity: Float!
    cost: Float!
    currency: String!
    "JSON text of the event's metadata or properties."
    metadata: String!
  }

  type Funnel {
    from: DateTime!
    to: DateTime!
    windowSeconds: Int!
    steps: [FunnelStep!]!
  }

  type FunnelStep {
    eventName: String!
    "Persons who did every step up to this one in order within the window."
    persons: Int!
    "persons divided by the first step's persons."
    conversionRate: Float!
    "persons divided by the previous step's persons."
    stepConversionRate: Float!
    "Cost of all events in [from, to) of the persons who reached this step."
    cost: Float!
  }

  type SqlColumn {
    name: String!
    "The ClickHouse type, for example UInt64 or DateTime64(3, 'UTC')."
    type: String!
  }

  type SqlResult {
    columns: [SqlColumn!]!
    "One array per row, one value per column; at most 10,000 rows."
    rows: [[SqlValue]!]!
    "True when the query returned more than 10,000 rows and rows contains the first 10,000."
    truncated: Boolean!
  }
`;
