/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Record layout of the network sensor (network.bpf.c); bpf2go generates the Go types. */
#pragma once

/* net_event.op: which network.* event. */
enum net_op {
	NET_CONNECT = 1, /* outbound TCP connection attempt ended: established, or failed (error) */
	NET_ACCEPT = 2,  /* inbound TCP connection accepted */
	NET_CLOSE = 3,   /* TCP connection ended, with its byte counts */
	NET_LISTEN = 4,  /* TCP socket started listening */
	NET_SEND = 5,    /* UDP: first send from a socket to a destination */
	NET_OP_MAX = 6,
};

/* net_event.flags */
enum net_flags {
	NET_OUTBOUND = 1 << 0,       /* the owner opened the connection (connect) or sends (UDP) */
	NET_ACCEPTED = 1 << 1,       /* an inbound connection its owner accepted */
	NET_OWNER_LISTENER = 1 << 2, /* no accept hook: the owner is the listening process */
	NET_AT_CONNECT = 1 << 3,     /* UDP: a connected socket's destination, seen at connect() */
	NET_PRE_SYN = 1 << 4,        /* connect failed before any packet was sent (seen at its return) */
	NET_ESTABLISHED = 1 << 5,    /* net_event.established is known */
};

/* Why an event was not sent: per-CPU counters in osec_net_stats, by reason. Each is also
 * counted in osec_stats.filtered[EVENT_NETWORK]. */
enum net_stat {
	NET_FILTER_EVENT = 0,    /* its operation is not in network::events */
	NET_FILTER_LOOPBACK = 1, /* peer (or listening address) is loopback, network::loopback off */
	NET_FILTER_PORT = 2,     /* outside network::include_ports, or in exclude_ports */
	NET_FILTER_CIDR = 3,     /* outside network::include_cidrs, or in exclude_cidrs */
	NET_UNOWNED = 4,         /* no owner: the socket was opened before the sensor started */
	NET_UNACCEPTED = 5,      /* an inbound connection that ended before any process accepted it */
	NET_STAT_MAX = 8,
};

struct net_stats {
	__u64 n[NET_STAT_MAX];
};

/* The process that owns a socket, recorded where the process context is current (connect,
 * accept, listen, send) and used where it is not (softirq: handshake completion, close). */
struct sk_owner {
	__u32 tgid;
	__u32 tid;
	__u64 proc_start;  /* the process's creation (thread group leader start_boottime) */
	__u64 opened;      /* when it was recorded, CLOCK_BOOTTIME ns */
	__u64 established; /* when the connection was established, 0 if not (yet) */
	__u32 flags;       /* enum net_flags */
	__u32 netns;       /* network namespace inode */
	char comm[16];
};

/* One network event. Addresses are 16 bytes, IPv4 as IPv4-mapped IPv6 (::ffff:a.b.c.d); ports
 * in host order. The header's tgid/tid are the owner's, its ktime when the event happened. */
struct net_event {
	struct event_header hdr;
	__u64 proc_start;
	__u64 opened;
	__u64 established;
	__u64 bytes_sent;     /* close: data bytes sent and acknowledged */
	__u64 bytes_received; /* close: data bytes received */
	__u8 local[16];
	__u8 remote[16];
	__u16 local_port;
	__u16 remote_port;
	__u16 family; /* the socket's address family: AF_INET or AF_INET6 */
	__u8 op;      /* enum net_op */
	__u8 protocol;
	__s32 error; /* connect: 0, or the errno it failed with */
	__u32 flags; /* enum net_flags */
	__u32 netns;
	__u32 pad;
	char comm[16];
};
