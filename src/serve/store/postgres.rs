//! `--store postgres://…`: PostgreSQL, shared by any number of `serve` instances of one bot.
//!
//! A pool of connections (`deadpool-postgres`, no TLS); every call takes one for one round trip,
//! and [`Store::commit`] is one transaction on it. A connection that breaks (the server
//! restarted, the network went) fails its call with [`StoreError::Unavailable`] and is not
//! handed out again: the pool opens new ones once the server answers, nothing to restart.
//!
//! The tables live in the first schema of the connection's `search_path` (`public` unless the
//! URL says otherwise, as in `postgres://host/db?options=-csearch_path%3Dbot1`), so one database
//! can hold the stores of several bots. Migrations run on open in one transaction, under an
//! advisory lock on that schema: instances starting at once take turns.
//!
//! Ids (`user_id`, `message_id`) are `TEXT COLLATE "C"`, so they sort byte by byte as in the
//! other backends. The JSON is kept as `TEXT`: what was stored comes back byte for byte.
//! PostgreSQL cannot store a NUL character in `TEXT`: a commit with one is refused
//! ([`StoreError::Fatal`]), and an id with one is never found.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use deadpool_postgres::{
    Client, GenericClient, Manager, ManagerConfig, Pool, PoolError, QueueMode, RecyclingMethod,
    Runtime,
};
use tokio_postgres::NoTls;

use super::{
    Begin, ClaimTry, Commit, Fut, OutboxEntry, Snapshot, Stats, Store, StoreError, Unclaimed,
};

