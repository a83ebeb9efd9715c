-- The mxdelegate PostgreSQL store, schema version 1 (mxdelegate_meta row
-- 'schema_version').
--
-- Embedded into backends/postgres.so at build time; "mxdelegatectl init" runs
-- it on a database without it, inside one transaction.  The responder refuses
-- any other schema version.
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
