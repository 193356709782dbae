from __future__ import annotations

from rest_framework.routers import SimpleRouter

from deploy.api.views import CapacityPlanViewSet, DeploymentViewSet, KubeClusterViewSet, RolloutViewSet

router = SimpleRouter()
router.register("capacity-plans", CapacityPlanViewSet, basename="capacityplan")
router.register("clusters", KubeClusterViewSet, basename="kubecluster")
router.register("deployments", DeploymentViewSet, basename="deployment")
router.register("rollouts", RolloutViewSet, basename="rollout")

urlpatterns = router.urls
