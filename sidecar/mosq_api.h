#ifndef SDC_MOSQ_API_H
#define SDC_MOSQ_API_H

/* libmosquitto, loaded when the first MQTT component initialises (dc/dl.h) rather than linked.
 *
 * Include this header instead of <mosquitto.h> where libmosquitto is called (mqtt_client.c):
 * the names of the functions used are macros that call through the table `sdc__mosq`, so call
 * sites read as plain libmosquitto. A function used without its line below is an undefined
 * reference at link time (libmosquitto is not linked), never a silent direct call.
 * sdc__mosq_load must have returned DC_OK before any of them is called (sdc_mqtt_open does). */

#include <mosquitto.h>

#include "dc/dl.h"
#include "dc/err.h"

#define SDC__MOSQ_FUNCS(X)                                                                         \
    X(mosquitto_lib_init)                                                                          \
    X(mosquitto_strerror)                                                                          \
    X(mosquitto_connack_string)                                                                    \
    X(mosquitto_new)                                                                               \
    X(mosquitto_destroy)                                                                           \
    X(mosquitto_int_option)                                                                        \
    X(mosquitto_threaded_set)                                                                      \
    X(mosquitto_username_pw_set)                                                                   \
    X(mosquitto_connect_callback_set)                                                              \
    X(mosquitto_disconnect_callback_set)                                                           \
    X(mosquitto_publish_callback_set)                                                              \
    X(mosquitto_subscribe_callback_set)                                                            \
    X(mosquitto_message_callback_set)                                                              \
    X(mosquitto_connect)                                                                           \
    X(mosquitto_reconnect)                                                                         \
    X(mosquitto_disconnect)                                                                        \
    X(mosquitto_loop)                                                                              \
    X(mosquitto_publish)                                                                           \
    X(mosquitto_subscribe)                                                                         \
    X(mosquitto_unsubscribe)                                                                       \
    X(mosquitto_sub_topic_check)                                                                   \
    X(mosquitto_topic_matches_sub)

struct sdc__mosq_api {
    SDC__MOSQ_FUNCS(DC_DL_FIELD)
};

/* Filled by sdc__mosq_load; read-only afterwards. */
extern struct sdc__mosq_api sdc__mosq;

/* Load libmosquitto.so.1 and run mosquitto_lib_init, once per process (dc_dl_load). DC_OK;
 * DC_ENOTFOUND "cannot load libmosquitto.so.1: ..." (package libmosquitto1 missing); DC_EIO (a
 * missing symbol, or mosquitto_lib_init failed). Thread-safe. */
int sdc__mosq_load(struct dc_errbuf *eb) DC_MUST_CHECK;

#define mosquitto_lib_init(...) sdc__mosq.mosquitto_lib_init(__VA_ARGS__)
#define mosquitto_strerror(...) sdc__mosq.mosquitto_strerror(__VA_ARGS__)
#define mosquitto_connack_string(...) sdc__mosq.mosquitto_connack_string(__VA_ARGS__)
#define mosquitto_new(...) sdc__mosq.mosquitto_new(__VA_ARGS__)
#define mosquitto_destroy(...) sdc__mosq.mosquitto_destroy(__VA_ARGS__)
#define mosquitto_int_option(...) sdc__mosq.mosquitto_int_option(__VA_ARGS__)
#define mosquitto_threaded_set(...) sdc__mosq.mosquitto_threaded_set(__VA_ARGS__)
#define mosquitto_username_pw_set(...) sdc__mosq.mosquitto_username_pw_set(__VA_ARGS__)
#define mosquitto_connect_callback_set(...) sdc__mosq.mosquitto_connect_callback_set(__VA_ARGS__)
#define mosquitto_disconnect_callback_set(...)                                                     \
    sdc__mosq.mosquitto_disconnect_callback_set(__VA_ARGS__)
#define mosquitto_publish_callback_set(...) sdc__mosq.mosquitto_publish_callback_set(__VA_ARGS__)
#define mosquitto_subscribe_callback_set(...)                                                      \
    sdc__mosq.mosquitto_subscribe_callback_set(__VA_ARGS__)
#define mosquitto_message_callback_set(...) sdc__mosq.mosquitto_message_callback_set(__VA_ARGS__)
#define mosquitto_connect(...) sdc__mosq.mosquitto_connect(__VA_ARGS__)
#define mosquitto_reconnect(...) sdc__mosq.mosquitto_reconnect(__VA_ARGS__)
#define mosquitto_disconnect(...) sdc__mosq.mosquitto_disconnect(__VA_ARGS__)
#define mosquitto_loop(...) sdc__mosq.mosquitto_loop(__VA_ARGS__)
#define mosquitto_publish(...) sdc__mosq.mosquitto_publish(__VA_ARGS__)
#define mosquitto_subscribe(...) sdc__mosq.mosquitto_subscribe(__VA_ARGS__)
#define mosquitto_unsubscribe(...) sdc__mosq.mosquitto_unsubscribe(__VA_ARGS__)
#define mosquitto_sub_topic_check(...) sdc__mosq.mosquitto_sub_topic_check(__VA_ARGS__)
#define mosquitto_topic_matches_sub(...) sdc__mosq.mosquitto_topic_matches_sub(__VA_ARGS__)

#endif /* SDC_MOSQ_API_H */
