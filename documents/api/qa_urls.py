from __future__ import annotations

from rest_framework.routers import SimpleRouter

from documents.api.qa_views import ConversationViewSet, QaViewSet

router = SimpleRouter()
router.register("qa", QaViewSet, basename="qa")
router.register("conversations", ConversationViewSet, basename="conversation")

urlpatterns = router.urls
