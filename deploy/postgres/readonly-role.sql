-- A read-only role for BI tools (Grafana, Metabase, Looker) on okrsync's PostgreSQL store.
-- It may read the okrsync_* views (docs/store.md, "Read views") and nothing else: no table,
-- no write. Run as the database owner, after okrsync created its schema (its first run), and
-- set the password outside this file:
--   psql -v bi_password="$BI_PASSWORD" -d okrsync -f deploy/postgres/readonly-role.sql
create role okrsync_bi login password :'bi_password'
    nosuperuser nocreatedb nocreaterole noinherit;
alter role okrsync_bi set default_transaction_read_only = on;
grant connect on database okrsync to okrsync_bi;
grant usage on schema public to okrsync_bi;
grant select on okrsync_untraceable, okrsync_links, okrsync_bets, okrsync_kr_values,
    okrsync_runs to okrsync_bi;