/// The schema, one migration per version; a database is brought from its version to the last
/// on open, in one transaction. Never edit a released migration: add one. Version 1 has the
/// tables and columns of SQLite's version 1.
pub(super) const MIGRATIONS: &[&str] = &[
    // 1: the first schema.
    r#"CREATE TABLE sessions (
        user_id TEXT COLLATE "C" PRIMARY KEY,
        session TEXT NOT NULL,
        next_due BIGINT,
        last_seq BIGINT NOT NULL DEFAULT 0,
        updated_ms BIGINT NOT NULL
    );
    CREATE INDEX sessions_due ON sessions (next_due) WHERE next_due IS NOT NULL;
    CREATE TABLE timers (
        user_id TEXT COLLATE "C" NOT NULL,
        seq BIGINT NOT NULL,
        due_ms BIGINT NOT NULL,
        name TEXT,
        scenario TEXT NOT NULL,
        block TEXT NOT NULL,
        PRIMARY KEY (user_id, seq)
    );
    CREATE TABLE globals (id INTEGER PRIMARY KEY CHECK (id = 1), vars TEXT NOT NULL);
    CREATE TABLE processed (
        user_id TEXT COLLATE "C" NOT NULL,
        message_id TEXT COLLATE "C" NOT NULL,
        response TEXT NOT NULL,
        at_ms BIGINT NOT NULL,
        PRIMARY KEY (user_id, message_id)
    );
    CREATE INDEX processed_at ON processed (at_ms);
    CREATE TABLE outbox (
        user_id TEXT COLLATE "C" NOT NULL,
        seq BIGINT NOT NULL,
        events TEXT NOT NULL,
        created_ms BIGINT NOT NULL,
        delivered_ms BIGINT,
        PRIMARY KEY (user_id, seq)
    );
    CREATE INDEX outbox_pending ON outbox (created_ms) WHERE delivered_ms IS NULL;"#,
    // 2: claims: which instance runs a user's turn (or holds the globals), until when.
    r#"CREATE TABLE claims (
        key TEXT COLLATE "C" PRIMARY KEY,
        owner TEXT NOT NULL,
        until_ms BIGINT NOT NULL
    );"#,
    // 3: a turn in two round trips: one to claim the user and read what the turn starts
    // from, one to commit it, checking (and giving up) its claims. Claims are leases, checked
    // by every commit made under them: they need no WAL (a crash of the server empties an
    // unlogged table, and the commits of the turns that held them then fail their check).
    r#"ALTER TABLE claims SET UNLOGGED;
    CREATE FUNCTION scn_begin_turn(p_user TEXT, p_message TEXT, p_owner TEXT, p_now BIGINT,
        p_until BIGINT, OUT o_claimed BOOLEAN, OUT o_response TEXT, OUT o_session TEXT)
    LANGUAGE plpgsql VOLATILE AS $fn$
    BEGIN
        INSERT INTO claims AS c (key, owner, until_ms) VALUES (p_user, p_owner, p_until)
            ON CONFLICT (key) DO UPDATE SET owner = excluded.owner, until_ms = excluded.until_ms
            WHERE c.owner = excluded.owner OR c.until_ms < p_now;
        o_claimed := FOUND;
        IF NOT o_claimed THEN
            RETURN;
        END IF;
        -- Each statement of a volatile function sees what was committed when it starts: the
        -- turn of another instance that held the claim before is seen whole.
        IF p_message IS NOT NULL THEN
            SELECT p.response INTO o_response FROM processed p
                WHERE p.user_id = p_user AND p.message_id = p_message;
        END IF;
        IF o_response IS NULL THEN
            SELECT s.session INTO o_session FROM sessions s WHERE s.user_id = p_user;
        END IF;
    END $fn$;
    CREATE FUNCTION scn_commit_turn(p_user TEXT, p_session TEXT, p_next_due BIGINT,
        p_now BIGINT, p_message TEXT, p_response TEXT, p_set_timers BOOLEAN, p_seqs BIGINT[],
        p_dues BIGINT[], p_names TEXT[], p_scenarios TEXT[], p_blocks TEXT[], p_globals TEXT,
        p_outbox TEXT, p_claim_keys TEXT[], p_claim_owners TEXT[], p_claim_release BOOLEAN[])
    RETURNS BIGINT LANGUAGE plpgsql VOLATILE AS $fn$
    DECLARE
        v_seq BIGINT;
    BEGIN
        FOR i IN 1 .. coalesce(array_length(p_claim_keys, 1), 0) LOOP
            IF p_claim_release[i] THEN
                DELETE FROM claims WHERE key = p_claim_keys[i] AND owner = p_claim_owners[i];
            ELSE
                PERFORM 1 FROM claims WHERE key = p_claim_keys[i] AND owner = p_claim_owners[i]
                    FOR UPDATE;
            END IF;
            IF NOT FOUND THEN
                RAISE EXCEPTION 'the claim of % expired; another instance may have taken it',
                    p_claim_keys[i] USING ERRCODE = 'SCN02';
            END IF;
        END LOOP;
        IF p_message IS NOT NULL THEN
            INSERT INTO processed (user_id, message_id, response, at_ms)
                VALUES (p_user, p_message, p_response, p_now) ON CONFLICT DO NOTHING;
            IF NOT FOUND THEN
                RAISE EXCEPTION 'message id % was processed already', p_message
                    USING ERRCODE = 'SCN01';
            END IF;
        END IF;
        -- The session, and the next outbox seq when the turn has events: last_seq + 1.
        INSERT INTO sessions AS s (user_id, session, next_due, updated_ms, last_seq)
            VALUES (p_user, p_session, p_next_due, p_now,
                    CASE WHEN p_outbox IS NULL THEN 0 ELSE 1 END)
            ON CONFLICT (user_id) DO UPDATE SET session = excluded.session,
                next_due = excluded.next_due, updated_ms = excluded.updated_ms,
                last_seq = s.last_seq + excluded.last_seq
            RETURNING s.last_seq INTO v_seq;
        IF p_set_timers THEN
            DELETE FROM timers WHERE user_id = p_user;
            INSERT INTO timers (user_id, seq, due_ms, name, scenario, block)
                SELECT p_user, * FROM unnest(p_seqs, p_dues, p_names, p_scenarios, p_blocks);
        END IF;
        IF p_globals IS NOT NULL THEN
            INSERT INTO globals (id, vars) VALUES (1, p_globals)
                ON CONFLICT (id) DO UPDATE SET vars = excluded.vars;
        END IF;
        IF p_outbox IS NOT NULL THEN
            INSERT INTO outbox (user_id, seq, events, created_ms)
                VALUES (p_user, v_seq, p_outbox, p_now);
            RETURN v_seq;
        END IF;
        RETURN NULL;
    END $fn$;"#,
    // 4: turns without a claim. A turn that cannot call `http` (nor touch a global) runs
    // from the version of the session the instance last saw, and commits only if the session
    // is still that version and nobody holds a claim of the user: one round trip, shared by
    // the turns committing at the same moment. Everything that claims a user, and every such
    // commit, first takes a transaction's advisory lock on the user: a claim and a commit of
    // the same user never cross.
    r#"ALTER TABLE sessions ADD COLUMN version BIGINT NOT NULL DEFAULT 0;
    CREATE FUNCTION scn_claim(p_key TEXT, p_owner TEXT, p_now BIGINT, p_until BIGINT)
    RETURNS BOOLEAN LANGUAGE plpgsql VOLATILE AS $fn$
    BEGIN
        PERFORM pg_advisory_xact_lock(1935896065, hashtext(p_key));
        INSERT INTO claims AS c (key, owner, until_ms) VALUES (p_key, p_owner, p_until)
            ON CONFLICT (key) DO UPDATE SET owner = excluded.owner, until_ms = excluded.until_ms
            WHERE c.owner = excluded.owner OR c.until_ms < p_now;
        RETURN FOUND;
    END $fn$;
    CREATE OR REPLACE FUNCTION scn_begin_turn(p_user TEXT, p_message TEXT, p_owner TEXT,
        p_now BIGINT, p_until BIGINT, OUT o_claimed BOOLEAN, OUT o_response TEXT,
        OUT o_session TEXT)
    LANGUAGE plpgsql VOLATILE AS $fn$
    BEGIN
        o_claimed := scn_claim(p_user, p_owner, p_now, p_until);
        IF NOT o_claimed THEN
            RETURN;
        END IF;
        IF p_message IS NOT NULL THEN
            SELECT p.response INTO o_response FROM processed p
                WHERE p.user_id = p_user AND p.message_id = p_message;
        END IF;
        IF o_response IS NULL THEN
            SELECT s.session INTO o_session FROM sessions s WHERE s.user_id = p_user;
        END IF;
    END $fn$;
    CREATE OR REPLACE FUNCTION scn_commit_turn(p_user TEXT, p_session TEXT, p_next_due BIGINT,
        p_now BIGINT, p_message TEXT, p_response TEXT, p_set_timers BOOLEAN, p_seqs BIGINT[],
        p_dues BIGINT[], p_names TEXT[], p_scenarios TEXT[], p_blocks TEXT[], p_globals TEXT,
        p_outbox TEXT, p_claim_keys TEXT[], p_claim_owners TEXT[], p_claim_release BOOLEAN[])
    RETURNS BIGINT LANGUAGE plpgsql VOLATILE AS $fn$
    DECLARE
        v_seq BIGINT;
    BEGIN
        FOR i IN 1 .. coalesce(array_length(p_claim_keys, 1), 0) LOOP
            IF p_claim_release[i] THEN
                DELETE FROM claims WHERE key = p_claim_keys[i] AND owner = p_claim_owners[i];
            ELSE
                PERFORM 1 FROM claims WHERE key = p_claim_keys[i] AND owner = p_claim_owners[i]
                    FOR UPDATE;
            END IF;
            IF NOT FOUND THEN
                RAISE EXCEPTION 'the claim of % expired; another instance may have taken it',
                    p_claim_keys[i] USING ERRCODE = 'SCN02';
            END IF;
        END LOOP;
        IF p_message IS NOT NULL THEN
            INSERT INTO processed (user_id, message_id, response, at_ms)
                VALUES (p_user, p_message, p_response, p_now) ON CONFLICT DO NOTHING;
            IF NOT FOUND THEN
                RAISE EXCEPTION 'message id % was processed already', p_message
                    USING ERRCODE = 'SCN01';
            END IF;
        END IF;
        -- Every write of a session makes a new version of it.
        INSERT INTO sessions AS s (user_id, session, next_due, updated_ms, last_seq, version)
            VALUES (p_user, p_session, p_next_due, p_now,
                    CASE WHEN p_outbox IS NULL THEN 0 ELSE 1 END, 1)
            ON CONFLICT (user_id) DO UPDATE SET session = excluded.session,
                next_due = excluded.next_due, updated_ms = excluded.updated_ms,
                last_seq = s.last_seq + excluded.last_seq, version = s.version + 1
            RETURNING s.last_seq INTO v_seq;
        IF p_set_timers THEN
            DELETE FROM timers WHERE user_id = p_user;
            INSERT INTO timers (user_id, seq, due_ms, name, scenario, block)
                SELECT p_user, * FROM unnest(p_seqs, p_dues, p_names, p_scenarios, p_blocks);
        END IF;
        IF p_globals IS NOT NULL THEN
            INSERT INTO globals (id, vars) VALUES (1, p_globals)
                ON CONFLICT (id) DO UPDATE SET vars = excluded.vars;
        END IF;
        IF p_outbox IS NOT NULL THEN
            INSERT INTO outbox (user_id, seq, events, created_ms)
                VALUES (p_user, v_seq, p_outbox, p_now);
            RETURN v_seq;
        END IF;
        RETURN NULL;
    END $fn$;
    -- Turns without a claim, several at once (item i of each array is turn i; timer rows name
    -- their turn in p_t_items). A row per turn: 'committed' (o_seq: its outbox seq),
    -- 'replayed' (o_text: the stored response), 'stale' (o_version and o_text: the session
    -- now, NULL when there is none), 'claimed'. The users are locked in the order of their
    -- lock keys, so two batches never wait on each other in a circle.
    CREATE FUNCTION scn_commit_unclaimed(p_users TEXT[], p_versions BIGINT[],
        p_sessions TEXT[], p_next_dues BIGINT[], p_nows BIGINT[], p_messages TEXT[],
        p_responses TEXT[], p_set_timers BOOLEAN[], p_outboxes TEXT[], p_t_items INTEGER[],
        p_t_seqs BIGINT[], p_t_dues BIGINT[], p_t_names TEXT[], p_t_scenarios TEXT[],
        p_t_blocks TEXT[])
    RETURNS TABLE (o_item INTEGER, o_status TEXT, o_seq BIGINT, o_version BIGINT, o_text TEXT)
    LANGUAGE plpgsql VOLATILE AS $fn$
    DECLARE
        i INTEGER;
        v_user TEXT;
        v_seq BIGINT;
        v_version BIGINT;
        v_events INTEGER;
    BEGIN
        FOR i IN SELECT n FROM generate_subscripts(p_users, 1) AS n
                 ORDER BY hashtext(p_users[n]), p_users[n] LOOP
            v_user := p_users[i];
            o_item := i;
            o_seq := NULL;
            o_version := NULL;
            o_text := NULL;
            PERFORM pg_advisory_xact_lock(1935896065, hashtext(v_user));
            IF p_messages[i] IS NOT NULL AND p_versions[i] IS NOT NULL THEN
                SELECT p.response INTO o_text FROM processed p
                    WHERE p.user_id = v_user AND p.message_id = p_messages[i];
                IF FOUND THEN
                    o_status := 'replayed';
                    RETURN NEXT;
                    CONTINUE;
                END IF;
            END IF;
            PERFORM 1 FROM claims c WHERE c.key = v_user;
            IF FOUND THEN
                o_status := 'claimed';
                RETURN NEXT;
                CONTINUE;
            END IF;
            v_events := CASE WHEN p_outboxes[i] IS NULL THEN 0 ELSE 1 END;
            IF p_versions[i] IS NULL THEN
                INSERT INTO sessions (user_id, session, next_due, updated_ms, last_seq, version)
                    VALUES (v_user, p_sessions[i], p_next_dues[i], p_nows[i], v_events, 1)
                    ON CONFLICT (user_id) DO NOTHING
                    RETURNING last_seq, version INTO v_seq, v_version;
            ELSE
                UPDATE sessions s SET session = p_sessions[i], next_due = p_next_dues[i],
                        updated_ms = p_nows[i], last_seq = s.last_seq + v_events,
                        version = s.version + 1
                    WHERE s.user_id = v_user AND s.version = p_versions[i]
                    RETURNING s.last_seq, s.version INTO v_seq, v_version;
            END IF;
            IF NOT FOUND THEN
                IF p_messages[i] IS NOT NULL THEN
                    SELECT p.response INTO o_text FROM processed p
                        WHERE p.user_id = v_user AND p.message_id = p_messages[i];
                    IF FOUND THEN
                        o_status := 'replayed';
                        RETURN NEXT;
                        CONTINUE;
                    END IF;
                END IF;
                SELECT s.version, s.session INTO o_version, o_text FROM sessions s
                    WHERE s.user_id = v_user;
                o_status := 'stale';
                RETURN NEXT;
                CONTINUE;
            END IF;
            IF p_messages[i] IS NOT NULL THEN
                INSERT INTO processed (user_id, message_id, response, at_ms)
                    VALUES (v_user, p_messages[i], p_responses[i], p_nows[i])
                    ON CONFLICT DO NOTHING;
                IF NOT FOUND THEN
                    -- Checked above under the lock: only a turn that ignored it gets here.
                    RAISE EXCEPTION 'message id % was processed already', p_messages[i]
                        USING ERRCODE = 'SCN01';
                END IF;
            END IF;
            IF p_set_timers[i] THEN
                DELETE FROM timers t WHERE t.user_id = v_user;
                INSERT INTO timers (user_id, seq, due_ms, name, scenario, block)
                    SELECT v_user, t.seq, t.due, t.name, t.scenario, t.block
                    FROM unnest(p_t_items, p_t_seqs, p_t_dues, p_t_names, p_t_scenarios,
                                p_t_blocks) AS t(item, seq, due, name, scenario, block)
                    WHERE t.item = i;
            END IF;
            IF v_events = 1 THEN
                INSERT INTO outbox (user_id, seq, events, created_ms)
                    VALUES (v_user, v_seq, p_outboxes[i], p_nows[i]);
                o_seq := v_seq;
            END IF;
            o_version := v_version;
            o_status := 'committed';
            RETURN NEXT;
        END LOOP;
    END $fn$;"#,
    // 5: the same commits of turns without a claim, a statement for every step of the
    // whole batch instead of statements for every turn: under load a batch holds tens of
    // turns, and a statement's start costs the database more than a row does. The users are
    // still locked first, in the order of their lock keys.
    r#"CREATE OR REPLACE FUNCTION scn_commit_unclaimed(p_users TEXT[], p_versions BIGINT[],
        p_sessions TEXT[], p_next_dues BIGINT[], p_nows BIGINT[], p_messages TEXT[],
        p_responses TEXT[], p_set_timers BOOLEAN[], p_outboxes TEXT[], p_t_items INTEGER[],
        p_t_seqs BIGINT[], p_t_dues BIGINT[], p_t_names TEXT[], p_t_scenarios TEXT[],
        p_t_blocks TEXT[])
    RETURNS TABLE (o_item INTEGER, o_status TEXT, o_seq BIGINT, o_version BIGINT, o_text TEXT)
    LANGUAGE plpgsql VOLATILE AS $fn$
    DECLARE
        n INTEGER := coalesce(array_length(p_users, 1), 0);
        v_status TEXT[] := array_fill(NULL::TEXT, ARRAY[n]);
        v_seq BIGINT[] := array_fill(NULL::BIGINT, ARRAY[n]);
        v_version BIGINT[] := array_fill(NULL::BIGINT, ARRAY[n]);
        v_text TEXT[] := array_fill(NULL::TEXT, ARRAY[n]);
        v_items INTEGER[];
        v_seqs BIGINT[];
        v_versions BIGINT[];
        v_texts TEXT[];
        v_found BOOLEAN[];
        v_missed BOOLEAN := FALSE;
        v_timers BOOLEAN := FALSE;
        v_processed INTEGER := 0;
        v_count INTEGER;
    BEGIN
        IF n = 0 THEN
            RETURN;
        END IF;
        -- Every user of the batch, locked in the order of the lock keys.
        PERFORM pg_advisory_xact_lock(1935896065, hashtext(b.u))
            FROM (SELECT u FROM unnest(p_users) AS u ORDER BY hashtext(u), u) AS b;
        -- Message ids answered already, of users the turn knew: the stored responses.
        SELECT array_agg(g.i), array_agg(p.response) INTO v_items, v_texts
            FROM generate_subscripts(p_users, 1) AS g(i)
            JOIN processed p ON p.user_id = p_users[g.i] AND p.message_id = p_messages[g.i]
            WHERE p_versions[g.i] IS NOT NULL;
        FOR k IN 1 .. coalesce(array_length(v_items, 1), 0) LOOP
            v_status[v_items[k]] := 'replayed';
            v_text[v_items[k]] := v_texts[k];
        END LOOP;
        -- Users an instance holds a claim of.
        SELECT array_agg(g.i) INTO v_items
            FROM generate_subscripts(p_users, 1) AS g(i)
            WHERE v_status[g.i] IS NULL
                AND EXISTS (SELECT 1 FROM claims c WHERE c.key = p_users[g.i]);
        FOR k IN 1 .. coalesce(array_length(v_items, 1), 0) LOOP
            v_status[v_items[k]] := 'claimed';
        END LOOP;
        -- New sessions, and sessions still at the version their turn started from. Every
        -- write of a session makes a new version of it.
        WITH w AS (
            INSERT INTO sessions (user_id, session, next_due, updated_ms, last_seq, version)
            SELECT p_users[g.i], p_sessions[g.i], p_next_dues[g.i], p_nows[g.i],
                    CASE WHEN p_outboxes[g.i] IS NULL THEN 0 ELSE 1 END, 1
                FROM generate_subscripts(p_users, 1) AS g(i)
                WHERE p_versions[g.i] IS NULL AND v_status[g.i] IS NULL
            ON CONFLICT (user_id) DO NOTHING
            RETURNING user_id, last_seq, version
        )
        SELECT array_agg(g.i), array_agg(w.last_seq), array_agg(w.version)
            INTO v_items, v_seqs, v_versions
            FROM w JOIN generate_subscripts(p_users, 1) AS g(i) ON p_users[g.i] = w.user_id;
        FOR k IN 1 .. coalesce(array_length(v_items, 1), 0) LOOP
            v_status[v_items[k]] := 'committed';
            v_seq[v_items[k]] := v_seqs[k];
            v_version[v_items[k]] := v_versions[k];
        END LOOP;
        WITH w AS (
            UPDATE sessions s SET session = p_sessions[g.i], next_due = p_next_dues[g.i],
                    updated_ms = p_nows[g.i],
                    last_seq = s.last_seq + CASE WHEN p_outboxes[g.i] IS NULL THEN 0 ELSE 1 END,
                    version = s.version + 1
                FROM generate_subscripts(p_users, 1) AS g(i)
                WHERE p_versions[g.i] IS NOT NULL AND v_status[g.i] IS NULL
                    AND s.user_id = p_users[g.i] AND s.version = p_versions[g.i]
                RETURNING g.i, s.last_seq, s.version
        )
        SELECT array_agg(w.i), array_agg(w.last_seq), array_agg(w.version)
            INTO v_items, v_seqs, v_versions FROM w;
        FOR k IN 1 .. coalesce(array_length(v_items, 1), 0) LOOP
            v_status[v_items[k]] := 'committed';
            v_seq[v_items[k]] := v_seqs[k];
            v_version[v_items[k]] := v_versions[k];
        END LOOP;
        FOR k IN 1 .. n LOOP
            IF v_status[k] IS NULL THEN
                v_missed := TRUE;
            ELSIF v_status[k] = 'committed' THEN
                v_timers := v_timers OR p_set_timers[k];
                IF p_messages[k] IS NOT NULL THEN
                    v_processed := v_processed + 1;
                END IF;
                IF p_outboxes[k] IS NULL THEN
                    v_seq[k] := NULL;
                END IF;
            END IF;
        END LOOP;
        -- Not written: the message was answered meanwhile (the stored response), or the
        -- session is no longer the version the turn started from (the session now, or none).
        IF v_missed THEN
            SELECT array_agg(g.i), array_agg(p.response IS NOT NULL),
                    array_agg(coalesce(p.response, s.session)), array_agg(s.version)
                INTO v_items, v_found, v_texts, v_versions
                FROM generate_subscripts(p_users, 1) AS g(i)
                LEFT JOIN processed p
                    ON p.user_id = p_users[g.i] AND p.message_id = p_messages[g.i]
                LEFT JOIN sessions s ON p.response IS NULL AND s.user_id = p_users[g.i]
                WHERE v_status[g.i] IS NULL;
            FOR k IN 1 .. coalesce(array_length(v_items, 1), 0) LOOP
                v_text[v_items[k]] := v_texts[k];
                IF v_found[k] THEN
                    v_status[v_items[k]] := 'replayed';
                ELSE
                    v_status[v_items[k]] := 'stale';
                    v_version[v_items[k]] := v_versions[k];
                END IF;
            END LOOP;
        END IF;
        IF v_processed > 0 THEN
            INSERT INTO processed (user_id, message_id, response, at_ms)
                SELECT p_users[g.i], p_messages[g.i], p_responses[g.i], p_nows[g.i]
                    FROM generate_subscripts(p_users, 1) AS g(i)
                    WHERE v_status[g.i] = 'committed' AND p_messages[g.i] IS NOT NULL
                ON CONFLICT DO NOTHING;
            GET DIAGNOSTICS v_count = ROW_COUNT;
            IF v_count <> v_processed THEN
                -- Checked above under the locks: only a turn that ignored them gets here.
                RAISE EXCEPTION 'a message id of the batch was processed already'
                    USING ERRCODE = 'SCN01';
            END IF;
        END IF;
        IF v_timers THEN
            DELETE FROM timers t USING generate_subscripts(p_users, 1) AS g(i)
                WHERE t.user_id = p_users[g.i] AND v_status[g.i] = 'committed'
                    AND p_set_timers[g.i];
            INSERT INTO timers (user_id, seq, due_ms, name, scenario, block)
                SELECT p_users[t.item], t.seq, t.due, t.name, t.scenario, t.block
                    FROM unnest(p_t_items, p_t_seqs, p_t_dues, p_t_names, p_t_scenarios,
                                p_t_blocks) AS t(item, seq, due, name, scenario, block)
                    WHERE v_status[t.item] = 'committed' AND p_set_timers[t.item];
        END IF;
        INSERT INTO outbox (user_id, seq, events, created_ms)
            SELECT p_users[g.i], v_seq[g.i], p_outboxes[g.i], p_nows[g.i]
                FROM generate_subscripts(p_users, 1) AS g(i)
                WHERE v_status[g.i] = 'committed' AND p_outboxes[g.i] IS NOT NULL;
        RETURN QUERY SELECT g.i, v_status[g.i], v_seq[g.i], v_version[g.i], v_text[g.i]
            FROM generate_subscripts(p_users, 1) AS g(i);
    END $fn$;"#,
];

