#include "integrations/byte_stream.hpp"

#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket/teardown.hpp>

#include <optional>

namespace tugboat::integrations {

namespace beast = boost::beast;

namespace {

// Boost 1.81's any_completion_executor cannot be asked for blocking.never, which Beast needs
// when it posts a completion. So an erased handler is handed on bound to the stream's executor
// (the same io_context as the caller's), keeping its cancellation slot.
template <class Handler>
struct bound_handler {
    Handler handler;
    byte_stream::executor_type executor;

    using executor_type = byte_stream::executor_type;
    executor_type get_executor() const noexcept { return executor; }
    using cancellation_slot_type = boost::asio::cancellation_slot;
    cancellation_slot_type get_cancellation_slot() const noexcept {
        return handler.get_cancellation_slot();
    }
    template <class... Args>
    void operator()(Args&&... args) {
        std::move(handler)(std::forward<Args>(args)...);
    }
};

template <class Handler>
bound_handler<Handler> bind_to(byte_stream& stream, Handler handler) {
    return {std::move(handler), stream.get_executor()};
}

}  // namespace

struct byte_stream::layers {
    std::optional<beast::tcp_stream> plain;
    std::optional<tls_layer_type> tls;
};

byte_stream::byte_stream(beast::tcp_stream tcp, boost::asio::ssl::context* context)
    : layers_(std::make_unique<layers>()) {
    if (context) {
        layers_->tls.emplace(std::move(tcp), *context);
    } else {
        layers_->plain.emplace(std::move(tcp));
    }
}

byte_stream::byte_stream(byte_stream&&) noexcept = default;
byte_stream& byte_stream::operator=(byte_stream&&) noexcept = default;
byte_stream::~byte_stream() = default;

byte_stream::executor_type byte_stream::get_executor() noexcept {
    return tcp().get_executor();
}

beast::tcp_stream& byte_stream::tcp() noexcept {
    return layers_->tls ? beast::get_lowest_layer(*layers_->tls) : *layers_->plain;
}

byte_stream::tls_layer_type* byte_stream::tls() noexcept {
    return layers_->tls ? &*layers_->tls : nullptr;
}

void byte_stream::read_some(buffer_list<boost::asio::mutable_buffer> buffers, io_handler handler) {
    if (layers_->tls) {
        layers_->tls->async_read_some(buffers, bind_to(*this, std::move(handler)));
    } else {
        layers_->plain->async_read_some(buffers, bind_to(*this, std::move(handler)));
    }
}

void byte_stream::write_some(buffer_list<boost::asio::const_buffer> buffers, io_handler handler) {
    if (layers_->tls) {
        layers_->tls->async_write_some(buffers, bind_to(*this, std::move(handler)));
    } else {
        layers_->plain->async_write_some(buffers, bind_to(*this, std::move(handler)));
    }
}

void byte_stream::start_teardown(beast::role_type role,
                                 boost::asio::any_completion_handler<void(error_code)> handler) {
    using beast::websocket::async_teardown;
    if (layers_->tls) {
        async_teardown(role, *layers_->tls, bind_to(*this, std::move(handler)));
    } else {
        async_teardown(role, *layers_->plain, bind_to(*this, std::move(handler)));
    }
}

void teardown(beast::role_type role, byte_stream& stream, boost::system::error_code& ec) {
    using beast::websocket::teardown;
    if (auto* tls = stream.tls()) {
        teardown(role, *tls, ec);
    } else {
        teardown(role, stream.tcp(), ec);
    }
}

void beast_close_socket(byte_stream& stream) {
    beast::close_socket(stream.tcp().socket());
}

}  // namespace tugboat::integrations
