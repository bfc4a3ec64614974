"""The URLconf: one Django route per entry of the service's route table, in
order (the broker's or the plugin's: app.make_app sets the service first)."""

from django.urls import re_path

from multicloud_broker.web.django import views

urlpatterns = [
    re_path(route.root.lstrip("/") + route.pattern().lstrip("^"), views.route_view(route))
    for route in (views.SERVICE.routes if views.SERVICE else ())
]

handler400 = views.bad_request
handler404 = views.not_found
handler500 = views.server_error
