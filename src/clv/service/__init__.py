"""``clv serve``: the CLV service for a marketing team (issue 17).

A workspace (:mod:`clv.service.workspace`: a settings file naming the data
sources, the options and the schedule) is refreshed into runs
(:mod:`clv.service.runs`) stored with their history in a database
(:mod:`clv.service.store`: DuckDB by default, PostgreSQL through a URL). A
FastAPI app (:mod:`clv.service.app`) serves the runs through a REST API with
token authentication and roles (:mod:`clv.service.security`) and a dashboard of
pages for marketers; :mod:`clv.service.schedule` refreshes on a cron schedule.

Nothing here is imported by ``import clv`` or ``clv --help``: the web stack
loads only when the service starts. See docs/service.md.
"""
