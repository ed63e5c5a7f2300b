from django.contrib.auth import views as auth_views
from django.urls import path

from patients import views

urlpatterns = [
    path("health/", views.health, name="health"),
    path("patients/", views.patients, name="patients"),
    path("me/", views.me, name="me"),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
]