/// The advisory lock migrations hold, with the hash of the schema as its second key: "scn\0".
const MIGRATION_LOCK: i32 = 0x7363_6e00;

/// Connections per instance, unless the URL says otherwise (`pool_size=N`).
const POOL_SIZE: usize = 16;
/// The most connections `pool_size` may ask for.
const MAX_POOL_SIZE: usize = 1000;

/// Takes scenarist's own `pool_size=N` out of the URL's query (the driver knows no such
/// parameter): the URL without it, and the size (the last one given, or [`POOL_SIZE`]).
fn take_pool_size(url: &str) -> Result<(String, usize), StoreError> {
    let Some((base, query)) = url.split_once('?') else {
        return Ok((url.to_string(), POOL_SIZE));
    };
    let mut size = POOL_SIZE;
    let mut rest = Vec::new();
    for pair in query.split('&') {
        match pair.strip_prefix("pool_size=") {
            Some(n) => {
                size = n
                    .parse()
                    .ok()
                    .filter(|n| (1..=MAX_POOL_SIZE).contains(n))
                    .ok_or_else(|| {
                        StoreError::Fatal(format!(
                            "invalid PostgreSQL URL: pool_size={n:?} is not a number of \
                             connections from 1 to {MAX_POOL_SIZE}"
                        ))
                    })?;
            }
            None => rest.push(pair),
        }
    }
    let url = if rest.is_empty() {
        base.to_string()
    } else {
        format!("{base}?{}", rest.join("&"))
    };
    Ok((url, size))
}

