"""URL wiring. Media has no URL on purpose: images go out only through review's checked views."""

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path, re_path

from review import two_factor
from review.api.site import api, api_not_found

from . import health

urlpatterns = [
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("login/second-step/", two_factor.second_factor, name="second-factor"),
    path("login/second-step/enrol/", two_factor.second_factor_enrol, name="second-factor-enrol"),
    path("health/", health.health, name="health"),  # no sign-in: for load balancers and monitors
    path("metrics", health.metrics, name="metrics"),  # Prometheus; DEDUPE_METRICS_ALLOW only
    path("admin/", admin.site.urls),
    path("api/v1/", api.urls),  # bearer tokens only: a session grants nothing here (review.api.auth)
    re_path(r"^api/(?P<rest>.*)$", api_not_found),
    path("", include("review.urls")),
]
