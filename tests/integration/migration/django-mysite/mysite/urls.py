"""mysite's URLs and their views (one module keeps the project tiny)."""
import os
import sys

from django.http import JsonResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt


def index(request):
    try:
        import herd_migration_marker  # installed only in the venv (`home`)
        marker = herd_migration_marker.WHERE
    except ImportError:
        marker = None
    return JsonResponse({
        "app": "django",
        "prefix": sys.prefix,
        "venv_marker": marker,
        "settings": os.environ.get("DJANGO_SETTINGS_MODULE"),
        "cwd": os.getcwd(),
        "host": request.get_host(),
        "path": request.path,
        "script_name": request.META.get("SCRIPT_NAME"),
        "secure": request.is_secure(),
        "remote": request.META.get("REMOTE_ADDR"),
        "cookie_len": len(request.COOKIES.get("big", "")),
        "pid": os.getpid(),
    })


@csrf_exempt
def form(request):
    return JsonResponse({"method": request.method, "fields": request.POST.dict(),
                         "files": {k: len(f.read()) for k, f in request.FILES.items()}})


def guarded(request):
    return JsonResponse({"ok": True})


urlpatterns = [
    path("", index),
    path("form/", form),
    path("guarded/", guarded),
]
