"""SLO-driven capacity planner (pure Python; no Django imports).

Public API: ``plan``, ``PlanInput``, ``PlanResult``, ``PlanInputError``, ``plan_input_from_dict``.
"""

from __future__ import annotations

from deploy.capacity.catalog import CatalogError
from deploy.capacity.planner import plan
from deploy.capacity.schema import PlanInput, PlanInputError, PlanResult, plan_input_from_dict

__all__ = ["CatalogError", "PlanInput", "PlanInputError", "PlanResult", "plan", "plan_input_from_dict"]
