"""ASGI entry point: HTTP through Django, websockets through Channels (served by daphne)."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402

from apps.predictions import routing as predictions_routing  # noqa: E402

# Each app with websockets has its own routing.py; they are all served here.
websocket_urlpatterns = [*predictions_routing.websocket_urlpatterns]


def websockets(patterns: list) -> AllowedHostsOriginValidator:
    """Websocket routes as the site serves them: only from its own pages (a foreign origin
    is refused: cross-site websocket hijacking), with the session's user in the scope."""
    return AllowedHostsOriginValidator(AuthMiddlewareStack(URLRouter(patterns)))


application = ProtocolTypeRouter(
    {"http": django_asgi_app, "websocket": websockets(websocket_urlpatterns)}
)
