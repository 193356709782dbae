from __future__ import annotations

from django.urls import path
from rest_framework.routers import SimpleRouter

from recommendations.api.views import (
    CatalogItemViewSet,
    EventViewSet,
    ExperimentViewSet,
    ExposureViewSet,
    RecommendationView,
    RecommenderViewSet,
)

router = SimpleRouter()
router.register("catalog/items", CatalogItemViewSet, basename="catalogitem")
router.register("events", EventViewSet, basename="event")
router.register("recommenders", RecommenderViewSet, basename="recommender")
router.register("experiments", ExperimentViewSet, basename="experiment")
router.register("exposures", ExposureViewSet, basename="exposure")

urlpatterns = [
    path("recommendations/", RecommendationView.as_view(), name="recommendations"),
    *router.urls,
]
