"""The URLconf: one Django route per entry of core's route table, in order."""

from django.urls import re_path

from multicloud_broker.core.routes import ROUTES
from multicloud_broker.web.django import views

urlpatterns = [
    re_path(route.root.lstrip("/") + route.pattern().lstrip("^"), views.route_view(route))
    for route in ROUTES
]

handler400 = views.bad_request
handler404 = views.not_found
handler500 = views.server_error
