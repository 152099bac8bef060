"""URLs: DOT's endpoints under /o/, its RFC 8414 metadata at the root (so the issuer is the
server's origin), and the protected resource at /api/resource."""

from django.urls import include, path

from oauth2_provider import urls as oauth2_urls

from . import views

urlpatterns = [
    path("", include((oauth2_urls.metadata_urlpatterns, "oauth2_provider_metadata"))),
    path("o/", include((oauth2_urls.base_urlpatterns, "oauth2_provider"))),
    path("api/resource", views.Resource.as_view()),
    path("cb", views.callback),
]
