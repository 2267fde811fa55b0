"""The product's URLConf plus the floor view, for the benchmark only."""

from django.urls import path
from floor_app.views import insert

from rathaus.config.urls import handler400, handler403, handler404, handler500  # noqa: F401
from rathaus.config.urls import urlpatterns as product_urlpatterns

urlpatterns = [path("bench/floor", insert, name="bench-floor"), *product_urlpatterns]
