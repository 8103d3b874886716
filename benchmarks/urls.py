"""One tiny view, shared by every stack in ``bench_requests.py``."""
from django.http import HttpRequest, HttpResponse
from django.urls import path


def whoami(request: HttpRequest) -> HttpResponse:
    # Reading the username forces the (lazy) user to load in both auth stacks.
    user = getattr(request, "user", None)  # the no-auth stack has no request.user
    return HttpResponse(user.get_username() if user is not None else "-", content_type="text/plain")


urlpatterns = [path("whoami/", whoami)]
