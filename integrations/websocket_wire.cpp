#include "integrations/websocket_wire.hpp"

#include "core/text.hpp"

#include <fmt/format.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/parser.hpp>

#include <cstring>
#include <stdexcept>

namespace tugboat::integrations::websocket_wire {

namespace http = boost::beast::http;

namespace {

std::string base64(const unsigned char* data, std::size_t size) {
    std::string out(4 * ((size + 2) / 3) + 1, '\0');
    const int n =
        EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), data, static_cast<int>(size));
    out.resize(static_cast<std::size_t>(n));
    return out;
}

core::error protocol(std::string what) {
    return core::error{core::errc::protocol_error, std::move(what)};
}

// True when the comma-separated header value lists `token` (case-insensitive).
bool lists_token(std::string_view value, std::string_view token) {
    for (const auto& part : core::split(value, ',')) {
        if (core::to_lower(core::trim(part)) == token) {
            return true;
        }
    }
    return false;
}

}  // namespace

std::string make_key() {
    unsigned char raw[16];
    if (RAND_bytes(raw, sizeof raw) != 1) {
        throw std::runtime_error("OpenSSL's random generator failed");
    }
    return base64(raw, sizeof raw);
}

std::string accept_for(std::string_view key) {
    static constexpr std::string_view guid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
    std::string input(key);
    input += guid;
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int size = 0;
    EVP_Digest(input.data(), input.size(), digest, &size, EVP_sha1(), nullptr);
    return base64(digest, size);
}

std::string upgrade_request(std::string_view host, std::string_view target, std::string_view key,
                            std::string_view user_agent) {
    return fmt::format(
        "GET {} HTTP/1.1\r\nHost: {}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Key: {}\r\nSec-WebSocket-Version: 13\r\nUser-Agent: {}\r\n\r\n",
        target.empty() ? "/" : target, host, key, user_agent);
}

core::result<std::size_t> parse_upgrade_response(std::string_view received, std::string_view key) {
    constexpr std::size_t max_header = 16 * 1024;
    const auto end = received.find("\r\n\r\n");
    if (end == std::string_view::npos) {
        if (received.size() > max_header) {
            return protocol("the WebSocket handshake answer has no end of headers");
        }
        return std::size_t{0};
    }
    const std::size_t size = end + 4;
    http::response_parser<http::empty_body> parser;
    parser.eager(true);
    parser.skip(true);  // a 101 has no body, and an error page's body does not matter
    boost::system::error_code ec;
    parser.put(boost::asio::buffer(received.data(), size), ec);
    if (ec || !parser.is_header_done()) {
        return protocol(fmt::format("the WebSocket handshake answer is not HTTP: {}",
                                    ec ? ec.message() : "incomplete header"));
    }
    const auto& res = parser.get();
    if (res.result_int() != 101) {
        return core::error{
            core::errc::unavailable,
            fmt::format("the server answered HTTP {} instead of switching to WebSocket",
                        res.result_int())};
    }
    auto header = [&](http::field f) {
        auto it = res.find(f);
        return it == res.end() ? std::string_view{}
                               : std::string_view(it->value().data(), it->value().size());
    };
    if (!lists_token(header(http::field::upgrade), "websocket") ||
        !lists_token(header(http::field::connection), "upgrade")) {
        return protocol("the server's 101 answer does not upgrade to websocket");
    }
    if (core::trim(header(http::field::sec_websocket_accept)) != accept_for(key)) {
        return protocol("the server's Sec-WebSocket-Accept does not match our key");
    }
    return size;
}

std::uint32_t mask_source::next() {
    if (used_ == block_.size()) {
        if (RAND_bytes(reinterpret_cast<unsigned char*>(block_.data()),
                       static_cast<int>(sizeof block_)) != 1) {
            throw std::runtime_error("OpenSSL's random generator failed");
        }
        used_ = 0;
    }
    return block_[used_++];
}

