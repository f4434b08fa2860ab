#include "integrations/websocket_wire.hpp"

#include <catch2/catch.hpp>

#include <random>
#include <string>
#include <utility>
#include <vector>

using namespace tugboat::integrations::websocket_wire;
using tugboat::core::errc;

namespace {

std::string bytes(std::initializer_list<int> b) {
    std::string s;
    for (int c : b) {
        s += static_cast<char>(c);
    }
    return s;
}

// Undoes a client frame's masking; the header must use the 7-bit length.
std::string unmask_short(const std::string& frame) {
    const auto n = static_cast<std::size_t>(static_cast<unsigned char>(frame[1]) & 0x7F);
    std::string out;
    for (std::size_t i = 0; i < n; ++i) {
        out += static_cast<char>(frame[6 + i] ^ frame[2 + (i & 3)]);
    }
    return out;
}

}  // namespace

TEST_CASE("websocket_wire: the accept value of RFC 6455's example key") {
    CHECK(accept_for("dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    const auto key = make_key();
    CHECK(key.size() == 24);  // 16 bytes in base64
    CHECK(make_key() != key);
}

TEST_CASE("websocket_wire: the upgrade answer is checked and frames after it are kept") {
    const std::string key = "dGhlIHNhbXBsZSBub25jZQ==";
    const std::string request = upgrade_request("slack.test:443", "/link/?ticket=1", key, "t/1");
    CHECK(request.starts_with("GET /link/?ticket=1 HTTP/1.1\r\nHost: slack.test:443\r\n"));
    CHECK(request.find("Sec-WebSocket-Key: " + key + "\r\n") != std::string::npos);
    CHECK(request.ends_with("\r\n\r\n"));

    const std::string answer =
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n";
    const std::string hello = bytes({0x81, 0x02}) + "hi";
    auto whole = parse_upgrade_response(answer + hello, key);
    REQUIRE(whole);
    CHECK(*whole == answer.size());

    auto partial = parse_upgrade_response(answer.substr(0, 40), key);
    REQUIRE(partial);
    CHECK(*partial == 0);

    auto refused =
        parse_upgrade_response("HTTP/1.1 403 Forbidden\r\nContent-Length: 4\r\n\r\nnope", key);
    REQUIRE_FALSE(refused);
    CHECK(refused.error().code == errc::unavailable);
    CHECK(refused.error().message.find("HTTP 403") != std::string::npos);

    std::string forged = answer;
    forged.replace(forged.find("s3pP"), 4, "AAAA");
    auto wrong = parse_upgrade_response(forged, key);
    REQUIRE_FALSE(wrong);
    CHECK(wrong.error().code == errc::protocol_error);
}

TEST_CASE("websocket_wire: client frames are masked with a fresh key each") {
    mask_source masks;
    std::string a;
    append_frame(a, opcode::text, "Hello", masks);
    REQUIRE(a.size() == 2 + 4 + 5);
    CHECK(static_cast<unsigned char>(a[0]) == 0x81);        // FIN, text
    CHECK(static_cast<unsigned char>(a[1]) == (0x80 | 5));  // masked, 5 bytes
    CHECK(unmask_short(a) == "Hello");
    std::string b;
    append_frame(b, opcode::text, "Hello", masks);
    CHECK(a.substr(2, 4) != b.substr(2, 4));

    std::string close;
    append_close(close, 1000, masks);
    CHECK(static_cast<unsigned char>(close[0]) == 0x88);
    CHECK(close_code(unmask_short(close)) == 1000);
    CHECK(close_code("") == 1005);

    std::string big;
    append_frame(big, opcode::text, std::string(300, 'x'), masks);
    CHECK(static_cast<unsigned char>(big[1]) == (0x80 | 126));
    CHECK(big.size() == 2 + 2 + 4 + 300);
    std::string huge;
    append_frame(huge, opcode::binary, std::string(70000, 'x'), masks);
    CHECK(static_cast<unsigned char>(huge[1]) == (0x80 | 127));
    CHECK(huge.size() == 2 + 8 + 4 + 70000);
}

TEST_CASE("websocket_wire: frames are read whole, across reads and fragments") {
    frame_reader reader(1 << 20);
    // RFC 6455 §5.7: a single-frame unmasked text message, then "Hel" + "lo" in two fragments
    // with a ping between them.
    const std::string data = bytes({0x81, 0x05}) + "Hello" + bytes({0x01, 0x03}) + "Hel" +
                             bytes({0x89, 0x02}) + "pi" + bytes({0x80, 0x02}) + "lo";
    std::size_t used = 0;
    auto first = reader.next(data, used);
    REQUIRE(first);
    REQUIRE(*first);
    CHECK((*first)->op == opcode::text);
    CHECK((*first)->payload == "Hello");
    auto ping = reader.next(data, used);
    REQUIRE(ping);
    REQUIRE(*ping);
    CHECK((*ping)->op == opcode::ping);
    CHECK((*ping)->payload == "pi");
    auto joined = reader.next(data, used);
    REQUIRE(joined);
    REQUIRE(*joined);
    CHECK((*joined)->op == opcode::text);
    CHECK((*joined)->payload == "Hello");
    CHECK(used == data.size());
    auto none = reader.next(data, used);
    REQUIRE(none);
    CHECK_FALSE(*none);

    // A frame split over two reads: nothing until the rest arrives.
    const std::string long_text(300, 'y');
    const std::string frame = bytes({0x81, 126, 0x01, 0x2C}) + long_text;
    frame_reader split(1 << 20);
    std::size_t at = 0;
    auto early = split.next(std::string_view(frame).substr(0, 100), at);
    REQUIRE(early);
    CHECK_FALSE(*early);
    CHECK(at == 0);
    auto late = split.next(frame, at);
    REQUIRE(late);
    REQUIRE(*late);
    CHECK((*late)->payload == long_text);
}

TEST_CASE("websocket_wire: protocol violations and oversized messages are errors") {
    auto fails = [](const std::string& data, std::size_t max = 1 << 20) {
        frame_reader reader(max);
        std::size_t used = 0;
        auto r = reader.next(data, used);
        return r ? std::string() : r.error().message;
    };
    CHECK(fails(bytes({0x81, 0x85, 1, 2, 3, 4}) + "abcde").find("masked") != std::string::npos);
    CHECK(fails(bytes({0xC1, 0x01}) + "a").find("reserved") != std::string::npos);
    CHECK(fails(bytes({0x80, 0x01}) + "a").find("continuation") != std::string::npos);
    CHECK(fails(bytes({0x09, 0x01}) + "a").find("control") != std::string::npos);
    CHECK(fails(bytes({0x83, 0x00})).find("opcode") != std::string::npos);
    CHECK(fails(bytes({0x01, 0x01}) + "a" + bytes({0x81, 0x01}) + "b").find("fragmented") !=
          std::string::npos);
    CHECK(fails(bytes({0x81, 0x0A}) + "0123456789", 8).find("larger than 8") != std::string::npos);
    CHECK(fails(bytes({0x01, 0x05}) + "01234" + bytes({0x80, 0x05}) + "56789", 8)
              .find("larger than 8") != std::string::npos);
}

TEST_CASE("websocket_wire: any split of the received bytes gives the same messages") {
    // Server frames (unmasked): short, 16-bit and 64-bit lengths, a fragmented message with a
    // ping inside, and a close.
    auto frame = [](int b0, const std::string& payload) {
        std::string f(1, static_cast<char>(b0));
        const std::size_t n = payload.size();
        if (n < 126) {
            f += static_cast<char>(n);
        } else if (n <= 0xFFFF) {
            f += bytes({126, static_cast<int>(n >> 8), static_cast<int>(n & 0xFF)});
        } else {
            f += static_cast<char>(127);
            for (int shift = 56; shift >= 0; shift -= 8) {
                f += static_cast<char>((n >> shift) & 0xFF);
            }
        }
        return f + payload;
    };
    const std::string big(70'000, 'b');
    const std::string mid(300, 'm');
    const std::string stream = frame(0x81, "hello") + frame(0x81, mid) + frame(0x01, "frag-") +
                               frame(0x89, "ping") + frame(0x80, "ment") + frame(0x82, big) +
                               frame(0x88, bytes({0x03, 0xE8}));
    const std::vector<std::pair<opcode, std::string>> expected = {
        {opcode::text, "hello"},     {opcode::text, mid},   {opcode::ping, "ping"},
        {opcode::text, "frag-ment"}, {opcode::binary, big}, {opcode::close, bytes({0x03, 0xE8})}};

    std::mt19937 random(7);
    for (int round = 0; round < 50; ++round) {
        frame_reader reader(1 << 20);
        std::string buffer;  // received and not yet consumed, as Socket Mode keeps it
        std::vector<std::pair<opcode, std::string>> got;
        std::size_t at = 0;
        while (at < stream.size()) {
            const std::size_t n = std::min<std::size_t>(
                stream.size() - at, std::uniform_int_distribution<std::size_t>(1, 9000)(random));
            buffer.append(stream, at, n);
            at += n;
            std::size_t used = 0;
            for (;;) {
                auto m = reader.next(buffer, used);
                REQUIRE(m);
                if (!*m) {
                    break;
                }
                got.emplace_back((*m)->op, std::string((*m)->payload));
            }
            buffer.erase(0, used);
        }
        CHECK(buffer.empty());
        REQUIRE(got.size() == expected.size());
        for (std::size_t i = 0; i < got.size(); ++i) {
            CHECK(got[i].first == expected[i].first);
            CHECK(got[i].second == expected[i].second);
        }
    }
}
