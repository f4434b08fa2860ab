#pragma once

// The client side of RFC 6455 as bytes in and bytes out, with no I/O: the opening handshake,
// masked frames to send, and messages parsed out of what was received. Socket Mode runs its
// own read and write loops over these so that every frame of a read is handled in one pass and
// every ack of a burst leaves in one write; a WebSocket library that completes one operation
// per frame spent more CPU in its machinery than the bot spent on the envelopes.

#include "core/result.hpp"

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace tugboat::integrations::websocket_wire {

enum class opcode : std::uint8_t {
    continuation = 0x0,
    text = 0x1,
    binary = 0x2,
    close = 0x8,
    ping = 0x9,
    pong = 0xA,
};

/// A fresh Sec-WebSocket-Key: 16 random bytes, base64.
std::string make_key();

/// The Sec-WebSocket-Accept a server must answer to `key` (RFC 6455 §4.2.2).
std::string accept_for(std::string_view key);

/// The opening handshake's HTTP request.
std::string upgrade_request(std::string_view host, std::string_view target, std::string_view key,
                            std::string_view user_agent);

/// Reads the server's answer to upgrade_request from the bytes received so far. Returns how many
/// bytes the answer took (frames may follow in the same read), 0 while it is incomplete, or an
/// error when the server did not switch to WebSocket.
core::result<std::size_t> parse_upgrade_response(std::string_view received, std::string_view key);

/// Masking keys for the frames a client sends, drawn from OpenSSL's CSPRNG in blocks.
class mask_source {
public:
    std::uint32_t next();

private:
    std::array<std::uint32_t, 64> block_{};
    std::size_t used_ = block_.size();
};

/// Appends one final, masked frame carrying `payload`.
void append_frame(std::string& out, opcode op, std::string_view payload, mask_source& masks);

/// Appends a close frame with a status code (and no reason).
void append_close(std::string& out, std::uint16_t code, mask_source& masks);

/// A whole data message, or one control frame. `payload` points into the bytes given to
/// frame_reader::next (or, for a fragmented message, into the reader) and is valid until the
/// next call.
struct message {
    opcode op = opcode::text;
    std::string_view payload;
};

/// The status code of a close frame's payload; 1005 (none given) when it has none.
std::uint16_t close_code(std::string_view close_payload);

/// Splits received bytes into messages. Server frames must not be masked, extensions are not
/// negotiated, control frames are at most 125 bytes and not fragmented, and a message may not
/// exceed `max_message` bytes; anything else is a protocol error after which the connection must
/// be dropped.
class frame_reader {
public:
    explicit frame_reader(std::size_t max_message) : max_message_(max_message) {}

    /// The next message in `received`, which starts where the previous call stopped;
    /// `consumed` grows by the bytes used. nullopt when more bytes are needed.
    core::result<std::optional<message>> next(std::string_view received, std::size_t& consumed);

private:
    std::size_t max_message_;
    std::string fragments_;  // a fragmented message so far
    std::optional<opcode> fragmented_;
};

}  // namespace tugboat::integrations::websocket_wire
