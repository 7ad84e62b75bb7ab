from django.urls import path

from bookshop import views

urlpatterns = [
    path("", views.book_list, name="book-list"),
    path("api/books", views.api_books, name="api-books"),
    path("healthz", views.healthz, name="healthz"),
]