/// How long a call waits for a connection (a free one, a new one) before the store counts as
/// unavailable.
const POOL_TIMEOUT: Duration = Duration::from_secs(5);

/// Users due at `$1` or before, the earliest first, but for those another turn holds a claim
/// of (firing their timers on another instance, or running a turn of theirs): the claim
/// given up, they are listed again if still due.
const DUE: &str = "SELECT user_id FROM sessions s WHERE next_due IS NOT NULL AND next_due <= $1
       AND NOT EXISTS (SELECT 1 FROM claims c WHERE c.key = s.user_id AND c.until_ms >= $1)
     ORDER BY next_due, user_id LIMIT $2";

pub struct Postgres {
    pool: Pool,
    /// The session versions this process committed or read last.
    cache: Arc<Cache>,
    /// Turns without a claim waiting to be committed, and the batches committing them.
    batches: Arc<Batches>,
}

/// The most batches of turns without a claim committed at once, each in a transaction of
/// its own. A turn that comes to commit while a batch is in flight waits and goes with the
/// next, so under load a round trip and a transaction serve many turns; a second batch only
/// starts beside the first when a whole one is waiting. Fewer, fuller transactions cost the
/// database less for the same turns, most of all when several instances share it.
const BATCHES: usize = 4;
/// The most turns in one batch.
const BATCH_SIZE: usize = 64;

