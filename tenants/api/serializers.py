from __future__ import annotations

from rest_framework import serializers

from tenants.models import ApiToken, AuditEvent, Membership, TrustedIssuer
from tenants.permissions import Role, Scope


class MeSerializer(serializers.Serializer):
    user = serializers.DictField()
    tenant = serializers.DictField()
    role = serializers.CharField()
    scopes = serializers.ListField(child=serializers.CharField(), allow_null=True)
    auth = serializers.CharField()


class MembershipSerializer(serializers.ModelSerializer):
    email = serializers.EmailField(source="user.email", read_only=True)
    username = serializers.CharField(source="user.username", read_only=True)

    class Meta:
        model = Membership
        fields = ["id", "email", "username", "role", "source", "created_at"]
        read_only_fields = fields


class MembershipCreateInputSerializer(serializers.Serializer):
    email = serializers.EmailField(max_length=254)
    role = serializers.ChoiceField(choices=Role.choices)


class MembershipUpdateInputSerializer(serializers.Serializer):
    role = serializers.ChoiceField(choices=Role.choices)


class ApiTokenSerializer(serializers.ModelSerializer):
    prefix = serializers.CharField(read_only=True)
    member = serializers.EmailField(source="membership.user.email", read_only=True)
    is_expired = serializers.BooleanField(read_only=True)
    is_revoked = serializers.BooleanField(read_only=True)
    effective_rate_per_minute = serializers.IntegerField(
        read_only=True, help_text="Requests per minute this token may make (its own rate or the platform default)."
    )

    class Meta:
        model = ApiToken
        fields = [
            "id",
            "name",
            "prefix",
            "member",
            "scopes",
            "allowed_ips",
            "rate_limit_per_minute",
            "effective_rate_per_minute",
            "expires_at",
            "revoked_at",
            "last_used_at",
            "created_at",
            "is_expired",
            "is_revoked",
        ]
        read_only_fields = fields


class ApiTokenCreateInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    scopes = serializers.ListField(child=serializers.ChoiceField(choices=Scope.choices), min_length=1)
    expires_at = serializers.DateTimeField(required=False, allow_null=True)
    allowed_ips = serializers.ListField(child=serializers.CharField(max_length=64), required=False, max_length=50)
    membership_id = serializers.IntegerField(required=False, help_text="Admins only: issue for another member.")
    rate_limit_per_minute = serializers.IntegerField(
        required=False, allow_null=True, help_text="Requests per minute for this token; null = the platform default."
    )


class ApiTokenCreatedSerializer(ApiTokenSerializer):
    token = serializers.CharField(read_only=True, help_text="The secret; shown only once.")

    class Meta(ApiTokenSerializer.Meta):
        fields = [*ApiTokenSerializer.Meta.fields, "token"]
        read_only_fields = fields


class AuditEventSerializer(serializers.ModelSerializer):
    class Meta:
        model = AuditEvent
        fields = [
            "id",
            "seq",
            "created_at",
            "actor_type",
            "actor",
            "actor_label",
            "action",
            "target_type",
            "target_id",
            "target_repr",
            "changes",
            "ip",
            "user_agent",
            "request_id",
            "hash",
            "prev_hash",
        ]
        read_only_fields = fields


class TrustedIssuerSerializer(serializers.ModelSerializer):
    created_by = serializers.CharField(source="created_by.email", read_only=True, allow_null=True, default=None)

    class Meta:
        model = TrustedIssuer
        fields = ["id", "issuer", "created_by", "created_at"]
        read_only_fields = fields


class TrustedIssuerCreateInputSerializer(serializers.Serializer):
    issuer = serializers.CharField(max_length=255, help_text="The IdP's issuer URL, exactly as in its ID tokens")
