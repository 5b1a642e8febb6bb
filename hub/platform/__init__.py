"""What every domain uses: settings, database, Redis, auth, errors, middleware, logging, pagination, outage handling, migrations."""
