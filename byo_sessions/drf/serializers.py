"""Output shapes of the self-service REST API (``drf/api.py``); read-only, for the schema."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from ..models import Device
from ..values import SessionInfo


class LocationSerializer(serializers.Serializer):
    """Where the session's last IP is, as far as the geo lookup knows (empty strings where
    it has no answer)."""

    country = serializers.CharField(help_text="ISO 3166-1 alpha-2, e.g. DE")
    city = serializers.CharField()
    network = serializers.CharField(help_text="The network's organisation, e.g. Deutsche Telekom AG")

    def get_attribute(self, instance: Any) -> Any:
        # The session info's ``location`` when it holds an answer (it is falsy when empty), else null.
        location = getattr(instance, "location", None)
        return location if location else None


class SessionSerializer(serializers.Serializer):
    """One of my live sessions. ``location`` is null unless a geo lookup knows the IP."""

    id = serializers.CharField(source="session_id")
    current = serializers.SerializerMethodField()
    device_name = serializers.CharField(source="device.display_name")
    device_type = serializers.CharField(source="device.device_type")
    browser = serializers.CharField(source="device.browser", allow_null=True)
    browser_version = serializers.CharField(source="device.browser_version", allow_null=True)
    os = serializers.CharField(source="device.os", allow_null=True)
    os_version = serializers.CharField(source="device.os_version", allow_null=True)
    ip_address = serializers.IPAddressField(source="last_ip_address", allow_null=True)
    location = LocationSerializer(allow_null=True, read_only=True)
    created_at = serializers.DateTimeField()
    last_activity_at = serializers.DateTimeField()
    expires_at = serializers.DateTimeField()
    device_bound = serializers.BooleanField(source="has_device_registered")

    def get_current(self, info: SessionInfo) -> bool:
        return info.session_id == self.context.get("current_session_id")


class DeviceSerializer(serializers.ModelSerializer):
    """One of my remembered browsers (a device key bound at login)."""

    current = serializers.SerializerMethodField()
    ip_address = serializers.IPAddressField(source="last_ip_address", allow_null=True)

    class Meta:
        model = Device
        fields = ("id", "current", "display_name", "remembered", "first_seen_at", "last_seen_at", "ip_address")
        read_only_fields = fields

    def get_current(self, device: Device) -> bool:
        return device.pk == self.context.get("current_device_id")


class EndedSerializer(serializers.Serializer):
    ended = serializers.IntegerField(help_text="How many sessions this request ended.")


class ErrorSerializer(serializers.Serializer):
    """The typed error body every byo_sessions edge answers (``http.error_body``)."""

    type = serializers.CharField(help_text="The error type, e.g. SessionNotFound.")
    details = serializers.DictField(help_text="message, reason and what else the error type carries.")


class DetailSerializer(serializers.Serializer):
    """DRF's own refusal body (a cookie request without its CSRF token: 403)."""

    detail = serializers.CharField()
