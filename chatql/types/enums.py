"""Enums of the API, named as in AWS AppSync's chat sample."""

from __future__ import annotations

from enum import Enum

import strawberry


@strawberry.enum
class MessageType(Enum):
    TEXT = "TEXT"
    IMAGE = "IMAGE"
    FILE = "FILE"
    SYSTEM = "SYSTEM"


@strawberry.enum
class ModelSortDirection(Enum):
    ASC = "ASC"
    DESC = "DESC"


@strawberry.enum
class PresenceStatus(Enum):
    ONLINE = "ONLINE"
    AWAY = "AWAY"
    BUSY = "BUSY"
    OFFLINE = "OFFLINE"


@strawberry.enum
class RoomRole(Enum):
    OWNER = "OWNER"
    ADMIN = "ADMIN"
    MEMBER = "MEMBER"


@strawberry.enum
class Role(Enum):
    ADMIN = "ADMIN"
    MODERATOR = "MODERATOR"
    USER = "USER"
    GUEST = "GUEST"


@strawberry.enum
class NotificationType(Enum):
    MESSAGE = "MESSAGE"
    MENTION = "MENTION"
    ROOM_INVITE = "ROOM_INVITE"
    STREAM_LIVE = "STREAM_LIVE"


@strawberry.enum
class RoomChangeType(Enum):
    ADDED = "ADDED"
    REMOVED = "REMOVED"
    DELETED = "DELETED"


@strawberry.enum(description="Whether accounts carry an email address on this server")
class EmailMode(Enum):
    OFF = "off"
    OPTIONAL = "optional"
    REQUIRED = "required"
