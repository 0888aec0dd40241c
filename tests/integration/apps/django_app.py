"""A minimal single-module Django project: settings, urls and views here."""
import json

from django.conf import settings

settings.configure(
    DEBUG=False,
    ALLOWED_HOSTS=["*"],
    ROOT_URLCONF=__name__,
    SECRET_KEY="herd-tests-not-secret",
    MIDDLEWARE=[
        "django.middleware.common.CommonMiddleware",
        "django.middleware.csrf.CsrfViewMiddleware",
    ],
    INSTALLED_APPS=[],
    DATABASES={},
    USE_TZ=True,
)

from django.core.wsgi import get_wsgi_application  # noqa: E402
from django.http import HttpResponse, JsonResponse  # noqa: E402
from django.urls import path  # noqa: E402
from django.views.decorators.csrf import csrf_exempt  # noqa: E402


def hello(request):
    return HttpResponse("django hello, name=%s" % request.GET.get("name", "none"), content_type="text/plain")


@csrf_exempt
def post(request):
    return JsonResponse({"method": request.method, "fields": request.POST.dict(),
                         "body_len": len(request.body)})


def guarded(request):
    # not csrf-exempt: a POST without a token must be refused with 403
    return HttpResponse("guarded")


def meta(request):
    return JsonResponse({"host": request.get_host(), "path": request.path,
                         "script_name": request.META.get("SCRIPT_NAME"),
                         "scheme": request.scheme, "remote": request.META.get("REMOTE_ADDR")})


urlpatterns = [
    path("hello", hello),
    path("post", post),
    path("guarded", guarded),
    path("meta", meta),
]

application = get_wsgi_application()
