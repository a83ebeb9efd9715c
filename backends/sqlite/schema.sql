-- The mxdelegate SQLite store, schema version 3 (PRAGMA user_version).
--
-- Embedded into backends/sqlite.so at build time; "mxdelegatectl init" runs
-- it on an empty database, inside one transaction, or only the part after
-- the "-- version N:" line on a version N-1 database (the migrations: a new
-- store is made as version 1, then migrated, so that every path runs the
-- same text).  The responder opens the database read-only and reads
-- versions 1 to 3 (version 1 has no redirects, versions 1 and 2 no
-- renderings); writing needs version 3.
--
-- One row per domain.  The key is the canonical name the responder looks up:
-- A-labels, lower case, no trailing dot, or a wildcard "*.example.net".
-- The parts of the record that are JSON are stored as compact JSON text with
-- sorted keys, so that an export is stable.  Every record was validated by
-- mxd::record::validate before it was written; the CHECKs below only stop a
-- hand-made INSERT from storing what the plugin could not read back.
CREATE TABLE domains (
	domain        TEXT PRIMARY KEY NOT NULL,
	server        TEXT CHECK (server IS NULL OR typeof(server) = 'text'),
	client        TEXT CHECK (client IS NULL OR typeof(client) = 'text'),
	client_extra  TEXT CHECK (client_extra IS NULL OR json_type(client_extra) = 'object'),
	support       TEXT CHECK (support IS NULL OR json_type(support) = 'object'),
	policy_server TEXT CHECK (policy_server IS NULL OR json_type(policy_server) = 'object'),
	max_age       INTEGER CHECK (max_age IS NULL OR typeof(max_age) = 'integer'),
	-- Free text for the provider's own reference (customer id, ticket).
	note          TEXT CHECK (note IS NULL OR typeof(note) = 'text'),
	-- UTC, ISO 8601 ("2025-01-31T12:00:00Z"); updated moves only when a
	-- write changed the record.
	created       TEXT NOT NULL,
	updated       TEXT NOT NULL
) WITHOUT ROWID;

PRAGMA user_version = 1;

-- version 2: redirects (a JSON string, the base for every document, or a
-- JSON object of one URL a document) and their status.
ALTER TABLE domains ADD COLUMN redirect TEXT
	CHECK (redirect IS NULL OR json_type(redirect) IN ('text', 'object'));
ALTER TABLE domains ADD COLUMN redirect_status INTEGER
	CHECK (redirect_status IS NULL OR typeof(redirect_status) = 'integer');

PRAGMA user_version = 2;

-- version 3: the rendering of a record kept beside it (render on write,
-- ABI 1.3): the bytes the core made when the admin tool wrote the record,
-- the core's fingerprint they were made under, and the plugin's digest of
-- the record's row then (XXH3-128 of the domain and every record column).
-- A lookup reads both tables in one statement and hands the bytes back
-- only while both still hold, so a row edited with SQL loses its rendering
-- without a trigger.  A table of its own, a rowid table: in "domains"
-- (WITHOUT ROWID, whose interior pages carry whole rows) 1.3 KB a row made
-- every lookup's descent longer, a found name or not.  Its rowid is the
-- plugin's 64-bit hash of the domain (XXH3-64), so that a lookup reaches
-- the rendering in one descent of a tree of small interior pages; the
-- domain is kept to tell two names of one id apart (the later write wins).
CREATE TABLE renderings (
	id           INTEGER PRIMARY KEY,
	domain       TEXT NOT NULL,
	rendered_for TEXT NOT NULL CHECK (typeof(rendered_for) = 'text'),
	rendered_of  BLOB NOT NULL,
	rendered     BLOB NOT NULL
);

PRAGMA user_version = 3;
