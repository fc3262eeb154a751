// The C surface of librabbitmq (rabbitmq-c 0.11) that the AMQP module uses, plus
// what Swift cannot call directly: the variadic amqp_login, and method numbers
// and property flags that are macros with casts.
#ifndef CRABBITMQ_SHIM_H
#define CRABBITMQ_SHIM_H

#include <amqp.h>
#include <amqp_framing.h>
#include <amqp_ssl_socket.h>
#include <amqp_tcp_socket.h>
#include <arpa/inet.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <pthread.h>
#include <string.h>
#include <linux/sockios.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

/// Bytes the socket's send buffer can still take without blocking (half of SO_SNDBUF, as the
/// kernel doubles it for its bookkeeping, less what is queued); -1 when unknown.
static inline long cra_socket_send_room(int fd) {
    int queued = 0;
    int buffer = 0;
    socklen_t length = sizeof buffer;
    if (ioctl(fd, SIOCOUTQ, &queued) != 0) return -1;
    if (getsockopt(fd, SOL_SOCKET, SO_SNDBUF, &buffer, &length) != 0) return -1;
    return (long)buffer / 2 - queued;
}

/// What the socket's send buffer holds when empty (the `cra_socket_send_room` of an idle socket).
static inline long cra_socket_send_capacity(int fd) {
    int buffer = 0;
    socklen_t length = sizeof buffer;
    if (getsockopt(fd, SOL_SOCKET, SO_SNDBUF, &buffer, &length) != 0) return -1;
    return (long)buffer / 2;
}

/// The three parts of a basic.publish, sent one frame at a time so that a message of any size
/// goes out as the socket drains (amqp_basic_publish writes the whole message before it returns).
static inline int cra_send_publish_method(amqp_connection_state_t state, amqp_channel_t channel,
                                          amqp_bytes_t exchange, amqp_bytes_t routing_key,
                                          amqp_boolean_t mandatory) {
    amqp_basic_publish_t method;
    memset(&method, 0, sizeof method);
    method.exchange = exchange;
    method.routing_key = routing_key;
    method.mandatory = mandatory;
    return amqp_send_method(state, channel, AMQP_BASIC_PUBLISH_METHOD, &method);
}

static inline int cra_send_content_header(amqp_connection_state_t state, amqp_channel_t channel,
                                          uint64_t body_size, amqp_basic_properties_t *properties) {
    amqp_frame_t frame;
    memset(&frame, 0, sizeof frame);
    frame.frame_type = AMQP_FRAME_HEADER;
    frame.channel = channel;
    frame.payload.properties.class_id = AMQP_BASIC_CLASS;
    frame.payload.properties.body_size = body_size;
    frame.payload.properties.decoded = properties;
    return amqp_send_frame(state, &frame);
}

static inline int cra_send_body_frame(amqp_connection_state_t state, amqp_channel_t channel,
                                      const void *bytes, size_t length) {
    amqp_frame_t frame;
    memset(&frame, 0, sizeof frame);
    frame.frame_type = AMQP_FRAME_BODY;
    frame.channel = channel;
    frame.payload.body_fragment.bytes = (void *)bytes;
    frame.payload.body_fragment.len = length;
    return amqp_send_frame(state, &frame);
}

/// Has OpenSSL check the broker's certificate against `host` during the handshake: an IP
/// address (v4 or v6) against the certificate's IP subjectAltNames, a name against its DNS
/// names (rabbitmq-c 0.11's own check knows DNS names only). Returns 0 on success.
static inline int cra_ssl_expect_peer_name(amqp_socket_t *socket, const char *host) {
    SSL_CTX *context = (SSL_CTX *)amqp_ssl_socket_get_context(socket);
    if (context == NULL) return -1;
    X509_VERIFY_PARAM *param = SSL_CTX_get0_param(context);
    if (param == NULL) return -1;
    unsigned char address[16];
    if (inet_pton(AF_INET, host, address) == 1 || inet_pton(AF_INET6, host, address) == 1) {
        return X509_VERIFY_PARAM_set1_ip_asc(param, host) == 1 ? 0 : -1;
    }
    X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    return X509_VERIFY_PARAM_set1_host(param, host, 0) == 1 ? 0 : -1;
}