/// The queue of [`Store::commit_unclaimed`], and how many batches are being committed.
#[derive(Default)]
struct Batches {
    state: std::sync::Mutex<(Vec<Pending>, usize)>,
}

/// A turn waiting in [`Batches`].
struct Pending {
    commit: Commit,
    version: Option<i64>,
    done: tokio::sync::oneshot::Sender<Result<Unclaimed, StoreError>>,
}

/// The versions of sessions this process committed or read, a bounded number of users (two
/// generations: when the newer is full, the older goes). Only a guess of what the store
/// holds: a commit checks the version.
struct Cache {
    shards: Vec<std::sync::Mutex<Generations>>,
}

#[derive(Default)]
struct Generations {
    new: HashMap<String, Snapshot>,
    old: HashMap<String, Snapshot>,
}

/// Users per generation of a shard of the cache: at most 2 × 16 × 512 users are
/// remembered (with sessions of about a KiB, some 16 MiB).
const CACHE_SHARD_USERS: usize = 512;
const CACHE_SHARDS: usize = 16;

impl Cache {
    fn new() -> Cache {
        Cache {
            shards: (0..CACHE_SHARDS).map(|_| Default::default()).collect(),
        }
    }

    fn shard(&self, user_id: &str) -> std::sync::MutexGuard<'_, Generations> {
        use std::hash::{BuildHasher, BuildHasherDefault};
        let hash = BuildHasherDefault::<std::collections::hash_map::DefaultHasher>::default()
            .hash_one(user_id);
        let shard = &self.shards[hash as usize % CACHE_SHARDS];
        shard
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn get(&self, user_id: &str) -> Option<Snapshot> {
        let shard = self.shard(user_id);
        shard
            .new
            .get(user_id)
            .or_else(|| shard.old.get(user_id))
            .cloned()
    }

    fn put(&self, user_id: &str, snapshot: Snapshot) {
        let mut shard = self.shard(user_id);
        shard.old.remove(user_id);
        shard.new.insert(user_id.to_string(), snapshot);
        if shard.new.len() >= CACHE_SHARD_USERS {
            shard.old = std::mem::take(&mut shard.new);
        }
    }

    fn forget(&self, user_id: &str) {
        let mut shard = self.shard(user_id);
        shard.new.remove(user_id);
        shard.old.remove(user_id);
    }
}

