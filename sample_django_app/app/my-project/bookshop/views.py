import os

from django.db import DatabaseError, connection
from django.db.migrations.loader import MigrationLoader
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render

from bookshop.models import Book


def book_to_json(book: Book) -> dict[str, object]:
    return {
        "id": book.pk,
        "title": book.title,
        "author": book.author,
        "year": book.year,
    }


def book_list(request: HttpRequest) -> HttpResponse:
    return render(request, "bookshop/book_list.html", {"books": Book.objects.all()})


def api_books(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"books": [book_to_json(book) for book in Book.objects.all()]})


def healthz(request: HttpRequest) -> JsonResponse:
    """Which release runs against which schema; 200 only when the database answers.

    `migrations` is the latest applied migration per app (from django_migrations),
    `pending` the migrations this release's code has that the database has not.
    """
    release = os.environ.get("APP_RELEASE", "unknown")
    try:
        loader = MigrationLoader(connection)
    except DatabaseError as err:
        return JsonResponse({"release": release, "database": str(err).strip()}, status=503)
    latest: dict[str, str] = {}
    for app, name in sorted(loader.applied_migrations):
        latest[app] = name
    pending = sorted(
        f"{app}.{name}"
        for app, name in loader.graph.nodes
        if (app, name) not in loader.applied_migrations
    )
    return JsonResponse({"release": release, "migrations": latest, "pending": pending})