/// A non-blocking eventfd that wakes the connection thread out of poll().
static inline int cra_wakefd_create(void) { return eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK); }
static inline void cra_wakefd_signal(int fd) { eventfd_write(fd, 1); }
static inline void cra_wakefd_drain(int fd) {
    eventfd_t value;
    (void)eventfd_read(fd, &value);
}
static inline void cra_set_thread_name(const char *name) { pthread_setname_np(pthread_self(), name); }

/// Logs in with SASL PLAIN and announces the capabilities the client handles:
/// consumer cancel notifications, connection.blocked, publisher confirms with
/// basic.nack, and authentication failures as connection.close. `connection_name`
/// shows in the broker's management UI.
static inline amqp_rpc_reply_t cra_login_plain(amqp_connection_state_t state, const char *vhost,
                                               int channel_max, int frame_max, int heartbeat,
                                               const char *connection_name, const char *user,
                                               const char *password) {
    amqp_table_entry_t capabilities[5];
    capabilities[0].key = amqp_cstring_bytes("consumer_cancel_notify");
    capabilities[1].key = amqp_cstring_bytes("connection.blocked");
    capabilities[2].key = amqp_cstring_bytes("publisher_confirms");
    capabilities[3].key = amqp_cstring_bytes("basic.nack");
    capabilities[4].key = amqp_cstring_bytes("authentication_failure_close");
    for (int i = 0; i < 5; i++) {
        capabilities[i].value.kind = AMQP_FIELD_KIND_BOOLEAN;
        capabilities[i].value.value.boolean = 1;
    }
    amqp_table_entry_t properties[2];
    properties[0].key = amqp_cstring_bytes("capabilities");
    properties[0].value.kind = AMQP_FIELD_KIND_TABLE;
    properties[0].value.value.table.num_entries = 5;
    properties[0].value.value.table.entries = capabilities;
    properties[1].key = amqp_cstring_bytes("connection_name");
    properties[1].value.kind = AMQP_FIELD_KIND_UTF8;
    properties[1].value.value.bytes = amqp_cstring_bytes(connection_name);
    amqp_table_t table = {2, properties};
    return amqp_login_with_properties(state, vhost, channel_max, frame_max, heartbeat, &table,
                                      AMQP_SASL_METHOD_PLAIN, user, password);
}

