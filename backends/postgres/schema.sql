-- The mxdelegate PostgreSQL store, schema version 4 (mxdelegate_meta row
-- 'schema_version').
--
-- Embedded into backends/postgres.so at build time; "mxdelegatectl init" runs
-- it on a database without it, inside one transaction, or runs the part
-- after the "-- version 2" line on a version 1 store (the migration: a
-- fresh store is made as version 1, then migrated, so that both paths run
-- the same text); likewise "-- version 3" on a version 2 store and
-- "-- version 4" on a version 3 one.  The responder reads versions 1 to 4
-- (versions 1 and 2 have no redirect columns, read as NULL; before 4 there
-- are no renderings, read as none; so a node is not refused before init
-- migrated); writes need 4, mxdelegate-follow 2 to 4.
--
-- One row per domain, as in the SQLite store: the key is the canonical name
-- the responder looks up (A-labels, lower case, no trailing dot, or a
-- wildcard "*.example.net"), compared bytewise (COLLATE "C") so that list and
-- export come out in the order the SQLite store gives.  The JSON parts are
-- json-checked text, not jsonb: jsonb would rewrite numbers (1e100) and key
-- order, and an export must give back what was imported.
CREATE TABLE mxdelegate_meta (
	name  text PRIMARY KEY,
	value text NOT NULL
);

CREATE TABLE domains (
	domain        text COLLATE "C" PRIMARY KEY,
	server        text,
	client        text,
	client_extra  text CHECK (client_extra IS NULL OR json_typeof(client_extra::json) = 'object'),
	support       text CHECK (support IS NULL OR json_typeof(support::json) = 'object'),
	policy_server text CHECK (policy_server IS NULL OR json_typeof(policy_server::json) = 'object'),
	max_age       bigint,
	-- Free text for the provider's own reference (customer id, ticket).
	note          text,
	-- updated moves only when a write changed the record.
	created       timestamptz NOT NULL DEFAULT now(),
	updated       timestamptz NOT NULL DEFAULT now()
);

-- Every responder LISTENs on "mxdelegate" and drops its cache when a
-- notification comes.  One per statement, not per row: a bulk import is a
-- handful of notifications, and PostgreSQL sends them at commit only.
CREATE FUNCTION mxdelegate_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	PERFORM pg_notify('mxdelegate', TG_OP);
	RETURN NULL;
END
$$;

CREATE TRIGGER domains_notify
	AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON domains
	FOR EACH STATEMENT EXECUTE FUNCTION mxdelegate_notify();

INSERT INTO mxdelegate_meta (name, value) VALUES ('schema_version', '1');

