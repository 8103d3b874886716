"""Typed reads of a command's ``data`` object (camelCase keys, JSON values).

A missing required field or a value of the wrong JSON type raises ``BadRequest``, which
the view answers as a 400 ``UnexpectedError`` (the one type every union accepts), so
no malformed body reaches the services or turns into a 500.
"""

from __future__ import annotations

from typing import Any

from ..values import DeviceRegistration, DeviceVerification


class BadRequest(ValueError):
    pass


class Fields:
    def __init__(self, data: Any, where: str = "data") -> None:
        if not isinstance(data, dict):
            raise BadRequest(f"{where} must be a JSON object.")
        self.data = data
        self.where = where

    def _get(self, name: str, required: bool) -> Any:
        value = self.data.get(name)
        if value is None and required:
            raise BadRequest(f"{self.where}.{name} is required.")
        return value

    def _wrong(self, name: str, expected: str) -> BadRequest:
        return BadRequest(f"{self.where}.{name} must be {expected}.")

    def text(self, name: str, *, required: bool = False) -> str | None:
        value = self._get(name, required)
        if value is not None and not isinstance(value, str):
            raise self._wrong(name, "a string")
        return value

    def req_text(self, name: str) -> str:
        value = self.text(name, required=True)
        if value is None:  # unreachable: text() raised; narrows the type
            raise BadRequest(f"{self.where}.{name} is required.")
        return value

    def flag(self, name: str, *, required: bool = False) -> bool | None:
        value = self._get(name, required)
        if value is not None and not isinstance(value, bool):
            raise self._wrong(name, "true or false")
        return value

    def number(self, name: str, *, maximum: int) -> int | None:
        value = self._get(name, False)
        if value is not None and (not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= maximum):
            raise self._wrong(name, f"an integer from 0 to {maximum}")
        return value

    def texts(self, name: str) -> list[str] | None:
        value = self._get(name, False)
        if value is not None and (not isinstance(value, list) or not all(isinstance(v, str) for v in value)):
            raise self._wrong(name, "a list of strings")
        return value

    def json(self, name: str) -> Any:
        """Any JSON value; the services judge it (metadata must be an object)."""
        return self._get(name, False)

    def obj(self, name: str, *, required: bool = False) -> Fields | None:
        value = self._get(name, required)
        return None if value is None else Fields(value, f"{self.where}.{name}")

    def req_obj(self, name: str) -> Fields:
        return Fields(self._get(name, True), f"{self.where}.{name}")

    def device_registration(self, name: str) -> DeviceRegistration | None:
        nested = self.obj(name)
        if nested is None:
            return None
        remember = nested.flag("rememberDevice")
        return DeviceRegistration(
            signed_device_challenge=nested.req_text("signedDeviceChallenge"),
            remember_device=True if remember is None else remember,
            request_url=nested.text("requestUrl"),
            request_method=nested.text("requestMethod"),
        )

    def device_verification(self, name: str) -> DeviceVerification | None:
        nested = self.obj(name)
        if nested is None:
            return None
        return DeviceVerification(
            signed_device_challenge=nested.req_text("signedDeviceChallenge"),
            request_url=nested.text("requestUrl"),
            request_method=nested.text("requestMethod"),
        )