// Method numbers (macros with casts in amqp_framing.h).
static const amqp_method_number_t CRA_CONNECTION_CLOSE = AMQP_CONNECTION_CLOSE_METHOD;
static const amqp_method_number_t CRA_CONNECTION_CLOSE_OK = AMQP_CONNECTION_CLOSE_OK_METHOD;
static const amqp_method_number_t CRA_CONNECTION_BLOCKED = AMQP_CONNECTION_BLOCKED_METHOD;
static const amqp_method_number_t CRA_CONNECTION_UNBLOCKED = AMQP_CONNECTION_UNBLOCKED_METHOD;
static const amqp_method_number_t CRA_CHANNEL_CLOSE = AMQP_CHANNEL_CLOSE_METHOD;
static const amqp_method_number_t CRA_CHANNEL_CLOSE_OK = AMQP_CHANNEL_CLOSE_OK_METHOD;
static const amqp_method_number_t CRA_CHANNEL_OPEN = AMQP_CHANNEL_OPEN_METHOD;
static const amqp_method_number_t CRA_CHANNEL_OPEN_OK = AMQP_CHANNEL_OPEN_OK_METHOD;
static const amqp_method_number_t CRA_EXCHANGE_DECLARE = AMQP_EXCHANGE_DECLARE_METHOD;
static const amqp_method_number_t CRA_EXCHANGE_DECLARE_OK = AMQP_EXCHANGE_DECLARE_OK_METHOD;
static const amqp_method_number_t CRA_EXCHANGE_DELETE = AMQP_EXCHANGE_DELETE_METHOD;
static const amqp_method_number_t CRA_EXCHANGE_DELETE_OK = AMQP_EXCHANGE_DELETE_OK_METHOD;
static const amqp_method_number_t CRA_QUEUE_DECLARE = AMQP_QUEUE_DECLARE_METHOD;
static const amqp_method_number_t CRA_QUEUE_DECLARE_OK = AMQP_QUEUE_DECLARE_OK_METHOD;
static const amqp_method_number_t CRA_QUEUE_DELETE = AMQP_QUEUE_DELETE_METHOD;
static const amqp_method_number_t CRA_QUEUE_DELETE_OK = AMQP_QUEUE_DELETE_OK_METHOD;
static const amqp_method_number_t CRA_QUEUE_BIND = AMQP_QUEUE_BIND_METHOD;
static const amqp_method_number_t CRA_QUEUE_BIND_OK = AMQP_QUEUE_BIND_OK_METHOD;
static const amqp_method_number_t CRA_BASIC_QOS = AMQP_BASIC_QOS_METHOD;
static const amqp_method_number_t CRA_BASIC_QOS_OK = AMQP_BASIC_QOS_OK_METHOD;
static const amqp_method_number_t CRA_BASIC_CONSUME = AMQP_BASIC_CONSUME_METHOD;
static const amqp_method_number_t CRA_CONFIRM_SELECT = AMQP_CONFIRM_SELECT_METHOD;
static const amqp_method_number_t CRA_CONFIRM_SELECT_OK = AMQP_CONFIRM_SELECT_OK_METHOD;
static const uint16_t CRA_BASIC_CLASS = AMQP_BASIC_CLASS;
static const amqp_method_number_t CRA_BASIC_DELIVER = AMQP_BASIC_DELIVER_METHOD;
static const amqp_method_number_t CRA_BASIC_ACK = AMQP_BASIC_ACK_METHOD;
static const amqp_method_number_t CRA_BASIC_NACK = AMQP_BASIC_NACK_METHOD;
static const amqp_method_number_t CRA_BASIC_RETURN = AMQP_BASIC_RETURN_METHOD;
static const amqp_method_number_t CRA_BASIC_CANCEL = AMQP_BASIC_CANCEL_METHOD;
static const amqp_method_number_t CRA_BASIC_CANCEL_OK = AMQP_BASIC_CANCEL_OK_METHOD;
static const amqp_method_number_t CRA_BASIC_CONSUME_OK = AMQP_BASIC_CONSUME_OK_METHOD;

// Frame types.
static const uint8_t CRA_FRAME_METHOD = AMQP_FRAME_METHOD;
static const uint8_t CRA_FRAME_HEADER = AMQP_FRAME_HEADER;
static const uint8_t CRA_FRAME_BODY = AMQP_FRAME_BODY;

// basic.properties flags.
static const amqp_flags_t CRA_CONTENT_TYPE_FLAG = AMQP_BASIC_CONTENT_TYPE_FLAG;
static const amqp_flags_t CRA_CONTENT_ENCODING_FLAG = AMQP_BASIC_CONTENT_ENCODING_FLAG;
static const amqp_flags_t CRA_HEADERS_FLAG = AMQP_BASIC_HEADERS_FLAG;
static const amqp_flags_t CRA_DELIVERY_MODE_FLAG = AMQP_BASIC_DELIVERY_MODE_FLAG;
static const amqp_flags_t CRA_PRIORITY_FLAG = AMQP_BASIC_PRIORITY_FLAG;
static const amqp_flags_t CRA_CORRELATION_ID_FLAG = AMQP_BASIC_CORRELATION_ID_FLAG;
static const amqp_flags_t CRA_REPLY_TO_FLAG = AMQP_BASIC_REPLY_TO_FLAG;
static const amqp_flags_t CRA_EXPIRATION_FLAG = AMQP_BASIC_EXPIRATION_FLAG;
static const amqp_flags_t CRA_MESSAGE_ID_FLAG = AMQP_BASIC_MESSAGE_ID_FLAG;
static const amqp_flags_t CRA_TIMESTAMP_FLAG = AMQP_BASIC_TIMESTAMP_FLAG;
static const amqp_flags_t CRA_TYPE_FLAG = AMQP_BASIC_TYPE_FLAG;
static const amqp_flags_t CRA_USER_ID_FLAG = AMQP_BASIC_USER_ID_FLAG;
static const amqp_flags_t CRA_APP_ID_FLAG = AMQP_BASIC_APP_ID_FLAG;
static const amqp_flags_t CRA_CLUSTER_ID_FLAG = AMQP_BASIC_CLUSTER_ID_FLAG;

#endif
