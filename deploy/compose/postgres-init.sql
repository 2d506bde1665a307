-- One database per service that owns data; each service's `<name> migrate` creates its schema.
-- The official postgres image runs this once, as POSTGRES_USER, when the data volume is empty:
-- to re-run it, remove the volume (`docker compose down -v`).
CREATE DATABASE ingest;
CREATE DATABASE scoring;
CREATE DATABASE playbook;
