"""URL wiring. Media has no URL on purpose: images go out only through review's checked views."""

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from review import two_factor

from . import health

urlpatterns = [
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("login/second-step/", two_factor.second_factor, name="second-factor"),
    path("login/second-step/enrol/", two_factor.second_factor_enrol, name="second-factor-enrol"),
    path("health/", health.health, name="health"),  # no sign-in: for load balancers and monitors
    path("metrics", health.metrics, name="metrics"),  # Prometheus; DEDUPE_METRICS_ALLOW only
    path("admin/", admin.site.urls),
    path("", include("review.urls")),
]
