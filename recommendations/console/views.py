"""Console pages under /t/<slug>/recommendations/: catalog, events, try it, training, experiments.

Views resolve the tenant through TenantConsoleView, call one service or selector, render.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from portal.exceptions import ApplicationError
from recommendations import constants as C
from recommendations.api.filters import CatalogItemFilter
from recommendations.models import TrainingRun
from recommendations.selectors import (
    catalog_categories,
    catalog_item_get,
    catalog_item_list,
    event_list,
    event_stats,
    experiment_get,
    experiment_list,
    training_run_get,
    training_run_list,
)
from recommendations.services import (
    catalog_item_deactivate,
    catalog_items_upsert,
    experiment_create,
    experiment_results,
    experiment_stop,
    parse_catalog_file,
    recommendation_serve,
    training_run_activate,
    training_run_start,
)
from tenants.console.base import TenantConsoleView

MAX_IMPORT_BYTES = C.MAX_BODY_BYTES


class CatalogView(TenantConsoleView):
    capability = "catalog.read"
    method_capability = {"post": "catalog.write"}

    def _context(self, request: HttpRequest, **extra: Any) -> dict[str, Any]:
        filterset = CatalogItemFilter(request.GET, queryset=catalog_item_list(tenant=self.tenant))
        page = Paginator(filterset.qs, 50).get_page(request.GET.get("page"))
        query = request.GET.copy()
        query.pop("page", None)
        return {
            "page": page,
            "filter": filterset,
            "query": query.urlencode(),
            "categories": catalog_categories(tenant=self.tenant),
            "can_write": self.can("catalog.write"),
            "section": "catalog",
            **extra,
        }

    def get(self, request: HttpRequest, tenant_slug: str) -> HttpResponse:
        return render(request, "recommendations/catalog.html", self._context(request))

    def post(self, request: HttpRequest, tenant_slug: str) -> HttpResponse:
        if request.POST.get("op") == "deactivate":
            try:
                item = catalog_item_get(tenant=self.tenant, item_id=int(request.POST.get("item_id", 0)))
                catalog_item_deactivate(tenant=self.tenant, actor=self.actor, item=item)
                messages.success(request, f"{item.title} deactivated.")
            except (ApplicationError, ValueError):
                messages.error(request, "Item not found.")
            return redirect("recs:catalog", tenant_slug=tenant_slug)
        upload = request.FILES.get("file")
        result = None
        error = None
        if upload is None:
            error = "Choose a CSV or JSON file to import."
        elif (upload.size or 0) > MAX_IMPORT_BYTES:
            error = f"The file is {upload.size:,} bytes; the limit is {MAX_IMPORT_BYTES:,}."
        else:
            try:
                rows = parse_catalog_file(name=upload.name or "", content=upload.read())
                result = catalog_items_upsert(tenant=self.tenant, actor=self.actor, rows=rows)
            except ApplicationError as exc:
                error = exc.message
        status = 400 if error else 200
        return render(
            request,
            "recommendations/catalog.html",
            self._context(request, import_result=result, import_error=error),
            status=status,
        )


class EventsView(TenantConsoleView):
    capability = "catalog.read"

    def get(self, request: HttpRequest, tenant_slug: str) -> HttpResponse:
        stats = event_stats(tenant=self.tenant)
        peak = max((d["total"] for d in stats["per_day"]), default=0)
        for d in stats["per_day"]:
            d["pct"] = round(100 * d["total"] / peak) if peak else 0
        return render(
            request,
            "recommendations/events.html",
            {
                "stats": stats,
                "recent": event_list(tenant=self.tenant)[:20],
                "section": "events",
            },
        )


class TryView(TenantConsoleView):
    capability = "recs.query"

    def get(self, request: HttpRequest, tenant_slug: str) -> HttpResponse:
        recent_users = list(event_list(tenant=self.tenant).order_by().values_list("user_id", flat=True).distinct()[:50])
        ctx: dict[str, Any] = {
            "recent_users": recent_users,
            "categories": catalog_categories(tenant=self.tenant),
            "section": "try",
            "form": request.GET,
        }
        user_id = request.GET.get("user_id", "").strip()
        if user_id:
            try:
                k = int(request.GET.get("k") or 10)
                served = recommendation_serve(
                    tenant=self.tenant,
                    actor=self.actor,
                    user_id=user_id[: C.MAX_USER_ID_CHARS],
                    k=k,
                    context_item_id=request.GET.get("item_id", "").strip() or None,
                    category=request.GET.get("category") or None,
                    record_exposure=False,
                )
                ctx["served"] = served
                ctx["history"] = event_list(tenant=self.tenant).filter(user_id=user_id)[:10]
            except ValueError:
                ctx["error"] = "k must be a whole number."
            except ApplicationError as exc:
                ctx["error"] = exc.message
        return render(request, "recommendations/try.html", ctx)


class TrainingView(TenantConsoleView):
    capability = "catalog.read"
    method_capability = {"post": "recs.train"}

    def get(self, request: HttpRequest, tenant_slug: str) -> HttpResponse:
        runs = list(training_run_list(tenant=self.tenant)[:50])
        return render(
            request,
            "recommendations/training.html",
            {
                "runs": runs,
                "section": "training",
                "can_train": self.can("recs.train"),
                "in_progress": any(r.status in (TrainingRun.Status.QUEUED, TrainingRun.Status.RUNNING) for r in runs),
            },
        )

    def post(self, request: HttpRequest, tenant_slug: str) -> HttpResponse:
        try:
            if request.POST.get("op") == "activate":
                run = training_run_get(tenant=self.tenant, run_id=int(request.POST.get("run_id", 0)))
                training_run_activate(tenant=self.tenant, actor=self.actor, run=run)
                messages.success(request, f"Recommender v{run.version} is now active.")
            else:
                params = {"content": "content" in request.POST}  # an unchecked box is not sent
                run = training_run_start(tenant=self.tenant, actor=self.actor, params=params)
                messages.success(request, f"Training v{run.version} queued.")
        except ApplicationError as exc:
            messages.error(request, exc.message)
        except ValueError:
            messages.error(request, "Invalid recommender.")
        return redirect("recs:training", tenant_slug=tenant_slug)


class ExperimentsView(TenantConsoleView):
    capability = "catalog.read"
    method_capability = {"post": "experiments.manage"}

    def get(self, request: HttpRequest, tenant_slug: str) -> HttpResponse:
        experiments = list(experiment_list(tenant=self.tenant)[:20])
        results = [(exp, experiment_results(tenant=self.tenant, experiment=exp)) for exp in experiments[:5]]
        ready = training_run_list(tenant=self.tenant).filter(status=TrainingRun.Status.READY)[:20]
        return render(
            request,
            "recommendations/experiments.html",
            {
                "results": results,
                "section": "experiments",
                "can_manage": self.can("experiments.manage"),
                "ready_runs": ready,
            },
        )

    def post(self, request: HttpRequest, tenant_slug: str) -> HttpResponse:
        try:
            if request.POST.get("op") == "stop":
                exp = experiment_get(tenant=self.tenant, experiment_id=int(request.POST.get("experiment_id", 0)))
                experiment_stop(
                    tenant=self.tenant, actor=self.actor, experiment=exp, winner=request.POST.get("winner") or None
                )
                messages.success(request, f"Experiment {exp.key} stopped.")
            else:
                variants = []
                for side in ("a", "b"):
                    choice = request.POST.get(f"variant_{side}", "")
                    weight = float(request.POST.get(f"weight_{side}") or 50)
                    v: dict[str, Any] = {"name": request.POST.get(f"name_{side}") or side.upper(), "weight": weight}
                    if choice == C.STRATEGY_POPULARITY:
                        v["strategy"] = choice
                    else:
                        v["run_id"] = int(choice)
                    variants.append(v)
                exp = experiment_create(
                    tenant=self.tenant,
                    actor=self.actor,
                    key=request.POST.get("key", "").strip(),
                    name=request.POST.get("name", ""),
                    variants=variants,
                )
                messages.success(request, f"Experiment {exp.key} started.")
        except ApplicationError as exc:
            messages.error(request, exc.message)
        except ValidationError as exc:  # full_clean() on a bad key
            messages.error(request, "; ".join(exc.messages))
        except ValueError:
            messages.error(request, "Invalid experiment form.")
        return redirect("recs:experiments", tenant_slug=tenant_slug)
