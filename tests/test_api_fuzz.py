"""The API, fuzzed: schemathesis over `/api/schema/`, in-process against the Django WSGI app.

One owner token (every scope) of a tenant with data (documents, models, a cluster, a deployment,
a rollout) drives every phase (coverage, fuzzing, stateful; "examples" runs when the schema has
any). The checks: no 5xx, every response matches its documented schema and status code, and
requests that break the schema are refused with a 4xx. CI runs a bounded, derandomised run
(`FUZZ_MAX_EXAMPLES`, default 8 per operation, seed 1); the long random run is the same test via
`bench/api_fuzz.sh` (`FUZZ_SEED=random FUZZ_MAX_TIME=<s>`; docs/security.md, "The API, fuzzed").
"""

from __future__ import annotations

import logging
import os
import random
from collections import Counter
from typing import Any

import pytest
import schemathesis
from django.core.wsgi import get_wsgi_application
from schemathesis.engine import Status, from_schema
from schemathesis.engine.events import (
    EngineFinished,
    FatalError,
    NonFatalError,
    PhaseFinished,
    ScenarioFinished,
)

from tenants.actors import Actor
from tenants.models import ApiToken, Membership
from tenants.services import token_create
from tests.support.fuzz_seed import seed_fuzz_tenant
from tests.support.milvus import milvus_server, wipe_vectors

__all__ = ["milvus_server"]

REJECTIONS = [400, 401, 403, 404, 405, 406, 409, 413, 415, 422, 429]
ALL_SCOPES = ("read", "write", "qa", "recommend", "deploy", "admin")

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(1200)]

CHECKS = (
    "not_a_server_error",
    "response_schema_conformance",
    "negative_data_rejection",
    "status_code_conformance",
)


def _config(token: str) -> schemathesis.Config:
    seed_env = os.environ.get("FUZZ_SEED", "1")
    seed = random.randrange(2**31) if seed_env == "random" else int(seed_env)
    data: dict[str, Any] = {
        "seed": seed,
        "cache": {"enabled": False},  # no state carried between runs: CI stays reproducible
        "headers": {"Authorization": f"Bearer {token}"},
        "checks": {
            "enabled": False,
            **{name: {"enabled": True} for name in CHECKS},
            # A refusal is any documented 4xx; 413 is how a too-long batch is refused.
            "negative_data_rejection": {"enabled": True, "expected-statuses": REJECTIONS},
        },
        "generation": {
            "mode": "all",
            "max-examples": int(os.environ.get("FUZZ_MAX_EXAMPLES", "8")),
            "deterministic": seed_env != "random",
            "database": "none",
        },
        "phases": {
            "examples": {"enabled": True},
            "coverage": {"enabled": True},
            "fuzzing": {"enabled": True},
            "stateful": {"enabled": True},
        },
    }
    if os.environ.get("FUZZ_MAX_TIME"):
        data["max-time"] = int(os.environ["FUZZ_MAX_TIME"])
    print(f"schemathesis seed={seed}")
    return schemathesis.Config.from_dict(data)


def _fuzz_auth(owner: Membership, token: str) -> type:
    """The fuzzer may revoke its own token, demote its member or make it leave (all allowed API
    calls): put the owner back and issue a fresh token, so later cases still reach the handlers."""
    tenant, user = owner.tenant, owner.user
    current = {"token": token}

    class FuzzAuth:
        def get(self, case: Any, ctx: Any) -> str:
            member, _ = Membership.objects.all_tenants().update_or_create(
                tenant=tenant, user=user, defaults={"role": "owner"}
            )
            key_id = current["token"].split(".")[0].removeprefix("llmp_")
            live = ApiToken.objects.all_tenants().filter(membership=member, key_id=key_id, revoked_at__isnull=True)
            if not live.exists():
                issued = token_create(
                    tenant=tenant,
                    actor=Actor.system(label="fuzz"),
                    membership=member,
                    name="fuzz",
                    scopes=list(ALL_SCOPES),
                )
                current["token"] = issued.plaintext
            return current["token"]

        def set(self, case: Any, data: str, ctx: Any) -> None:
            case.headers = {**(case.headers or {}), "Authorization": f"Bearer {data}"}

    return FuzzAuth


