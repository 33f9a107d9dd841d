"""One module per console page, each with a ``PAGE = Page(...)`` (see hub.console.registry and
/tmp/console_contract.md → docs/console.md). Navigation order (``order``): today 10, alerts 20,
attendance 30, rooms 40, people 50, search 60, forecasts 70, assistant 80, devices 90,
privacy 100."""
