"""`manage.py seed_demo` (run by `make run`): a demo tenant a newcomer can use in the first minute.

Creates, through the real services, tenant ``demo`` with an owner, an editor and a viewer, an API
token for the owner, four of the repository's own Markdown docs (queued for ingestion), a
synthetic outdoor-gear catalog with about 20,000 shopping events (demo/data.py), a
queued recommender training run and a capacity plan.

Invariants:
- Idempotent: every step first looks for what it would create, so a second run adds nothing
  (events are generated deterministically from the tenant's ``created_at``, and ``events_ingest``
  refuses exact duplicates anyway). A second run only prints the current state.
- Steps are independent: one failing (say, a doc file missing) is reported and the others still
  run; only the tenant and owner themselves are required.
- Nothing here needs Milvus or a worker: uploads and the training run are queued on commit and
  the worker `make run` starts afterwards picks them up from the broker.
- Secrets: the demo password lives in ``VAR_DIR/demo-credentials.txt`` (as before); the API
  token's secret is printed once, when it is created, and stored nowhere.
"""

from __future__ import annotations

import logging
import os
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.files.base import ContentFile
from django.core.management.base import BaseCommand
from django.db.models import Count

from demo.data import demo_catalog_rows, demo_event_rows, demo_user_preferences
from deploy.models import CapacityPlan
from deploy.services import capacity_plan_create
from documents.models import Document
from documents.services import DuplicateDocument, document_upload
from portal.exceptions import ApplicationError
from recommendations.models import CatalogItem, Event, TrainingRun
from recommendations.services import catalog_items_upsert, events_ingest, training_run_start
from tenants.actors import Actor
from tenants.models import ApiToken, Membership, Tenant
from tenants.permissions import Role
from tenants.services import membership_add, tenant_create, token_create

logger = logging.getLogger(__name__)
T = TypeVar("T")

DEMO_SLUG = "demo"
DEMO_EMAIL = "demo@example.com"
DEMO_MEMBERS = (("demo-editor@example.com", Role.EDITOR), ("demo-viewer@example.com", Role.VIEWER))
TOKEN_NAME = "demo token"  # noqa: S105 - a label, not a secret
TOKEN_SCOPES = ["qa", "read", "recommend", "write"]
# (path in the repository, title): the project's own docs are the demo corpus (ours to ship).
DEMO_DOCUMENTS = (
    ("README.md", "LLMOps Portal overview (README)"),
    ("docs/rbac.md", "Roles, capabilities and API token scopes"),
    ("docs/capacity-planning.md", "Capacity planning"),
    ("docs/deploy.md", "Deployments and rollouts"),
)
EVENT_BATCH = 5_000
PLAN_NAME = "Demo: document Q&A for 50 users"
PLAN_INPUTS = {"use_case": "rag_qa", "concurrent_users": 50}


