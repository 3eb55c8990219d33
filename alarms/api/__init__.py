"""REST API of alarms under /api/v1: ``/alarms`` (and their actions), ``/silences``, ``/alarm-rules``.

May import flask, flask-openapi3, webcore and the registry API's auth, problems and schemas.
"""

from alarms.api.views import build_blueprint

__all__ = ["build_blueprint"]
