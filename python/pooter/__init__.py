# SPDX-License-Identifier: MIT
"""pooter: rounds of promises among processes, for asyncio.

The original pooter API (Broker, Emitter, Consumer, EventBus,
BrokerManager) over libpooter: a Broker is a shared-memory broker
(/dev/shm/pooter.NAME) that every process opening the same name takes part
in.  See docs/python.md.
"""
from ._core import (BYTES, JSON, TEXT, Broker, BrokerFactory, BrokerManager,
                    Codec, Consumer, Emitter, EmitterFactory, EventBus,
                    Notice, Payloads, PooterError, RoundCancelled,
                    RoundResult, uuid7)
from ._aio import uring_supported

__all__ = ("Broker", "BrokerFactory", "BrokerManager", "Codec", "Consumer",
           "Emitter", "EmitterFactory", "EventBus", "Notice", "Payloads",
           "PooterError", "RoundCancelled", "RoundResult", "BYTES", "TEXT",
           "JSON", "uuid7", "uring_supported")
