import random

import pytest

from agent.netconf.framing import EOM, FrameDecoder, FramingError, Mode, encode

MESSAGES = [b"<rpc message-id='1'><get/></rpc>", b"x" * 5000, "<a>\u00e9\u4e2d</a>".encode()]


def chunked(msg: bytes, sizes: list[int]) -> bytes:
    out, i = b"", 0
    for n in sizes:
        if i >= len(msg):
            break
        out += b"\n#%d\n" % len(msg[i : i + n]) + msg[i : i + n]
        i += n
    if i < len(msg):
        out += b"\n#%d\n" % (len(msg) - i) + msg[i:]
    return out + b"\n##\n"


def decode_all(dec: FrameDecoder, stream: bytes, splits: list[int]) -> list[bytes]:
    out, prev = [], 0
    for cut in sorted(splits) + [len(stream)]:
        dec.feed(stream[prev:cut])
        prev = cut
        while (m := dec.next_message()) is not None:
            out.append(m)
    return out


@pytest.mark.parametrize("mode", [Mode.EOM, Mode.CHUNKED])
def test_byte_by_byte(mode):
    stream = b"".join(encode(m, mode) for m in MESSAGES)
    dec = FrameDecoder()
    dec.mode = mode
    assert decode_all(dec, stream, list(range(1, len(stream)))) == MESSAGES


@pytest.mark.parametrize("seed", range(30))
def test_random_splits_and_chunk_sizes(seed):
    rnd = random.Random(seed)
    stream = b"".join(chunked(m, [rnd.randint(1, 700) for _ in range(20)]) for m in MESSAGES)
    splits = rnd.sample(range(1, len(stream)), k=min(40, len(stream) - 1))
    dec = FrameDecoder()
    dec.mode = Mode.CHUNKED
    assert decode_all(dec, stream, splits) == MESSAGES


def test_eom_delimiter_split_across_feeds():
    dec = FrameDecoder()
    for part in (b"<hello/>]]", b">]]", b">"):
        dec.feed(part)
    assert dec.next_message() == b"<hello/>"


def test_switch_mode_at_message_boundary():
    dec = FrameDecoder()
    dec.feed(b"<hello/>" + EOM + b"\n#3\nabc\n##\n")
    assert dec.next_message() == b"<hello/>"
    dec.mode = Mode.CHUNKED
    assert dec.next_message() == b"abc"


@pytest.mark.parametrize(
    "bad",
    [
        b"\n#0\n",  # zero size
        b"\n#012\nabc",  # leading zero
        b"\nX3\nabc",  # missing '#'
        b"#3\nabc\n##\n",  # missing LF
        b"\n#abc\n",  # not digits
        b"\n#4294967296\n",  # above the maximum
        b"\n#12345678901\n",  # too many digits
        b"\n#3\nabc\n#\n",  # bad end marker
        b"\n##\n",  # end of chunks with no chunk
    ],
)
def test_malformed_chunk_headers(bad):
    dec = FrameDecoder()
    dec.mode = Mode.CHUNKED
    dec.feed(bad)
    with pytest.raises(FramingError):
        while dec.next_message() is not None:
            pass


def test_leading_zero_detected_before_the_size_ends():
    dec = FrameDecoder()
    dec.mode = Mode.CHUNKED
    dec.feed(b"\n#0")
    with pytest.raises(FramingError):
        dec.next_message()


def test_oversize_chunked_message_refused_without_buffering_it():
    dec = FrameDecoder(max_message_size=1000)
    dec.mode = Mode.CHUNKED
    dec.feed(b"\n#600\n" + b"a" * 600)
    assert dec.next_message() is None
    dec.feed(b"\n#600\n")
    with pytest.raises(FramingError, match="exceeds"):
        dec.next_message()


def test_oversize_eom_message_refused():
    dec = FrameDecoder(max_message_size=1000)
    dec.feed(b"a" * 2000)
    with pytest.raises(FramingError, match="exceeds"):
        dec.next_message()


def test_buffer_stays_bounded_while_streaming_a_large_message():
    dec = FrameDecoder(max_message_size=10_000_000)
    dec.mode = Mode.CHUNKED
    payload = b"b" * 4096
    for _ in range(200):
        dec.feed(b"\n#4096\n" + payload)
        assert dec.next_message() is None
    dec.feed(b"\n##\n")
    assert len(dec.next_message()) == 200 * 4096
    assert dec.buffered == 0
