"""A deliberately minimal WebSocket client over a plain socket: it can stop reading for real
(a tiny receive buffer and no background reader), which is how a stalled client looks."""

from __future__ import annotations

import base64
import json
import os
import socket
import struct
from typing import Any


class StalledClient:
    def __init__(self, host: str, port: int, path: str, protocol: str) -> None:
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        self.sock.settimeout(10)
        self.sock.connect((host, port))
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall(
            (
                f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                f"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: {protocol}\r\n\r\n"
            ).encode()
        )
        self._buffer = b""
        while b"\r\n\r\n" not in self._buffer:
            self._buffer += self.sock.recv(4096)
        head, _, self._buffer = self._buffer.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 101"), head

    def send(self, frame: dict[str, Any]) -> None:
        self.sock.sendall(self._encode(frame))

    def send_many(self, frames: list[dict[str, Any]]) -> None:
        """All the frames in one write: the server reads them together."""
        self.sock.sendall(b"".join(self._encode(frame) for frame in frames))

    @staticmethod
    def _encode(frame: dict[str, Any]) -> bytes:
        payload = json.dumps(frame).encode()
        mask = os.urandom(4)
        header = bytes([0x81])
        if len(payload) < 126:
            header += bytes([0x80 | len(payload)])
        else:
            header += bytes([0x80 | 126]) + struct.pack("!H", len(payload))
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        return header + mask + masked

    def _read(self, n: int) -> bytes:
        while len(self._buffer) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("closed")
            self._buffer += chunk
        data, self._buffer = self._buffer[:n], self._buffer[n:]
        return data

    def recv(self) -> tuple[int, bytes]:
        """(opcode, payload) of the next frame."""
        first, second = self._read(2)
        length = second & 0x7F
        if length == 126:
            length = struct.unpack("!H", self._read(2))[0]
        elif length == 127:
            length = struct.unpack("!Q", self._read(8))[0]
        return first & 0x0F, self._read(length)

    def close_code(self) -> int | None:
        """Read (draining everything buffered) until the server's close frame."""
        while True:
            opcode, payload = self.recv()
            if opcode == 0x8:
                return int(struct.unpack("!H", payload[:2])[0]) if payload else None

    def close(self) -> None:
        self.sock.close()
