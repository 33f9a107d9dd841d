"""The staff console served by the hub at ``/console`` (issue 18): the page registry, the
translations, the Jinja2 templates and the static ES modules. The HTTP routes that serve it are in
:mod:`hub.api.routes.console` (and ``console_*`` modules); logic here never imports ``hub.api``.
See docs/console.md."""