def _describe(scenario: ScenarioFinished) -> list[str]:
    out = []
    recorder = scenario.recorder
    for case_id, checks in recorder.checks.items():
        for check in checks:
            if check.status != Status.FAILURE or check.failure_info is None:
                continue
            info = check.failure_info
            case = recorder.cases[case_id].value
            response = recorder.find_response(case_id=case_id)
            status = response.status_code if response is not None else "-"
            body = (response.text[:300] if response is not None else "").replace("\n", " ")
            out.append(
                f"[{check.name}] {case.method} {case.formatted_path} query={case.query} body={str(case.body)[:200]!r}"
                f" -> {status} {body}\n    {info.failure.title}: {str(info.failure.message)[:400]}"
            )
    return out


def test_api_fuzz(settings, milvus_server, tmp_path, tenant_a, owner_a, make_token) -> None:
    # Q&A on the real Milvus Lite and the in-process embedder (no Triton, no LLM), as in tests/qa.
    settings.MILVUS_URI = milvus_server.uri
    settings.MILVUS_COLLECTION = "fuzz_tests"
    settings.MILVUS_TIMEOUT_S = 5.0
    settings.TRITON_URL = ""
    settings.TRITON_LLM_MODEL = ""
    settings.INFERENCE_TORCH_THREADS = 1
    settings.MEDIA_ROOT = str(tmp_path / "media")
    logging.getLogger("django.request").setLevel(logging.CRITICAL)  # thousands of expected 4xx lines
    settings.DEPLOY_KUBE_EGRESS_ALLOW = ["127.0.0.1/32"]
    settings.DEPLOY_KUBE_REQUEST_TIMEOUT = (1.0, 2.0)
    token = make_token(owner_a, list(ALL_SCOPES))
    seed_fuzz_tenant(tenant_a, owner_a)
    schema = schemathesis.openapi.from_wsgi("/api/schema/", get_wsgi_application(), config=_config(token))
    schema.auth(refresh_interval=None)(_fuzz_auth(owner_a, token))
    failures: list[str] = []
    errors: list[str] = []
    cases = 0
    per_check: Counter[str] = Counter()
    per_phase: Counter[str] = Counter()
    phases: dict[str, str] = {}
    for event in from_schema(schema).execute():
        if isinstance(event, ScenarioFinished):
            cases += len(event.recorder.cases)
            per_phase[str(event.phase.value)] += len(event.recorder.cases)
            found = _describe(event)
            failures.extend(found)
            per_check.update(line.split("]")[0][1:] for line in found)
        elif isinstance(event, NonFatalError):
            errors.append(f"{event.label}: {event.value!r}\n{event.info.code_sample}")
        elif isinstance(event, FatalError):
            raise event.exception
        elif isinstance(event, PhaseFinished):
            skipped = event.phase.skip_reason
            phases[str(event.phase.name.value)] = skipped.value if skipped else str(event.status.value)
        elif isinstance(event, EngineFinished):
            break
    wipe_vectors(milvus_server.uri, "fuzz_tests")
    unique = sorted(set(failures))
    if os.environ.get("FUZZ_REPORT"):
        with open(os.environ["FUZZ_REPORT"], "w") as fh:
            fh.write("\n".join(unique))
    print(f"cases={cases} by phase={dict(per_phase)} phases={phases}")
    print(f"failures={len(failures)} unique={len(unique)} by check={dict(per_check)}")
    assert per_phase["stateful"] > 0, f"the stateful phase generated nothing: {phases}"
    assert not errors, "\n".join(errors[:20])
    assert not unique, f"{len(unique)} distinct failures:\n" + "\n".join(unique[:60])
