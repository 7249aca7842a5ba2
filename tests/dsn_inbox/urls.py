"""URLs of the live-update tests' site: the suite's own, plus a page with both inbox tags."""

from django.http import HttpRequest, HttpResponse
from django.template import RequestContext, Template
from django.urls import path

from tests.urls import urlpatterns as suite_urlpatterns

PAGE = Template(
    "{% load dsn_inbox %}<!doctype html><html lang='en'><head><title>Shop</title></head><body>"
    "<nav>{% dsn_inbox_badge %} {% dsn_inbox %}</nav><main><h1>Shop</h1></main></body></html>"
)


def shop(request: HttpRequest) -> HttpResponse:
    return HttpResponse(PAGE.render(RequestContext(request)))


urlpatterns = [*suite_urlpatterns, path("shop/", shop)]
