from __future__ import annotations

from rest_framework.routers import SimpleRouter

from qa.api.views import ConversationViewSet, QaViewSet

router = SimpleRouter()
router.register("qa", QaViewSet, basename="qa")
router.register("conversations", ConversationViewSet, basename="conversation")

urlpatterns = router.urls
