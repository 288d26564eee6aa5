import { sql, type Kysely } from 'kysely';

/**
 * The tables users query (see the README). Frozen in time: never import app code here.
 *
 * bptf_listings is updated in place many times per listing; fillfactor 70 leaves room on each page
 * so those updates stay HOT (no index columns change), which keeps the table from bloating.
 * `payload_event_id` (an addition to the contract) is the id of the event whose full payload is stored:
 * a delete that carries only `payload.id` moves `event_id` but not the payload, and keeping the two
 * apart makes the final state independent of arrival order.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    CREATE TABLE bptf_listings (
      id               text PRIMARY KEY,
      event_id         text NOT NULL,
      event_time       timestamptz NOT NULL,
      payload_event_id text,
      steamid          text,
      appid            integer,
      intent           text,
      item_name        text,
      currencies       jsonb,
      value_raw        double precision,
      listed_at        timestamptz,
      bumped_at        timestamptz,
      payload          jsonb NOT NULL,
      deleted_at       timestamptz,
      first_seen_at    timestamptz NOT NULL DEFAULT now(),
      updated_at       timestamptz NOT NULL DEFAULT now()
    ) WITH (fillfactor = 70)`.execute(db);
  await sql`CREATE INDEX bptf_listings_item_name_idx ON bptf_listings (item_name)`.execute(db);
  await sql`CREATE INDEX bptf_listings_steamid_idx ON bptf_listings (steamid)`.execute(db);

  await sql`
    CREATE TABLE tradepost_events (
      dedupe_key      text PRIMARY KEY,
      conversation_id text,
      msg_type        text NOT NULL,
      msg_id          text,
      sent_at         timestamptz,
      received_at     timestamptz NOT NULL DEFAULT now(),
      via             text NOT NULL CHECK (via IN ('websocket', 'webhook')),
      reference_type  text,
      reference_id    text,
      asset_type      text,
      payload         jsonb NOT NULL
    )`.execute(db);
  await sql`CREATE INDEX tradepost_events_conversation_idx ON tradepost_events (conversation_id, sent_at)`.execute(db);
  await sql`
    CREATE VIEW tradepost_conversations AS
    SELECT DISTINCT ON (conversation_id)
      conversation_id,
      msg_type,
      sent_at,
      reference_type,
      reference_id,
      asset_type,
      count(*) OVER (PARTITION BY conversation_id) AS message_count,
      min(sent_at) OVER (PARTITION BY conversation_id) AS first_sent_at
    FROM tradepost_events
    WHERE conversation_id IS NOT NULL
    ORDER BY conversation_id, sent_at DESC NULLS LAST, received_at DESC`.execute(db);

  await sql`
    CREATE TABLE commerce_events (
      dedupe_key     text PRIMARY KEY,
      event          text NOT NULL,
      entity         text NOT NULL,
      action         text NOT NULL,
      entity_id      text NOT NULL,
      occurred_at    timestamptz NOT NULL,
      received_at    timestamptz NOT NULL DEFAULT now(),
      data           jsonb NOT NULL,
      changed_fields jsonb
    )`.execute(db);
  await sql`CREATE INDEX commerce_events_entity_idx ON commerce_events (entity, entity_id, occurred_at)`.execute(db);

  await sql`
    CREATE TABLE commerce_entities (
      entity      text NOT NULL,
      entity_id   text NOT NULL,
      data        jsonb NOT NULL,
      last_event  text NOT NULL,
      occurred_at timestamptz NOT NULL,
      deleted_at  timestamptz,
      updated_at  timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (entity, entity_id)
    ) WITH (fillfactor = 80)`.execute(db);

  await sql`
    CREATE TABLE ingest_status (
      source          text NOT NULL,
      instance        text NOT NULL,
      state           text NOT NULL,
      is_leader       boolean NOT NULL DEFAULT false,
      connected_since timestamptz,
      last_message_at timestamptz,
      last_event_at   timestamptz,
      events_received bigint NOT NULL DEFAULT 0,
      events_written  bigint NOT NULL DEFAULT 0,
      reconnects      bigint NOT NULL DEFAULT 0,
      last_error      text,
      updated_at      timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (source, instance)
    )`.execute(db);

  await sql`
    CREATE TABLE ingest_rejects (
      id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      source      text NOT NULL,
      received_at timestamptz NOT NULL DEFAULT now(),
      reason      text NOT NULL,
      raw         text NOT NULL
    )`.execute(db);
  await sql`CREATE INDEX ingest_rejects_source_idx ON ingest_rejects (source, received_at)`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`DROP VIEW IF EXISTS tradepost_conversations`.execute(db);
  for (const table of ['ingest_rejects', 'ingest_status', 'commerce_entities', 'commerce_events', 'tradepost_events', 'bptf_listings']) {
    await sql`DROP TABLE IF EXISTS ${sql.table(table)}`.execute(db);
  }
}