class Command(BaseCommand):
    help = "Create the demo tenant with members, a token, documents, a catalog and events (idempotent)."

    def handle(self, *args: Any, **opts: Any) -> None:
        self.actor = Actor.system(label="seed_demo")
        self.failed: list[str] = []
        password, fresh_password = self._demo_password()
        owner = self._user(DEMO_EMAIL, password, reset=fresh_password)
        tenant = Tenant.objects.filter(slug=DEMO_SLUG).first()
        if tenant is None:
            tenant = tenant_create(actor=self.actor, slug=DEMO_SLUG, name="Demo Company", owner=owner)
        self._step("members", lambda: self._members(tenant, password, fresh_password))
        token = self._step("API token", lambda: self._token(tenant, owner))
        self._step("broker folders", self._broker_folders)
        self._step("documents", lambda: self._documents(tenant))
        self._step("catalog", lambda: self._catalog(tenant))
        self._step("events", lambda: self._events(tenant))
        self._step("training run", lambda: self._training(tenant))
        self._step("capacity plan", lambda: self._plan(tenant))
        self._summary(tenant, password, token)

    # -- steps ------------------------------------------------------------------------------------

    def _step(self, name: str, fn: Callable[[], T]) -> T | None:
        """Run one step; a failure is reported and does not stop the others."""
        try:
            return fn()
        except Exception as exc:
            logger.exception("seed_demo step %r failed", name)
            message = exc.message if isinstance(exc, ApplicationError) else f"{type(exc).__name__}: {exc}"
            self.failed.append(f"{name}: {message}")
            return None

    def _demo_password(self) -> tuple[str, bool]:
        """The one password of all demo users, kept in VAR_DIR (created on first run)."""
        cred_file = settings.VAR_DIR / "demo-credentials.txt"
        if cred_file.exists() and cred_file.read_text().strip():
            return cred_file.read_text().strip(), False
        password = secrets.token_urlsafe(10)
        cred_file.parent.mkdir(parents=True, exist_ok=True)
        cred_file.write_text(password)
        cred_file.chmod(0o600)
        return password, True

    def _user(self, email: str, password: str, *, reset: bool) -> Any:
        """The demo user with this email, created with the demo password. When the password file
        was just (re)created, an existing demo user gets it too, so the printed login works."""
        User = get_user_model()
        user = User.objects.filter(email__iexact=email).first()
        if user is None:
            return User.objects.create_user(username=email, email=email, password=password)
        if reset:
            user.set_password(password)
            user.save(update_fields=["password"])
        return user

    def _members(self, tenant: Tenant, password: str, fresh_password: bool) -> None:
        for email, role in DEMO_MEMBERS:
            self._user(email, password, reset=fresh_password)
            if not Membership.objects.for_tenant(tenant).filter(user__email__iexact=email).exists():
                membership_add(tenant=tenant, actor=self.actor, email=email, role=role)

    def _token(self, tenant: Tenant, owner: Any) -> str | None:
        """The owner's demo token: the plaintext when created now, None when it already exists."""
        membership = Membership.objects.for_tenant(tenant).get(user=owner)
        if self._existing_token(tenant) is not None:
            return None
        issued = token_create(
            tenant=tenant, actor=self.actor, membership=membership, name=TOKEN_NAME, scopes=TOKEN_SCOPES
        )
        return issued.plaintext

    def _existing_token(self, tenant: Tenant) -> ApiToken | None:
        return (
            ApiToken.objects.for_tenant(tenant)
            .filter(name=TOKEN_NAME, membership__user__email__iexact=DEMO_EMAIL, revoked_at__isnull=True)
            .first()
        )

    def _broker_folders(self) -> None:
        """kombu's filesystem transport writes into folders it does not create; the upload's
        on-commit enqueue must not fail because `make run`'s worker has not created them yet."""
        if not str(settings.CELERY_BROKER_URL).startswith("filesystem://"):
            return
        options: dict[str, Any] = settings.CELERY_BROKER_TRANSPORT_OPTIONS
        for key in ("data_folder_in", "data_folder_out", "processed_folder", "control_folder"):
            if options.get(key):
                Path(str(options[key])).mkdir(parents=True, exist_ok=True)

    def _documents(self, tenant: Tenant) -> None:
        for rel, title in DEMO_DOCUMENTS:
            path = Path(settings.BASE_DIR) / rel
            name = path.name
            if Document.objects.for_tenant(tenant).filter(filename=name).exists():
                continue
            if not path.is_file():
                self.failed.append(f"documents: {rel} is not in this checkout; skipped")
                continue
            try:
                document_upload(
                    tenant=tenant, actor=self.actor, file=ContentFile(path.read_bytes(), name=name), title=title
                )
            except DuplicateDocument:
                continue  # the same bytes are already there under another name

    def _catalog(self, tenant: Tenant) -> None:
        rows = demo_catalog_rows()
        have = set(
            CatalogItem.objects.for_tenant(tenant)
            .filter(external_id__in=[r["external_id"] for r in rows])
            .values_list("external_id", flat=True)
        )
        missing = [r for r in rows if r["external_id"] not in have]
        if missing:
            result = catalog_items_upsert(tenant=tenant, actor=self.actor, rows=missing)
            if result.errors:
                raise ApplicationError(f"{len(result.errors)} catalog rows rejected, first: {result.errors[0].message}")

    def _events(self, tenant: Tenant) -> None:
        # Anchored on the tenant's creation, so every run generates the very same events.
        rows = demo_event_rows(anchor=tenant.created_at)
        if Event.objects.for_tenant(tenant).count() >= len(rows):
            return
        for start in range(0, len(rows), EVENT_BATCH):
            result = events_ingest(tenant=tenant, actor=self.actor, rows=rows[start : start + EVENT_BATCH])
            if result.errors:
                raise ApplicationError(f"{len(result.errors)} events rejected, first: {result.errors[0].message}")

    def _training(self, tenant: Tenant) -> None:
        if TrainingRun.objects.for_tenant(tenant).exists() or not Event.objects.for_tenant(tenant).exists():
            return
        training_run_start(tenant=tenant, actor=self.actor)

    def _plan(self, tenant: Tenant) -> None:
        if not CapacityPlan.objects.for_tenant(tenant).filter(name=PLAN_NAME).exists():
            capacity_plan_create(tenant=tenant, actor=self.actor, inputs=dict(PLAN_INPUTS), name=PLAN_NAME)

    # -- summary ----------------------------------------------------------------------------------

    def _summary(self, tenant: Tenant, password: str, token: str | None) -> None:
        addr = os.environ.get("PORTAL_ADDR", "127.0.0.1:8000")
        w = self.stdout.write
        w(self.style.SUCCESS(f"Demo tenant '{tenant.slug}' — owner login: {DEMO_EMAIL} / {password}"))
        for email, role in DEMO_MEMBERS:
            w(f"  {role} login: {email} / {password}")
        w(f"  console: http://{addr}/t/{tenant.slug}/   API docs: http://{addr}/api/docs/")
        if token:
            w(self.style.WARNING(f"  API token of {DEMO_EMAIL} ({','.join(TOKEN_SCOPES)}); shown only now, save it:"))
            w(f"    {token}")
        else:
            existing = self._existing_token(tenant)
            if existing is not None:
                w(
                    f"  API token '{TOKEN_NAME}' ({existing.prefix}…) was issued on a previous run (its secret "
                    "is shown only once); issue another with: python manage.py create_api_token --tenant demo "
                    f"--user {DEMO_EMAIL} --scopes {','.join(TOKEN_SCOPES)}"
                )
        for line in self._data_lines(tenant):
            w(f"  {line}")
        for problem in self.failed:
            w(self.style.ERROR(f"  ! {problem}"))

    def _data_lines(self, tenant: Tenant) -> list[str]:
        lines: list[str] = []
        by_status = dict(Document.objects.for_tenant(tenant).values_list("status").annotate(n=Count("id")).order_by())
        total = sum(by_status.values())
        ready, failed = by_status.get(Document.Status.READY, 0), by_status.get(Document.Status.FAILED, 0)
        pending = total - ready - failed
        line = f"documents: {total} ({ready} ready, {pending} queued or ingesting, {failed} failed)"
        lines.append(line + (" — the worker ingests them into Milvus after start" if pending else ""))
        items, events = CatalogItem.objects.for_tenant(tenant).count(), Event.objects.for_tenant(tenant).count()
        lines.append(f"catalog: {items} outdoor-gear items, {events:,} events of {len(demo_user_preferences())} users")
        run = TrainingRun.objects.for_tenant(tenant).order_by("-version").first()
        if run is None:
            lines.append("recommender: none yet")
        elif run.status == TrainingRun.Status.READY:
            lines.append(f"recommender: v{run.version} ready{' and active' if run.is_active else ''}")
        elif run.status == TrainingRun.Status.FAILED:
            lines.append(f"recommender: v{run.version} failed: {run.error}")
        else:
            lines.append(f"recommender: v{run.version} {run.status} — the worker trains it after start")
        plan = CapacityPlan.objects.for_tenant(tenant).filter(name=PLAN_NAME).first()
        if plan is not None:
            lines.append(f"capacity plan: '{plan.name}' ({'feasible' if plan.feasible else 'infeasible'})")
        user, liked = next(iter(demo_user_preferences().items()))
        when = "" if run is not None and run.is_active else " once the recommender is ready"
        lines.append(f"try: recommendations for '{user}' (likes {', '.join(liked)}){when}")
        return lines