/// A driver error, with its causes (the driver's own message is only its kind: "db error").
fn describe(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

fn unavailable(e: tokio_postgres::Error) -> StoreError {
    StoreError::Unavailable(format!("PostgreSQL: {}", describe(&e)))
}

fn no_connection(e: PoolError) -> StoreError {
    StoreError::Unavailable(match &e {
        PoolError::Backend(e) => format!("cannot connect to PostgreSQL: {}", describe(e)),
        _ => format!("no PostgreSQL connection: {e}"),
    })
}

/// What a message names the database by (never the password).
fn target(config: &tokio_postgres::Config) -> String {
    let host = match config.get_hosts().first() {
        Some(tokio_postgres::config::Host::Tcp(h)) => h.clone(),
        #[cfg(unix)]
        Some(tokio_postgres::config::Host::Unix(p)) => p.display().to_string(),
        None => "localhost".into(),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    match config.get_dbname() {
        Some(db) => format!("PostgreSQL database {db:?} on {host}:{port}"),
        None => format!("PostgreSQL on {host}:{port}"),
    }
}

/// Whether PostgreSQL can store the text (`TEXT` has no NUL character).
fn storable(text: &str) -> bool {
    !text.contains('\0')
}

/// Refuses a turn with a NUL character anywhere PostgreSQL would have to store it.
fn check_storable(c: &Commit) -> Result<(), StoreError> {
    let texts = [
        Some(&c.user_id),
        Some(&c.session),
        c.globals.as_ref(),
        c.outbox.as_ref(),
    ];
    let processed = c.processed.iter().flat_map(|(id, r)| [id, r]);
    let timers = c
        .timers
        .iter()
        .flatten()
        .flat_map(|t| [t.name.as_ref(), Some(&t.scenario), Some(&t.block)]);
    if texts
        .into_iter()
        .chain(timers)
        .flatten()
        .chain(processed)
        .all(|t| storable(t))
    {
        Ok(())
    } else {
        Err(StoreError::Fatal(format!(
            "the turn of user {:?} has a NUL character, which PostgreSQL cannot store",
            c.user_id
        )))
    }
}

fn limit(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

impl Postgres {
    /// Connects (a pool, one connection tried at once) and migrates the schema.
    pub async fn connect(url: &str) -> Result<Postgres, StoreError> {
        let (url, pool_size) = take_pool_size(url)?;
        let mut config: tokio_postgres::Config = url.parse().map_err(|e| {
            StoreError::Fatal(format!(
                "invalid PostgreSQL URL: {}",
                describe(&e as &(dyn std::error::Error + 'static))
            ))
        })?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(POOL_TIMEOUT);
        }
        let target = target(&config);
        let manager = Manager::from_config(
            config,
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(pool_size)
            // The connection used last is taken first: the few a light load needs stay warm
            // (their backends' caches too), and the rest go idle.
            .queue_mode(QueueMode::Lifo)
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(POOL_TIMEOUT))
            .create_timeout(Some(POOL_TIMEOUT))
            .recycle_timeout(Some(POOL_TIMEOUT))
            .build()
            .map_err(|e| StoreError::Fatal(format!("cannot make a pool for {target}: {e}")))?;
        let mut client = pool.get().await.map_err(|e| {
            StoreError::Fatal(match &e {
                PoolError::Backend(e) => format!("cannot connect to {target}: {}", describe(e)),
                _ => format!("cannot connect to {target}: {e}"),
            })
        })?;
        migrate(&mut client, &target).await?;
        Ok(Postgres {
            pool,
            cache: Arc::new(Cache::new()),
            batches: Arc::default(),
        })
    }

    async fn client(&self) -> Result<Client, StoreError> {
        self.pool.get().await.map_err(no_connection)
    }

    async fn commit_turn(&self, c: Commit) -> Result<Option<i64>, StoreError> {
        check_storable(&c)?;
        // A turn under a claim makes a version this process has not seen whole: a turn
        // without a claim starts from the store again.
        self.cache.forget(&c.user_id);
        let timers = c.timers.as_deref().unwrap_or_default();
        let seqs: Vec<i64> = timers.iter().map(|t| t.seq as i64).collect();
        let dues: Vec<i64> = timers.iter().map(|t| t.due_ms).collect();
        let names: Vec<Option<&str>> = timers.iter().map(|t| t.name.as_deref()).collect();
        let scenarios: Vec<&str> = timers.iter().map(|t| t.scenario.as_str()).collect();
        let blocks: Vec<&str> = timers.iter().map(|t| t.block.as_str()).collect();
        let keys: Vec<&str> = c.claims.iter().map(|t| t.key.as_str()).collect();
        let owners: Vec<&str> = c.claims.iter().map(|t| t.owner.as_str()).collect();
        let release: Vec<bool> = c.claims.iter().map(|t| t.release).collect();
        let (message, response) = match &c.processed {
            Some((id, response)) => (Some(id.as_str()), Some(response.as_str())),
            None => (None, None),
        };
        let client = self.client().await?;
        let commit = client
            .prepare_cached(
                "SELECT scn_commit_turn($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13,
                                        $14, $15, $16, $17)",
            )
            .await
            .map_err(unavailable)?;
        let row = client
            .query_one(
                &commit,
                &[
                    &c.user_id,
                    &c.session,
                    &c.next_due,
                    &c.now_ms,
                    &message,
                    &response,
                    &c.timers.is_some(),
                    &seqs,
                    &dues,
                    &names,
                    &scenarios,
                    &blocks,
                    &c.globals,
                    &c.outbox,
                    &keys,
                    &owners,
                    &release,
                ],
            )
            .await
            .map_err(|e| match e.code().map(|code| code.code()) {
                Some("SCN01") => StoreError::Fatal(format!(
                    "message id {:?} was processed already",
                    message.unwrap_or_default()
                )),
                Some("SCN02") => StoreError::Unavailable(match e.as_db_error() {
                    Some(db) => db.message().to_string(),
                    None => e.to_string(),
                }),
                _ => unavailable(e),
            })?;
        Ok(row.get(0))
    }
}

/// Commits batches of turns without a claim until the queue is empty (one of the
/// [`BATCHES`] a process runs at once).
async fn commit_batches(pool: Pool, cache: Arc<Cache>, batches: Arc<Batches>) {
    loop {
        let batch: Vec<Pending> = {
            let mut state = batches
                .state
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            if state.0.is_empty() {
                state.1 -= 1;
                return;
            }
            // One turn of a user a batch (a process runs a user's turns one at a time, so
            // a second one waits for the next batch only if that ever changes).
            let mut users = HashSet::new();
            let n = state
                .0
                .iter()
                .take(BATCH_SIZE)
                .take_while(|p| users.insert(p.commit.user_id.as_str()))
                .count();
            state.0.drain(..n).collect()
        };
        let results = match pool.get().await {
            Ok(client) => commit_batch(&client, &batch).await,
            Err(e) => Err(no_connection(e)),
        };
        match results {
            Ok(results) => {
                for (pending, (result, version)) in batch.into_iter().zip(results) {
                    let Pending { commit, done, .. } = pending;
                    match &result {
                        Unclaimed::Committed(_) => cache.put(
                            &commit.user_id,
                            Snapshot {
                                version,
                                session: Some(commit.session),
                            },
                        ),
                        Unclaimed::Stale(now) => cache.put(&commit.user_id, now.clone()),
                        Unclaimed::Claimed => cache.forget(&commit.user_id),
                        Unclaimed::Replayed(_) => {}
                    }
                    let _ = done.send(Ok(result));
                }
            }
            Err(e) => {
                for pending in batch {
                    cache.forget(&pending.commit.user_id);
                    let _ = pending.done.send(Err(e.clone()));
                }
            }
        }
    }
}

/// One batch in one transaction: how each of its turns went (with the version a commit
/// made), in the batch's order.
async fn commit_batch(
    client: &Client,
    batch: &[Pending],
) -> Result<Vec<(Unclaimed, Option<i64>)>, StoreError> {
    let commits = || batch.iter().map(|p| &p.commit);
    let users: Vec<&str> = commits().map(|c| c.user_id.as_str()).collect();
    let versions: Vec<Option<i64>> = batch.iter().map(|p| p.version).collect();
    let sessions: Vec<&str> = commits().map(|c| c.session.as_str()).collect();
    let next_dues: Vec<Option<i64>> = commits().map(|c| c.next_due).collect();
    let nows: Vec<i64> = commits().map(|c| c.now_ms).collect();
    let messages: Vec<Option<&str>> = commits()
        .map(|c| c.processed.as_ref().map(|(id, _)| id.as_str()))
        .collect();
    let responses: Vec<Option<&str>> = commits()
        .map(|c| c.processed.as_ref().map(|(_, r)| r.as_str()))
        .collect();
    let set_timers: Vec<bool> = commits().map(|c| c.timers.is_some()).collect();
    let outboxes: Vec<Option<&str>> = commits().map(|c| c.outbox.as_deref()).collect();
    let timers = || {
        commits()
            .enumerate()
            .flat_map(|(i, c)| c.timers.iter().flatten().map(move |t| (i as i32 + 1, t)))
    };
    let t_items: Vec<i32> = timers().map(|(i, _)| i).collect();
    let t_seqs: Vec<i64> = timers().map(|(_, t)| t.seq as i64).collect();
    let t_dues: Vec<i64> = timers().map(|(_, t)| t.due_ms).collect();
    let t_names: Vec<Option<&str>> = timers().map(|(_, t)| t.name.as_deref()).collect();
    let t_scenarios: Vec<&str> = timers().map(|(_, t)| t.scenario.as_str()).collect();
    let t_blocks: Vec<&str> = timers().map(|(_, t)| t.block.as_str()).collect();
    let statement = client
        .prepare_cached(
            "SELECT * FROM scn_commit_unclaimed($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11,
                                                $12, $13, $14, $15)",
        )
        .await
        .map_err(unavailable)?;
    let rows = client
        .query(
            &statement,
            &[
                &users,
                &versions,
                &sessions,
                &next_dues,
                &nows,
                &messages,
                &responses,
                &set_timers,
                &outboxes,
                &t_items,
                &t_seqs,
                &t_dues,
                &t_names,
                &t_scenarios,
                &t_blocks,
            ],
        )
        .await
        .map_err(unavailable)?;
    let mut results: Vec<Option<(Unclaimed, Option<i64>)>> = vec![None; batch.len()];
    for row in &rows {
        let item: i32 = row.get(0);
        let status: &str = row.get(1);
        let result = match status {
            "committed" => Unclaimed::Committed(row.get(2)),
            "replayed" => Unclaimed::Replayed(row.get(4)),
            "stale" => Unclaimed::Stale(Snapshot {
                version: row.get(3),
                session: row.get(4),
            }),
            _ => Unclaimed::Claimed,
        };
        if let Some(slot) = usize::try_from(item - 1)
            .ok()
            .and_then(|i| results.get_mut(i))
        {
            *slot = Some((result, row.get(3)));
        }
    }
    results
        .into_iter()
        .map(|r| {
            r.ok_or_else(|| {
                StoreError::Unavailable("PostgreSQL left a turn of a batch unanswered".into())
            })
        })
        .collect()
}

async fn due_users(
    client: &impl GenericClient,
    now_ms: i64,
    limit: i64,
) -> Result<Vec<String>, tokio_postgres::Error> {
    let due = client.prepare_cached(DUE).await?;
    let rows = client.query(&due, &[&now_ms, &limit]).await?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}

async fn migrate(client: &mut Client, target: &str) -> Result<(), StoreError> {
    let fatal = |e: tokio_postgres::Error| {
        StoreError::Fatal(format!(
            "cannot migrate the store ({target}): {}",
            describe(&e)
        ))
    };
    let tx = client.transaction().await.map_err(fatal)?;
    tx.batch_execute(&format!(
        "SELECT pg_advisory_xact_lock({MIGRATION_LOCK}, hashtext(coalesce(current_schema(), '')));
         CREATE TABLE IF NOT EXISTS scenarist_schema (
             id INTEGER PRIMARY KEY CHECK (id = 1),
             version INTEGER NOT NULL
         )"
    ))
    .await
    .map_err(fatal)?;
    let row = tx
        .query_one(
            "SELECT (SELECT version FROM scenarist_schema WHERE id = 1),
                    current_schema()::text",
            &[],
        )
        .await
        .map_err(fatal)?;
    let version = i64::from(row.get::<_, Option<i32>>(0).unwrap_or(0));
    let schema: Option<String> = row.get(1);
    let known = MIGRATIONS.len() as i64;
    if version > known {
        let _ = tx.rollback().await;
        return Err(StoreError::Fatal(format!(
            "the schema {:?} of the {target} was written by a newer scenarist (schema version \
             {version}; this one knows up to {known}); upgrade scenarist, or use another \
             database or schema",
            schema.unwrap_or_default()
        )));
    }
    if version < known {
        for sql in &MIGRATIONS[version as usize..] {
            tx.batch_execute(sql).await.map_err(fatal)?;
        }
        tx.execute(
            "INSERT INTO scenarist_schema (id, version) VALUES (1, $1)
             ON CONFLICT (id) DO UPDATE SET version = excluded.version",
            &[&(known as i32)],
        )
        .await
        .map_err(fatal)?;
    }
    tx.commit().await.map_err(fatal)
}

fn entry(r: &tokio_postgres::Row) -> OutboxEntry {
    OutboxEntry {
        user_id: r.get(0),
        seq: r.get(1),
        events: r.get(2),
        created_ms: r.get(3),
    }
}

impl Store for Postgres {
    fn kind(&self) -> &'static str {
        "postgres"
    }

    fn ping(&self) -> Fut<'_, ()> {
        Box::pin(async move {
            let client = self.client().await?;
            client.simple_query("SELECT 1").await.map_err(unavailable)?;
            Ok(())
        })
    }

    fn load<'a>(&'a self, user_id: &'a str) -> Fut<'a, Option<String>> {
        Box::pin(async move {
            if !storable(user_id) {
                return Ok(None);
            }
            let client = self.client().await?;
            let load = client
                .prepare_cached("SELECT session FROM sessions WHERE user_id = $1")
                .await
                .map_err(unavailable)?;
            let row = client
                .query_opt(&load, &[&user_id])
                .await
                .map_err(unavailable)?;
            Ok(row.map(|r| r.get(0)))
        })
    }

    fn processed<'a>(&'a self, user_id: &'a str, message_id: &'a str) -> Fut<'a, Option<String>> {
        Box::pin(async move {
            if !storable(user_id) || !storable(message_id) {
                return Ok(None);
            }
            let client = self.client().await?;
            let select = client
                .prepare_cached(
                    "SELECT response FROM processed WHERE user_id = $1 AND message_id = $2",
                )
                .await
                .map_err(unavailable)?;
            let row = client
                .query_opt(&select, &[&user_id, &message_id])
                .await
                .map_err(unavailable)?;
            Ok(row.map(|r| r.get(0)))
        })
    }

    fn begin_turn<'a>(
        &'a self,
        user_id: &'a str,
        message_id: Option<&'a str>,
        claim: Option<ClaimTry<'a>>,
    ) -> Fut<'a, Begin> {
        Box::pin(async move {
            let Some((owner, now_ms, until_ms)) = claim else {
                // Unclaimed (the caller holds the user otherwise): the plain reads.
                return super::read_begin(self, user_id, message_id).await;
            };
            if !storable(user_id) {
                // Never stored, so never claimed by anyone else either.
                return Ok(Begin {
                    claimed: true,
                    ..Begin::default()
                });
            }
            let message_id = message_id.filter(|id| storable(id));
            let client = self.client().await?;
            let begin = client
                .prepare_cached("SELECT * FROM scn_begin_turn($1, $2, $3, $4, $5)")
                .await
                .map_err(unavailable)?;
            let row = client
                .query_one(&begin, &[&user_id, &message_id, &owner, &now_ms, &until_ms])
                .await
                .map_err(unavailable)?;
            Ok(Begin {
                claimed: row.get(0),
                processed: row.get(1),
                session: row.get(2),
            })
        })
    }

    fn globals(&self) -> Fut<'_, Option<String>> {
        Box::pin(async move {
            let client = self.client().await?;
            let select = client
                .prepare_cached("SELECT vars FROM globals WHERE id = 1")
                .await
                .map_err(unavailable)?;
            let row = client.query_opt(&select, &[]).await.map_err(unavailable)?;
            Ok(row.map(|r| r.get(0)))
        })
    }

    fn commit(&self, commit: Commit) -> Fut<'_, Option<i64>> {
        Box::pin(self.commit_turn(commit))
    }

    fn snapshot(&self, user_id: &str) -> Option<Snapshot> {
        self.cache.get(user_id)
    }

    fn commit_unclaimed(&self, commit: Commit, version: Option<i64>) -> Fut<'_, Unclaimed> {
        Box::pin(async move {
            check_storable(&commit)?;
            let (done, answer) = tokio::sync::oneshot::channel();
            let start = {
                let mut state = self
                    .batches
                    .state
                    .lock()
                    .unwrap_or_else(|poisoned| poisoned.into_inner());
                state.0.push(Pending {
                    commit,
                    version,
                    done,
                });
                let start = state.1 == 0 || (state.1 < BATCHES && state.0.len() >= BATCH_SIZE);
                if start {
                    state.1 += 1;
                }
                start
            };
            if start {
                // A task of its own: a caller that goes away does not take the batch (the
                // other turns' commits) with it.
                tokio::spawn(commit_batches(
                    self.pool.clone(),
                    self.cache.clone(),
                    self.batches.clone(),
                ));
            }
            answer.await.unwrap_or_else(|_| {
                Err(StoreError::Unavailable(
                    "the commit of a turn was dropped".into(),
                ))
            })
        })
    }

    fn shared(&self) -> bool {
        true
    }

    fn claim<'a>(
        &'a self,
        key: &'a str,
        owner: &'a str,
        now_ms: i64,
        until_ms: i64,
    ) -> Fut<'a, bool> {
        Box::pin(async move {
            let client = self.client().await?;
            let statement = client
                .prepare_cached("SELECT scn_claim($1, $2, $3, $4)")
                .await
                .map_err(unavailable)?;
            let row = client
                .query_one(&statement, &[&key, &owner, &now_ms, &until_ms])
                .await
                .map_err(unavailable)?;
            Ok(row.get(0))
        })
    }

    fn release<'a>(&'a self, key: &'a str, owner: &'a str) -> Fut<'a, ()> {
        Box::pin(async move {
            let client = self.client().await?;
            let statement = client
                .prepare_cached("DELETE FROM claims WHERE key = $1 AND owner = $2")
                .await
                .map_err(unavailable)?;
            client
                .execute(&statement, &[&key, &owner])
                .await
                .map_err(unavailable)?;
            Ok(())
        })
    }

    fn delete_user<'a>(&'a self, user_id: &'a str) -> Fut<'a, bool> {
        Box::pin(async move {
            if !storable(user_id) {
                return Ok(false);
            }
            self.cache.forget(user_id);
            let client = self.client().await?;
            // One statement, so one transaction: every part of the user goes, or none.
            let delete = client
                .prepare_cached(
                    "WITH t AS (DELETE FROM timers WHERE user_id = $1),
                          p AS (DELETE FROM processed WHERE user_id = $1),
                          o AS (DELETE FROM outbox WHERE user_id = $1)
                     DELETE FROM sessions WHERE user_id = $1",
                )
                .await
                .map_err(unavailable)?;
            let had = client
                .execute(&delete, &[&user_id])
                .await
                .map_err(unavailable)?;
            Ok(had > 0)
        })
    }

    fn due(&self, now_ms: i64, limit: usize) -> Fut<'_, Vec<String>> {
        Box::pin(async move {
            let client = self.client().await?;
            due_users(&client, now_ms, self::limit(limit))
                .await
                .map_err(unavailable)
        })
    }

    fn next_due(&self) -> Fut<'_, Option<i64>> {
        Box::pin(async move {
            let client = self.client().await?;
            let select = client
                .prepare_cached("SELECT min(next_due) FROM sessions WHERE next_due IS NOT NULL")
                .await
                .map_err(unavailable)?;
            let row = client.query_one(&select, &[]).await.map_err(unavailable)?;
            Ok(row.get(0))
        })
    }

    fn outbox_after<'a>(
        &'a self,
        user_id: &'a str,
        after: i64,
        limit: usize,
    ) -> Fut<'a, Vec<OutboxEntry>> {
        Box::pin(async move {
            if !storable(user_id) {
                return Ok(Vec::new());
            }
            let client = self.client().await?;
            let select = client
                .prepare_cached(
                    "SELECT user_id, seq, events, created_ms FROM outbox
                     WHERE user_id = $1 AND seq > $2 ORDER BY seq LIMIT $3",
                )
                .await
                .map_err(unavailable)?;
            let rows = client
                .query(&select, &[&user_id, &after, &self::limit(limit)])
                .await
                .map_err(unavailable)?;
            Ok(rows.iter().map(entry).collect())
        })
    }

    fn undelivered(&self, limit: usize) -> Fut<'_, Vec<OutboxEntry>> {
        Box::pin(async move {
            let client = self.client().await?;
            let select = client
                .prepare_cached(
                    "SELECT o.user_id, o.seq, o.events, o.created_ms FROM outbox o
                     JOIN (SELECT user_id, min(seq) AS seq FROM outbox
                           WHERE delivered_ms IS NULL GROUP BY user_id) f
                       ON o.user_id = f.user_id AND o.seq = f.seq
                     ORDER BY o.created_ms, o.user_id LIMIT $1",
                )
                .await
                .map_err(unavailable)?;
            let rows = client
                .query(&select, &[&self::limit(limit)])
                .await
                .map_err(unavailable)?;
            Ok(rows.iter().map(entry).collect())
        })
    }

    fn first_undelivered<'a>(&'a self, user_id: &'a str) -> Fut<'a, Option<OutboxEntry>> {
        Box::pin(async move {
            if !storable(user_id) {
                return Ok(None);
            }
            let client = self.client().await?;
            let select = client
                .prepare_cached(
                    "SELECT user_id, seq, events, created_ms FROM outbox
                     WHERE user_id = $1 AND delivered_ms IS NULL ORDER BY seq LIMIT 1",
                )
                .await
                .map_err(unavailable)?;
            let row = client
                .query_opt(&select, &[&user_id])
                .await
                .map_err(unavailable)?;
            Ok(row.as_ref().map(entry))
        })
    }

    fn delivered<'a>(&'a self, user_id: &'a str, seq: i64, now_ms: i64) -> Fut<'a, ()> {
        Box::pin(async move {
            if !storable(user_id) {
                return Ok(());
            }
            let client = self.client().await?;
            let update = client
                .prepare_cached(
                    "UPDATE outbox SET delivered_ms = $3
                     WHERE user_id = $1 AND seq <= $2 AND delivered_ms IS NULL",
                )
                .await
                .map_err(unavailable)?;
            client
                .execute(&update, &[&user_id, &seq, &now_ms])
                .await
                .map_err(unavailable)?;
            Ok(())
        })
    }

    fn prune(&self, before_ms: i64, undelivered_too: bool) -> Fut<'_, u64> {
        Box::pin(async move {
            let client = self.client().await?;
            let delete = client
                .prepare_cached(
                    "WITH o AS (DELETE FROM outbox
                                WHERE created_ms < $1 AND ($2 OR delivered_ms IS NOT NULL)
                                RETURNING 1),
                          p AS (DELETE FROM processed WHERE at_ms < $1 RETURNING 1)
                     SELECT (SELECT count(*) FROM o) + (SELECT count(*) FROM p)",
                )
                .await
                .map_err(unavailable)?;
            let row = client
                .query_one(&delete, &[&before_ms, &undelivered_too])
                .await
                .map_err(unavailable)?;
            Ok(row.get::<_, i64>(0) as u64)
        })
    }

    fn stats(&self) -> Fut<'_, Stats> {
        Box::pin(async move {
            let client = self.client().await?;
            let select = client
                .prepare_cached(
                    "SELECT (SELECT count(*) FROM sessions), (SELECT count(*) FROM timers),
                            (SELECT count(*) FROM outbox WHERE delivered_ms IS NULL)",
                )
                .await
                .map_err(unavailable)?;
            let row = client.query_one(&select, &[]).await.map_err(unavailable)?;
            Ok(Stats {
                sessions: row.get::<_, i64>(0) as u64,
                timers: row.get::<_, i64>(1) as u64,
                backlog: row.get::<_, i64>(2) as u64,
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pool_size_is_taken_out_of_the_url() {
        let take = |url: &str| take_pool_size(url).map_err(|e| e.to_string());
        assert_eq!(take("postgres://h/db"), Ok(("postgres://h/db".into(), 16)));
        assert_eq!(
            take("postgres://h/db?pool_size=4"),
            Ok(("postgres://h/db".into(), 4))
        );
        assert_eq!(
            take("postgres://h/db?options=-csearch_path%3Dbot&pool_size=40&connect_timeout=2"),
            Ok((
                "postgres://h/db?options=-csearch_path%3Dbot&connect_timeout=2".into(),
                40
            ))
        );
        for bad in ["0", "1001", "x", "", "-1"] {
            let e = take(&format!("postgres://h/db?pool_size={bad}"))
                .expect_err("a bad pool_size is refused");
            assert!(e.contains("pool_size"), "{e}");
        }
    }
}
