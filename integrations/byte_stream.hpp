#pragma once

// A TCP connection, with TLS or without, as one stream type. Beast's HTTP and WebSocket
// operations are templates over the stream; giving them one type instead of two (a
// `tcp_stream` and an `ssl_stream<tcp_stream>`) compiles each of them once: the files that
// speak HTTP or WebSocket over both now build in a quarter to two thirds of the time. Reads and
// writes reach the real layer through one type-erased handler each; bench_slack shows no change
// in the bot's CPU or throughput from that.

#include <boost/asio/any_completion_handler.hpp>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/beast/core/role.hpp>
#include <boost/beast/core/tcp_stream.hpp>

#include <array>
#include <cstddef>
#include <memory>
#include <utility>

namespace boost::asio::ssl {
class context;
}
namespace boost::beast {
template <class NextLayer>
class ssl_stream;
}

namespace tugboat::integrations {

class byte_stream {
public:
    using error_code = boost::system::error_code;
    using executor_type = boost::asio::any_io_executor;
    using tls_layer_type = boost::beast::ssl_stream<boost::beast::tcp_stream>;

    /// TLS over `tcp` with `context`, or plain TCP when it is null. The handshake is the
    /// owner's (see `tls()`).
    explicit byte_stream(boost::beast::tcp_stream tcp,
                         boost::asio::ssl::context* context = nullptr);
    byte_stream(byte_stream&&) noexcept;
    byte_stream& operator=(byte_stream&&) noexcept;
    ~byte_stream();

    executor_type get_executor() noexcept;
    /// The TCP layer: deadlines, the socket.
    boost::beast::tcp_stream& tcp() noexcept;
    /// The TLS layer, for handshakes, shutdown and the OpenSSL handle; null for plain TCP.
    tls_layer_type* tls() noexcept;

    template <class MutableBufferSequence, class Token>
    auto async_read_some(const MutableBufferSequence& buffers, Token&& token) {
        return start(&byte_stream::read_some, buffers, std::forward<Token>(token));
    }

    template <class ConstBufferSequence, class Token>
    auto async_write_some(const ConstBufferSequence& buffers, Token&& token) {
        return start(&byte_stream::write_some, buffers, std::forward<Token>(token));
    }

    /// Closes the connection the way Beast's WebSocket does at the end (see `async_teardown`).
    void start_teardown(boost::beast::role_type role,
                        boost::asio::any_completion_handler<void(error_code)> handler);

private:
    using io_handler = boost::asio::any_completion_handler<void(error_code, std::size_t)>;

    // A *_some operation may move fewer bytes than asked, so only the first buffers of a long
    // sequence are passed on; the composed operation above comes back for the rest. 64 is what
    // Asio itself hands one readv/writev; with 8, an HTTP request head (a buffer per header
    // field) went out in two writes and cost the bot a fifth more CPU per Slack answer.
    template <class Buffer>
    struct buffer_list {
        std::array<Buffer, 64> items{};
        std::size_t count = 0;
        const Buffer* begin() const noexcept { return items.data(); }
        const Buffer* end() const noexcept { return items.data() + count; }
    };

    template <class Buffer, class Sequence>
    static buffer_list<Buffer> first_buffers(const Sequence& sequence) {
        buffer_list<Buffer> out;
        auto it = boost::asio::buffer_sequence_begin(sequence);
        const auto end = boost::asio::buffer_sequence_end(sequence);
        for (; it != end && out.count < out.items.size(); ++it) {
            out.items[out.count++] = Buffer(*it);
        }
        return out;
    }

    void read_some(buffer_list<boost::asio::mutable_buffer> buffers, io_handler handler);
    void write_some(buffer_list<boost::asio::const_buffer> buffers, io_handler handler);

    // Hands the first buffers and the erased handler to `op`, the non-template read or write.
    template <class Buffer, class Sequence, class Token>
    auto start(void (byte_stream::*op)(buffer_list<Buffer>, io_handler), const Sequence& buffers,
               Token&& token) {
        return boost::asio::async_initiate<Token, void(error_code, std::size_t)>(
            [this, op](auto handler, const Sequence& b) {
                (this->*op)(first_buffers<Buffer>(b), io_handler(std::move(handler)));
            },
            token, buffers);
    }

    struct layers;
    std::unique_ptr<layers> layers_;
};

// Beast's WebSocket finds these by argument-dependent lookup to close its transport.
void teardown(boost::beast::role_type role, byte_stream& stream, boost::system::error_code& ec);

template <class Handler>
void async_teardown(boost::beast::role_type role, byte_stream& stream, Handler&& handler) {
    stream.start_teardown(role,
                          boost::asio::any_completion_handler<void(boost::system::error_code)>(
                              std::forward<Handler>(handler)));
}

void beast_close_socket(byte_stream& stream);

}  // namespace tugboat::integrations