void append_frame(std::string& out, opcode op, std::string_view payload, mask_source& masks) {
    const std::size_t n = payload.size();
    const std::size_t start = out.size();
    const std::size_t header = 2 + (n < 126 ? 0 : n <= 0xFFFF ? 2 : 8) + 4;
    out.resize(start + header + n);
    auto* p = reinterpret_cast<unsigned char*>(out.data() + start);
    *p++ = static_cast<unsigned char>(0x80 | static_cast<unsigned>(op));
    if (n < 126) {
        *p++ = static_cast<unsigned char>(0x80 | n);
    } else if (n <= 0xFFFF) {
        *p++ = 0x80 | 126;
        *p++ = static_cast<unsigned char>(n >> 8);
        *p++ = static_cast<unsigned char>(n);
    } else {
        *p++ = 0x80 | 127;
        for (int shift = 56; shift >= 0; shift -= 8) {
            *p++ = static_cast<unsigned char>(static_cast<std::uint64_t>(n) >> shift);
        }
    }
    unsigned char key[4];
    const std::uint32_t mask = masks.next();
    std::memcpy(key, &mask, 4);
    std::memcpy(p, key, 4);
    p += 4;
    for (std::size_t i = 0; i < n; ++i) {
        p[i] = static_cast<unsigned char>(payload[i]) ^ key[i & 3];
    }
}

void append_close(std::string& out, std::uint16_t code, mask_source& masks) {
    const char body[2] = {static_cast<char>(code >> 8), static_cast<char>(code & 0xFF)};
    append_frame(out, opcode::close, std::string_view(body, 2), masks);
}

std::uint16_t close_code(std::string_view close_payload) {
    if (close_payload.size() < 2) {
        return 1005;
    }
    return static_cast<std::uint16_t>(static_cast<unsigned char>(close_payload[0]) << 8 |
                                      static_cast<unsigned char>(close_payload[1]));
}

core::result<std::optional<message>> frame_reader::next(std::string_view received,
                                                        std::size_t& consumed) {
    if (!fragmented_) {
        fragments_.clear();  // the last whole message handed out, no longer needed
    }
    for (;;) {
        const std::string_view in = received.substr(consumed);
        if (in.size() < 2) {
            return std::optional<message>{};
        }
        const auto b0 = static_cast<unsigned char>(in[0]);
        const auto b1 = static_cast<unsigned char>(in[1]);
        const bool fin = (b0 & 0x80) != 0;
        const auto op = static_cast<opcode>(b0 & 0x0F);
        if ((b0 & 0x70) != 0) {
            return protocol("a WebSocket frame has reserved bits set (no extension was agreed)");
        }
        if ((b1 & 0x80) != 0) {
            return protocol("the server sent a masked WebSocket frame");
        }
        std::size_t header = 2;
        std::uint64_t length = b1 & 0x7F;
        if (length == 126 || length == 127) {
            const std::size_t bytes = length == 126 ? 2 : 8;
            if (in.size() < 2 + bytes) {
                return std::optional<message>{};
            }
            length = 0;
            for (std::size_t i = 0; i < bytes; ++i) {
                length = length << 8 | static_cast<unsigned char>(in[2 + i]);
            }
            header += bytes;
        }
        const bool control = (static_cast<unsigned>(op) & 0x8) != 0;
        if (control) {
            if (op != opcode::close && op != opcode::ping && op != opcode::pong) {
                return protocol(fmt::format("unknown WebSocket opcode {}", static_cast<int>(op)));
            }
            if (!fin || length > 125) {
                return protocol("a WebSocket control frame is fragmented or longer than 125 bytes");
            }
        } else if (op != opcode::continuation && op != opcode::text && op != opcode::binary) {
            return protocol(fmt::format("unknown WebSocket opcode {}", static_cast<int>(op)));
        }
        const std::size_t so_far = op == opcode::continuation ? fragments_.size() : 0;
        if (length > max_message_ - so_far) {
            return core::error{
                core::errc::invalid_argument,
                fmt::format("a WebSocket message is larger than {} bytes", max_message_)};
        }
        if (in.size() - header < length) {
            return std::optional<message>{};
        }
        const std::string_view payload = in.substr(header, static_cast<std::size_t>(length));
        consumed += header + static_cast<std::size_t>(length);
        if (control) {
            return std::optional<message>{message{op, payload}};
        }
        if (op == opcode::continuation) {
            if (!fragmented_) {
                return protocol("a WebSocket continuation frame without a message to continue");
            }
            fragments_.append(payload);
            if (!fin) {
                continue;
            }
            message whole{*fragmented_, fragments_};
            fragmented_.reset();
            return std::optional<message>{whole};
        }
        if (fragmented_) {
            return protocol("a new WebSocket message began inside a fragmented one");
        }
        if (fin) {
            return std::optional<message>{message{op, payload}};
        }
        fragments_.assign(payload);
        fragmented_ = op;
    }
}

}  // namespace tugboat::integrations::websocket_wire