-- version 2: the change log that mxdelegate-follow reads to keep a local
-- SQLite copy in step.
--
-- Every row written to domains is recorded here by the database itself (a
-- trigger), in the writing transaction, so that a write made with plain SQL
-- reaches the followers as one made with mxdelegatectl does.  A follower
-- reads "seq > the last it applied": for that never to skip a transaction
-- that took its seq early and committed late, a writer first takes an
-- EXCLUSIVE lock on this table, held to commit, so that writers run one
-- after the other here and seq order is commit order.  Readers (ACCESS
-- SHARE) are not blocked by it.  The lock is taken by a BEFORE statement
-- trigger, before the statement locks any row: taken only in the row
-- trigger, after the row's lock, two transactions writing the same rows in
-- another order could each hold what the other waits for (PostgreSQL would
-- end one as a deadlock).  domain NULL means every domain (TRUNCATE).
CREATE TABLE mxdelegate_changes (
	seq    bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	domain text COLLATE "C",
	at     timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX mxdelegate_changes_at ON mxdelegate_changes (at);

-- One statement trigger an event, with the statement's rows as transition
-- tables: a bulk import is one INSERT ... SELECT here, not a function call
-- a row.  (A trigger with transition tables has one event only.)
CREATE FUNCTION mxdelegate_record_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	-- Held already (domains_lock_changes); kept for a statement that
	-- fires no BEFORE trigger.
	LOCK TABLE mxdelegate_changes IN EXCLUSIVE MODE;
	IF TG_OP = 'TRUNCATE' THEN
		INSERT INTO mxdelegate_changes (domain) VALUES (NULL);
	ELSIF TG_OP = 'INSERT' THEN
		INSERT INTO mxdelegate_changes (domain) SELECT domain FROM new_rows ORDER BY domain;
	ELSIF TG_OP = 'DELETE' THEN
		INSERT INTO mxdelegate_changes (domain) SELECT domain FROM old_rows ORDER BY domain;
	ELSE
		INSERT INTO mxdelegate_changes (domain)
			SELECT domain FROM old_rows UNION SELECT domain FROM new_rows ORDER BY 1;
	END IF;
	RETURN NULL;
END
$$;

CREATE FUNCTION mxdelegate_lock_changes() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	LOCK TABLE mxdelegate_changes IN EXCLUSIVE MODE;
	RETURN NULL;
END
$$;

CREATE TRIGGER domains_lock_changes
	BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE ON domains
	FOR EACH STATEMENT EXECUTE FUNCTION mxdelegate_lock_changes();
CREATE TRIGGER domains_record_insert
	AFTER INSERT ON domains REFERENCING NEW TABLE AS new_rows
	FOR EACH STATEMENT EXECUTE FUNCTION mxdelegate_record_change();
CREATE TRIGGER domains_record_update
	AFTER UPDATE ON domains REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
	FOR EACH STATEMENT EXECUTE FUNCTION mxdelegate_record_change();
CREATE TRIGGER domains_record_delete
	AFTER DELETE ON domains REFERENCING OLD TABLE AS old_rows
	FOR EACH STATEMENT EXECUTE FUNCTION mxdelegate_record_change();
CREATE TRIGGER domains_record_truncate
	AFTER TRUNCATE ON domains
	FOR EACH STATEMENT EXECUTE FUNCTION mxdelegate_record_change();

-- Change records older than change_retention (an interval; operators may
-- UPDATE it) are deleted by the next write, and changes_pruned_through
-- keeps the highest seq ever deleted: a follower whose last applied seq is
-- below it has missed changes and makes a full copy.
CREATE FUNCTION mxdelegate_prune_changes() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
	cutoff timestamptz;
	pruned bigint;
BEGIN
	SELECT clock_timestamp() - value::interval INTO cutoff
		FROM mxdelegate_meta WHERE name = 'change_retention';
	-- The oldest record by seq (the primary key: one index probe, on every
	-- statement); seq order is time order, since writers queue for seqs.
	IF cutoff IS NULL OR NOT coalesce((SELECT at < cutoff FROM mxdelegate_changes ORDER BY seq LIMIT 1),
	                                  false) THEN
		RETURN NULL;
	END IF;
	LOCK TABLE mxdelegate_changes IN EXCLUSIVE MODE;
	WITH gone AS (DELETE FROM mxdelegate_changes WHERE at < cutoff RETURNING seq)
		SELECT max(seq) INTO pruned FROM gone;
	IF pruned IS NOT NULL THEN
		UPDATE mxdelegate_meta SET value = pruned::text
			WHERE name = 'changes_pruned_through' AND value::bigint < pruned;
	END IF;
	RETURN NULL;
END
$$;

-- Named to come after domains_record_*: PostgreSQL fires the triggers of
-- one kind in the order of their names, and a record pruned at once (a
-- retention of '0 seconds') must count in changes_pruned_through.
CREATE TRIGGER domains_trim_changes
	AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON domains
	FOR EACH STATEMENT EXECUTE FUNCTION mxdelegate_prune_changes();

-- store_id tells a follower that its primary is still the store it copied
-- (a database restored or made anew gets another one, and a full copy).
INSERT INTO mxdelegate_meta (name, value) VALUES
	('store_id', gen_random_uuid()::text),
	('change_retention', '7 days'),
	('changes_pruned_through', '0');
UPDATE mxdelegate_meta SET value = '2' WHERE name = 'schema_version';

-- version 3: redirects (a JSON string, the base for every document, or a
-- JSON object of one URL a document) and their status.  Added columns
-- change nothing in the change log: its triggers read only the domain.
ALTER TABLE domains
	ADD COLUMN redirect text
		CHECK (redirect IS NULL OR json_typeof(redirect::json) IN ('string', 'object')),
	ADD COLUMN redirect_status integer;
UPDATE mxdelegate_meta SET value = '3' WHERE name = 'schema_version';

-- version 4: the rendering of a record kept beside it (render on write,
-- ABI 1.3), as the SQLite store keeps it: the bytes the core made when the
-- admin tool wrote the record, the core's fingerprint they were made under
-- (rendered_for), and the plugin's digest of the record's row then
-- (rendered_of: XXH3-128 of the domain and every record column, the same
-- 16 bytes the SQLite plugin and mxdelegate-follow compute for the same
-- record).  A lookup reads both tables in one statement (a LEFT JOIN on the
-- domain) and hands the bytes back only while fingerprint and digest still
-- hold, so a row edited with SQL loses its rendering without a trigger.
--
-- No trigger on this table, and none may be added that writes
-- mxdelegate_changes or notifies: a rendering written alone is not a change
-- of the record (the digest check at read time is what keeps a stale one
-- from being served), and "mxdelegatectl render" over a million records
-- must not send every follower a million changes.
--
-- No foreign key to domains: a key referenced by another table cannot be
-- emptied with a plain "TRUNCATE domains" (PostgreSQL refuses it without
-- CASCADE), which operators and the change log's TRUNCATE record rely on;
-- and ON DELETE CASCADE would add a row trigger's work to every delete.
-- mxdelegatectl's put and remove delete the domain's rendering themselves;
-- one left behind by SQL (a DELETE or TRUNCATE of domains) is never
-- reached by the join from a missing row, and should the domain come back
-- with the very same columns its digest is the same row's, rendered under
-- the fingerprint it names: still a right answer.  "mxdelegatectl render"
-- does not remove such leftovers; DELETE FROM renderings r WHERE NOT
-- EXISTS (SELECT 1 FROM domains d WHERE d.domain = r.domain) does.
CREATE TABLE renderings (
	domain       text COLLATE "C" PRIMARY KEY,
	rendered_for text NOT NULL,
	rendered_of  bytea NOT NULL,
	rendered     bytea NOT NULL
);
UPDATE mxdelegate_meta SET value = '4' WHERE name = 'schema_version';
