#!/usr/bin/env python3
"""Writes the fuzz seed corpora from the protocol vectors and the example config.

Image seeds are written by `cargo test --test fuzz_inputs -- --ignored write_image_seeds`.
"""
import json
import os
import struct

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SEEDS = os.path.join(ROOT, "fuzz", "seeds")


def padded_len(n):
    if n <= 256:
        return 256
    e = n.bit_length() - 1
    s = e.bit_length()
    m = (1 << (e - s)) - 1
    return (n + m) & ~m


def pad(cbor):
    total = padded_len(4 + len(cbor))
    return (struct.pack(">I", len(cbor)) + cbor).ljust(total, b"\0")


def write(target, name, data):
    d = os.path.join(SEEDS, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


vectors = json.load(open(os.path.join(ROOT, "tests", "data", "envelope-v1.json")))
for v in vectors["envelopes"]:
    cbor = bytes.fromhex(v["cbor"])
    write("envelope_open", "env-" + v["name"], b"\0" + bytes.fromhex(v["envelope"]))
    write("envelope_open", "pad-" + v["name"], b"\1" + pad(cbor))
    write("packet_decode", v["name"], cbor)
for v in vectors["negative"]:
    write("envelope_open", "neg-" + v["name"], b"\0" + bytes.fromhex(v["envelope"]))
# chunk_reassembler: size (3 bytes LE), honest flag byte, then ops of 3 bytes (op, chunk, arg).
size = struct.pack("<I", 2 * 65536 + 10)[:3]
honest = size + bytes([0]) + bytes([0, 0, 0, 0, 1, 0, 0, 2, 0, 3, 0, 0])
write("chunk_reassembler", "honest-3-chunks", honest)
write("chunk_reassembler", "tampered", honest + bytes([1, 1, 9, 3, 0, 0]))
write("chunk_reassembler", "dishonest-small", struct.pack("<I", 300)[:3] + bytes([1, 0, 0, 0, 2, 0, 1, 3, 0, 0]))
write("config_parse", "example", open(os.path.join(ROOT, ".wochat-example", "config.toml"), "rb").read())
write("config_parse", "empty", b"")
