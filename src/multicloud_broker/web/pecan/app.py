"""Builds the Pecan WSGI app around a Broker."""

from __future__ import annotations

from pecan.core import ExplicitPecan
from pecan.hooks import PecanHook

from multicloud_broker.core.errors import ApiError
from multicloud_broker.core.http import Request, Response
from multicloud_broker.web.pecan.controllers import REQUEST_KEY, RootController, to_webob


class BrokerPecan(ExplicitPecan):
    """Pecan, told to leave bodies and statuses as the broker makes them.

    Pecan's explicit mode (what `use_context_locals=False` selects): the
    request and response are passed to the controller instead of being kept
    in thread-locals, which under eventlet are green-locals costing a
    greenlet lookup on each of the twenty-odd accesses Pecan makes per
    request.
    """

    def __call__(self, environ, start_response):
        # Pecan parses JSON and form bodies into controller arguments, which
        # reads (and buffers) them; the broker streams bodies to plugins
        # untouched, so core takes the stream and the headers first, and
        # Pecan sees no body and no media type (which it would try to parse
        # anyway: a multipart type without a boundary made WebOb raise, a 500).
        environ[REQUEST_KEY] = Request.from_environ(environ)
        environ["wsgi.input"] = _EMPTY
        environ["CONTENT_LENGTH"] = "0"
        environ.pop("CONTENT_TYPE", None)
        return super().__call__(environ, start_response)

    def get_args(self, state, all_params, remainder, argspec, im_self):
        # The broker's one controller takes nothing from the query or the
        # path (core reads both); Pecan's explicit mode would otherwise build
        # an error message and a new argspec on every request.
        return [state.request, state.response], [], {}

    def invoke_controller(self, controller, args, kwargs, state):
        # Pecan's own version re-inspects the controller's signature on every
        # call (its getargspec builds a new namedtuple class each time: most
        # of Pecan's CPU per request). The broker's controller returns a
        # finished WebOb response.
        if getattr(controller, "__self__", None) is not self.root:
            # Pecan's walk follows any attribute, and `/__class__/...` leads it
            # to the root's class and its plain functions: no API path.
            controller = self.root._default
        state.response = controller(*args)

    def _handle_empty_response_body(self, state):
        # Pecan turns an empty 200 into 204 and reads streamed bodies to find
        # out; a plugin's answer must reach the client unchanged and streamed.
        return None


class _EmptyInput:
    def read(self, size: int = -1) -> bytes:
        return b""

    def readline(self, size: int = -1) -> bytes:
        return b""


_EMPTY = _EmptyInput()


class JsonAnswersHook(PecanHook):
    """Every answer is the broker's JSON or a plugin's own bytes."""

    def on_route(self, state):
        # Skip Pecan's Accept negotiation: it would answer 406 to clients
        # whose Accept does not list JSON, though plugins choose their types.
        state.request.pecan["content_type"] = "application/json"

    def on_error(self, state, exc):
        # Whatever escapes (Pecan's own HTTP errors included) is answered as
        # JSON, never as Pecan's HTML page.
        status = getattr(exc, "status_int", 500)
        message = getattr(exc, "detail", None) or getattr(exc, "title", None)
        error = ApiError(message or "internal error")
        error.status = status
        return to_webob(Response.error(error))


def make_app(broker) -> BrokerPecan:
    """Pecan's WSGI app serving `broker`."""
    return BrokerPecan(RootController(broker), hooks=[JsonAnswersHook()],
                       force_canonical=False, guess_content_type_from_ext=False)
