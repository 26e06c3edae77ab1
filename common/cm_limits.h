/* Every named limit of the project, in one place. */
#ifndef CM_LIMITS_H
#define CM_LIMITS_H

/* Request bodies (clusterm; manager.max_body_bytes may lower or raise it). */
#define LIMIT_BODY_BYTES_DEFAULT	(1024 * 1024)
#define LIMIT_BODY_BYTES_MAX		(64 * 1024 * 1024)

/* Reports in one batch, tags in one report, nesting of a JSON body. */
#define LIMIT_BATCH_REPORTS		10000
#define LIMIT_REPORT_TAGS		64
#define LIMIT_JSON_DEPTH		16

/* String lengths, without the terminating NUL. */
#define LIMIT_LABEL_LEN			63	/* Node-Label, also Node-Serial */
#define LIMIT_SERIAL_LEN		63
#define LIMIT_NODE_NAME_LEN		(LIMIT_LABEL_LEN + 1 + LIMIT_SERIAL_LEN)
#define LIMIT_ADDR_LEN			253	/* a DNS name */
#define LIMIT_MEMBER_NAME_LEN		128	/* Node-Name, X-Reporter */
#define LIMIT_ROLE_LEN			128
#define LIMIT_TAG_KEY_LEN		128
#define LIMIT_TAG_VALUE_LEN		1024
#define LIMIT_EPOCH_LEN			64	/* X-Reporter-Epoch */
#define LIMIT_HOST_GROUP_LEN		64

/* serf-forwarder input. */
#define LIMIT_STDIN_LINE_BYTES		(64 * 1024)
#define LIMIT_STDIN_MEMBERS		10000
#define LIMIT_SPOOL_BYTES_DEFAULT	(64 * 1024 * 1024)

/* Files read whole (configs, token files). */
#define LIMIT_CONFIG_BYTES		(1024 * 1024)

/* manager.max_streams: default and range (well below civetweb's workers). */
#define LIMIT_STREAMS_DEFAULT		16
#define LIMIT_STREAMS_MAX		64

/*
 * Reporters clusterm keeps (interned names with their records, CONTRACT
 * 11): a POST from a new reporter past it is refused (503).
 */
#define LIMIT_REPORTERS			262144

/* Store records. */
#define LIMIT_RECORD_BYTES		(256 * 1024 * 1024)

#endif
