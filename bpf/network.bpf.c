//go:build ignore

// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* The network sensor: TCP connect (with its result), accept, close (byte counts, duration) and
 * listen; UDP: the first send from a socket to each destination. IPv4 and IPv6.
 *
 * The backbone is the sock:inet_sock_set_state tracepoint (tp_btf, or raw_tp with the same
 * CO-RE handler). Half of its transitions run in softirq, where "current" is whatever task the
 * interrupt landed on: the handshake completing, the peer's FIN or RST ending a connection. So
 * the owner of a socket (its process: tgid, tid, comm, creation time) is recorded in
 * osec_net_sk, keyed by the struct sock pointer, where the process context is current:
 *   - connect: the CLOSE -> SYN_SENT transition, which runs inside connect() (or sendmsg() for
 *     TCP fast open);
 *   - listen: CLOSE -> LISTEN, inside listen();
 *   - accept: an accept hook in process context: fexit/inet_csk_accept where fexit loads,
 *     otherwise the accept/accept4 syscall exit tracepoints; without either, the accept is
 *     reported when the handshake completes and attributed to the listening process;
 * and read back when the handshake completes and when the connection closes. The entry is
 * deleted at the close transition.
 *
 * Connect failures that happen before any packet is sent (EPERM from a cgroup or LSM policy,
 * ENETUNREACH, EADDRNOTAVAIL, ...) never reach SYN_SENT, or leave it without a socket error:
 * they are read at connect()'s return (fexit/inet_stream_connect, or the connect syscall
 * tracepoints), and only when no SYN was sent during that call.
 *
 * UDP: fentry/udp_sendmsg and udpv6_sendmsg where fentry loads (every send, connected or not);
 * otherwise cgroup/sendmsg4 and sendmsg6 on the cgroup2 root (sends with an explicit address)
 * plus, for connected sockets, tp_btf/sock_send_length (not in 6.1; in 6.12 and later) or else cgroup/connect4
 * and connect6 (the destination is then reported at connect()). osec_net_udp (LRU) remembers
 * which (socket cookie, destination) pairs were reported.
 *
 * Every event passes the in-kernel filters (event mask, loopback, ports, CIDR LPM tries)
 * before it is written to the ring buffer; what they drop is counted by reason. */

#include "common.h"
#include "bpf_endian.h"
#include "network_events.h"

#define AF_INET 2
#define AF_INET6 10
#define IPPROTO_TCP 6
#define IPPROTO_UDP 17
#define SOCK_STREAM 1
#define SOCK_DGRAM 2
#define S_IFMT 00170000
#define S_IFSOCK 0140000
#define EISCONN 106
#define ECONNABORTED 103
#define EALREADY 114
#define EINPROGRESS 115

/* Load-time settings, written by the loader from the receiver's network:: configuration. */
const volatile __u32 net_events = (1 << NET_OP_MAX) - 2; /* 1 << op for each op reported */
const volatile __u32 net_loopback = 1;      /* report loopback peers */
const volatile __u32 net_cidr_include = 0;  /* include CIDRs are set: the peer must match one */
const volatile __u32 net_cidr_exclude = 0;  /* exclude CIDRs are set */
const volatile __u32 net_port_include = 0;  /* include ports are set */
const volatile __u32 net_port_exclude = 0;  /* exclude ports are set */
const volatile __u32 net_accept_hooked = 0; /* an accept hook reports accepts */
/* How connect()'s return is watched: 0 not at all, CONNECT_SYSCALL, CONNECT_FEXIT. */
const volatile __u32 net_connect_hook = 0;
#define CONNECT_SYSCALL 1
#define CONNECT_FEXIT 2

/* Referenced so that their BTF reaches bpf2go. */
const struct net_event *unused_net_event __attribute__((unused));
const enum net_op *unused_net_op __attribute__((unused));
const enum net_flags *unused_net_flags __attribute__((unused));
const enum net_stat *unused_net_stat __attribute__((unused));

/* Socket owners, by struct sock pointer. Sized at load (network::max_sockets). */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, __u64);
	__type(value, struct sk_owner);
} osec_net_sk SEC(".maps");

/* Listening sockets by (network namespace, port): the owner of a connection accepted where no
 * accept hook is available. */
struct lis_key {
	__u64 net;
	__u16 port;
	__u16 pad[3];
};

struct lis_val {
	__u64 sk;
	struct sk_owner owner;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 8192);
	__type(key, struct lis_key);
	__type(value, struct lis_val);
} osec_net_lis SEC(".maps");

/* connect() calls in progress, by thread: the socket, the address asked for, and whether a SYN
 * was sent during the call (then the state transitions report the result). */
struct conn_pend {
	__u64 sk;
	__u8 addr[16];
	__u16 port;
	__u16 family;
	__u32 syn;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 8192);
	__type(key, __u32);
	__type(value, struct conn_pend);
} osec_net_pend SEC(".maps");

/* UDP (socket cookie, destination) pairs already reported. Sized at load. */
struct udp_key {
	__u64 cookie;
	__u8 addr[16];
	__u16 port;
	__u16 pad[3];
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct udp_key);
	__type(value, __u8);
} osec_net_udp SEC(".maps");

/* CIDR filters: longest-prefix-match tries, one per family and list. IPv4-mapped IPv6
 * addresses are looked up in the IPv4 tries. Sized at load from the configured lists. */
struct lpm4_key {
	__u32 prefixlen;
	__u8 addr[4];
};

struct lpm6_key {
	__u32 prefixlen;
	__u8 addr[16];
};

#define LPM_MAP(name, keytype)                                                                   \
	struct {                                                                                 \
		__uint(type, BPF_MAP_TYPE_LPM_TRIE);                                             \
		__uint(max_entries, 1);                                                          \
		__uint(map_flags, BPF_F_NO_PREALLOC);                                            \
		__type(key, struct keytype);                                                     \
		__type(value, __u8);                                                             \
	} name SEC(".maps")

LPM_MAP(osec_net_in4, lpm4_key);
LPM_MAP(osec_net_in6, lpm6_key);
LPM_MAP(osec_net_ex4, lpm4_key);
LPM_MAP(osec_net_ex6, lpm6_key);

/* Port filters: bitmaps of the 65536 ports, [0] include, [1] exclude. */
struct port_bits {
	__u8 b[8192];
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, struct port_bits);
} osec_net_ports SEC(".maps");

/* Events not sent, by reason (enum net_stat). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct net_stats);
} osec_net_stats SEC(".maps");

/* Addresses */

static __always_inline void map4(__u8 *dst, __u32 v4)
{
	__builtin_memset(dst, 0, 10);
	dst[10] = 0xff;
	dst[11] = 0xff;
	__builtin_memcpy(dst + 12, &v4, 4);
}

static __always_inline bool is_v4(const __u8 *a)
{
	__u64 lo;
	__u16 mid;

	__builtin_memcpy(&lo, a, 8);
	__builtin_memcpy(&mid, a + 8, 2);
	return lo == 0 && mid == 0 && a[10] == 0xff && a[11] == 0xff;
}

static __always_inline bool is_loopback(const __u8 *a)
{
	__u64 lo, hi;

	if (is_v4(a))
		return a[12] == 127;
	__builtin_memcpy(&lo, a, 8);
	__builtin_memcpy(&hi, a + 8, 8);
	return lo == 0 && hi == bpf_cpu_to_be64(1);
}

static __always_inline __u32 sk_netns(const struct sock *sk)
{
	return BPF_CORE_READ(sk, __sk_common.skc_net.net, ns.inum);
}

/* is_inet_tcp tells a TCP socket of AF_INET or AF_INET6. */
static __always_inline bool is_inet_tcp(const struct sock *sk)
{
	__u16 family = BPF_CORE_READ(sk, __sk_common.skc_family);

	return (family == AF_INET || family == AF_INET6) &&
	       BPF_CORE_READ(sk, sk_protocol) == IPPROTO_TCP;
}

/* sk_tuple reads the socket's addresses and ports into e. */
static __always_inline void sk_tuple(const struct sock *sk, struct net_event *e)
{
	__u16 family = BPF_CORE_READ(sk, __sk_common.skc_family);

	e->family = family;
	if (family == AF_INET) {
		map4(e->local, BPF_CORE_READ(sk, __sk_common.skc_rcv_saddr));
		map4(e->remote, BPF_CORE_READ(sk, __sk_common.skc_daddr));
	} else {
		bpf_core_read(e->local, sizeof(e->local), &sk->__sk_common.skc_v6_rcv_saddr);
		bpf_core_read(e->remote, sizeof(e->remote), &sk->__sk_common.skc_v6_daddr);
	}
	/* skc_num is cleared when a closing socket releases its port (inet_put_port), before the
	 * state changes to TCP_CLOSE; inet_sport keeps it. */
	e->local_port = BPF_CORE_READ(sk, __sk_common.skc_num);
	if (!e->local_port)
		e->local_port = bpf_ntohs(BPF_CORE_READ((const struct inet_sock *)sk, inet_sport));
	e->remote_port = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
	e->netns = sk_netns(sk);
}

/* read_sockaddr reads an AF_INET or AF_INET6 socket address (from user or kernel memory) into
 * p; it fails for any other family or a short address. */
static __always_inline int read_sockaddr(struct conn_pend *p, const void *addr, __u64 len, bool user)
{
	struct sockaddr_in6 sa = {};
	long err;

	/* Fixed-size reads: a sockaddr_in, then up to the end of sin6_addr for AF_INET6. */
	if (!addr || len < sizeof(struct sockaddr_in))
		return -1;
	if (user)
		err = bpf_probe_read_user(&sa, sizeof(struct sockaddr_in), addr);
	else
		err = bpf_probe_read_kernel(&sa, sizeof(struct sockaddr_in), addr);
	if (err)
		return -1;
	p->family = sa.sin6_family;
	p->port = bpf_ntohs(sa.sin6_port);
	if (sa.sin6_family == AF_INET) {
		map4(p->addr, ((struct sockaddr_in *)&sa)->sin_addr.s_addr);
		return 0;
	}
	if (sa.sin6_family != AF_INET6 || len < 24)
		return -1;
	if (user)
		err = bpf_probe_read_user(p->addr, 16, &((struct sockaddr_in6 *)addr)->sin6_addr);
	else
		err = bpf_probe_read_kernel(p->addr, 16, &((struct sockaddr_in6 *)addr)->sin6_addr);
	return err ? -1 : 0;
}

/* The process */

static __always_inline void owner_current(struct sk_owner *o, __u32 flags)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	__u64 id = bpf_get_current_pid_tgid();

	o->tgid = id >> 32;
	o->tid = (__u32)id;
	o->proc_start = BPF_CORE_READ(task, group_leader, start_boottime);
	o->opened = bpf_ktime_get_boot_ns();
	o->established = 0;
	o->flags = flags;
	o->netns = BPF_CORE_READ(task, nsproxy, net_ns, ns.inum);
	bpf_get_current_comm(o->comm, sizeof(o->comm));
}

/* fd_sock returns the socket behind one of the current process's file descriptors, or NULL. */
static __always_inline struct sock *fd_sock(__u64 fd)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct fdtable *fdt = BPF_CORE_READ(task, files, fdt);
	struct file **fds;
	struct file *f = NULL;
	struct socket *sock;

	if (fd >= BPF_CORE_READ(fdt, max_fds))
		return NULL;
	fds = BPF_CORE_READ(fdt, fd);
	if (bpf_probe_read_kernel(&f, sizeof(f), &fds[fd]) || !f)
		return NULL;
	if ((BPF_CORE_READ(f, f_inode, i_mode) & S_IFMT) != S_IFSOCK)
		return NULL;
	sock = BPF_CORE_READ(f, private_data);
	return BPF_CORE_READ(sock, sk);
}

/* The event */

static __always_inline void net_header(struct net_event *e, const struct sk_owner *o, __u8 op,
				       __u8 protocol)
{
	e->hdr.kind = EVENT_NETWORK;
	e->hdr.cpu = bpf_get_smp_processor_id();
	e->hdr.ktime = bpf_ktime_get_boot_ns();
	e->hdr.tgid = o->tgid;
	e->hdr.tid = o->tid;
	e->proc_start = o->proc_start;
	e->opened = o->opened;
	e->established = o->established;
	e->flags = o->flags;
	if (o->established)
		e->flags |= NET_ESTABLISHED;
	e->netns = o->netns;
	__builtin_memcpy(e->comm, o->comm, sizeof(e->comm));
	e->op = op;
	e->protocol = protocol;
}

static __always_inline bool port_in(__u32 list, __u16 port)
{
	struct port_bits *b = bpf_map_lookup_elem(&osec_net_ports, &list);

	return b && (b->b[(port >> 3) & 8191] & (1 << (port & 7)));
}

static __always_inline bool cidr_in(void *trie4, void *trie6, const __u8 *a)
{
	if (is_v4(a)) {
		struct lpm4_key k = {.prefixlen = 32};

		__builtin_memcpy(k.addr, a + 12, 4);
		return bpf_map_lookup_elem(trie4, &k) != NULL;
	}
	struct lpm6_key k = {.prefixlen = 128};

	__builtin_memcpy(k.addr, a, 16);
	return bpf_map_lookup_elem(trie6, &k) != NULL;
}

/* net_filter returns 0 when e passes the filters, otherwise 1 + the enum net_stat reason. The
 * port is the service's: the remote one for what the owner opened (connect, send, the close of
 * a connection it opened), the local one for accept, listen and the close of an accepted
 * connection. The CIDR lists apply to the peer; listen has none. */
static __always_inline int net_filter(const struct net_event *e)
{
	bool peer = e->op != NET_LISTEN;
	const __u8 *addr = peer ? e->remote : e->local;
	__u16 port;

	if (!(net_events & (1u << (e->op & 31))))
		return 1 + NET_FILTER_EVENT;
	if (!net_loopback && is_loopback(addr))
		return 1 + NET_FILTER_LOOPBACK;
	if (net_port_include || net_port_exclude) {
		port = (e->flags & NET_OUTBOUND) ? e->remote_port : e->local_port;
		if (net_port_include && !port_in(0, port))
			return 1 + NET_FILTER_PORT;
		if (net_port_exclude && port_in(1, port))
			return 1 + NET_FILTER_PORT;
	}
	if (peer && net_cidr_include && !cidr_in(&osec_net_in4, &osec_net_in6, addr))
		return 1 + NET_FILTER_CIDR;
	if (peer && net_cidr_exclude && cidr_in(&osec_net_ex4, &osec_net_ex6, addr))
		return 1 + NET_FILTER_CIDR;
	return 0;
}

/* net_count counts an event that is not sent, by reason. */
static __always_inline void net_count(__u32 reason)
{
	__u32 zero = 0;
	struct net_stats *st = bpf_map_lookup_elem(&osec_net_stats, &zero);

	if (st && reason < NET_STAT_MAX)
		st->n[reason]++;
	count_filtered(EVENT_NETWORK);
}

static __always_inline void net_send(struct net_event *e)
{
	int r = net_filter(e);

	if (r) {
		net_count(r - 1);
		return;
	}
	emit(e, sizeof(*e), EVENT_NETWORK);
}

/* TCP */

#define TCPF(s) (1 << (s))

/* close_bytes fills the data byte counts of a connection that is closing from state old.
 * tcp_sock counts sequence space: bytes_acked includes the SYN of an active open (acked by the
 * SYN-ACK) and our FIN once acked; bytes_received includes the peer's FIN once received
 * (tcp_fin marks the socket SOCK_DONE after advancing rcv_nxt over it). */
static __always_inline void close_bytes(const struct sock *sk, int old, __u32 owner_flags,
					struct net_event *e)
{
	const struct tcp_sock *tp = (const struct tcp_sock *)sk;
	__u64 acked = BPF_CORE_READ(tp, bytes_acked);
	__u64 received = BPF_CORE_READ(tp, bytes_received);
	unsigned long sk_flags = BPF_CORE_READ(sk, __sk_common.skc_flags);

	if ((owner_flags & NET_OUTBOUND) && acked)
		acked--;
	if ((TCPF(old) & (TCPF(TCP_FIN_WAIT1) | TCPF(TCP_FIN_WAIT2) | TCPF(TCP_CLOSING) |
			  TCPF(TCP_LAST_ACK))) &&
	    BPF_CORE_READ(tp, snd_una) == BPF_CORE_READ(tp, write_seq) && acked)
		acked--;
	if ((sk_flags & (1UL << bpf_core_enum_value(enum sock_flags, SOCK_DONE))) && received)
		received--;
	e->bytes_sent = acked;
	e->bytes_received = received;
}

/* conn_event reports a connect attempt's end (err 0: established) for the owner o. */
static __always_inline void conn_event(const struct sock *sk, const struct sk_owner *o, int err,
				       __u64 now)
{
	struct net_event e = {};

	net_header(&e, o, NET_CONNECT, IPPROTO_TCP);
	if (now)
		e.hdr.ktime = now;
	sk_tuple(sk, &e);
	e.error = err;
	net_send(&e);
}

static __always_inline void on_syn_sent(const struct sock *sk, __u64 key)
{
	struct sk_owner o;

	owner_current(&o, NET_OUTBOUND);
	o.netns = sk_netns(sk);
	bpf_map_update_elem(&osec_net_sk, &key, &o, BPF_ANY);
	if (net_connect_hook) {
		struct conn_pend *p = bpf_map_lookup_elem(&osec_net_pend, &o.tid);

		if (p && p->sk == key) {
			p->syn = 1;
		} else if (net_connect_hook == CONNECT_FEXIT) {
			struct conn_pend np = {.sk = key, .syn = 1};

			bpf_map_update_elem(&osec_net_pend, &o.tid, &np, BPF_ANY);
		}
	}
}

static __always_inline void on_connect_failed(const struct sock *sk, __u64 key)
{
	struct sk_owner *o = bpf_map_lookup_elem(&osec_net_sk, &key);
	int err;

	if (!o) {
		net_count(NET_UNOWNED);
		return;
	}
	err = BPF_CORE_READ(sk, sk_err);
	if (!err && net_connect_hook) {
		/* No socket error: the failure is connect()'s own (e.g. EADDRNOTAVAIL after
		 * SYN_SENT), reported with its return value, if it is this thread's connect. */
		__u32 tid = (__u32)bpf_get_current_pid_tgid();
		struct conn_pend *p = bpf_map_lookup_elem(&osec_net_pend, &tid);

		if (p && p->sk == key) {
			p->syn = 0;
			bpf_map_delete_elem(&osec_net_sk, &key);
			return;
		}
	}
	if (!err)
		err = ECONNABORTED; /* closed by its owner before the handshake completed */
	conn_event(sk, o, err, 0);
	bpf_map_delete_elem(&osec_net_sk, &key);
}

static __always_inline void on_established(const struct sock *sk, __u64 key, int old)
{
	struct sk_owner *o = bpf_map_lookup_elem(&osec_net_sk, &key);
	__u64 now = bpf_ktime_get_boot_ns();

	if (old == TCP_SYN_SENT) {
		if (!o) {
			net_count(NET_UNOWNED);
			return;
		}
		o->established = now;
		conn_event(sk, o, 0, now);
		return;
	}
	if (old != TCP_SYN_RECV)
		return;
	/* Passive open. A fast-open child may have been accepted already. */
	if (o) {
		o->established = now;
		return;
	}
	struct sk_owner n = {};

	if (!net_accept_hooked) {
		struct lis_key lk = {
			.net = (__u64)BPF_CORE_READ(sk, __sk_common.skc_net.net),
			.port = BPF_CORE_READ(sk, __sk_common.skc_num),
		};
		struct lis_val *lv = bpf_map_lookup_elem(&osec_net_lis, &lk);

		if (!lv) {
			net_count(NET_UNOWNED);
			return;
		}
		n = lv->owner;
		n.flags = NET_ACCEPTED | NET_OWNER_LISTENER;
	}
	n.opened = now;
	n.established = now;
	n.netns = sk_netns(sk);
	bpf_map_update_elem(&osec_net_sk, &key, &n, BPF_ANY);
	if (!net_accept_hooked) {
		struct net_event e = {};

		net_header(&e, &n, NET_ACCEPT, IPPROTO_TCP);
		e.hdr.ktime = now;
		sk_tuple(sk, &e);
		net_send(&e);
	}
}

static __always_inline void on_listen(const struct sock *sk, __u64 key)
{
	struct lis_val lv = {.sk = key};
	struct lis_key lk = {
		.net = (__u64)BPF_CORE_READ(sk, __sk_common.skc_net.net),
		.port = BPF_CORE_READ(sk, __sk_common.skc_num),
	};
	struct net_event e = {};

	owner_current(&lv.owner, 0);
	lv.owner.netns = sk_netns(sk);
	bpf_map_update_elem(&osec_net_sk, &key, &lv.owner, BPF_ANY);
	bpf_map_update_elem(&osec_net_lis, &lk, &lv, BPF_ANY);
	net_header(&e, &lv.owner, NET_LISTEN, IPPROTO_TCP);
	sk_tuple(sk, &e);
	net_send(&e);
}

static __always_inline void on_listen_closed(const struct sock *sk, __u64 key)
{
	struct lis_key lk = {
		.net = (__u64)BPF_CORE_READ(sk, __sk_common.skc_net.net),
		.port = BPF_CORE_READ(sk, __sk_common.skc_num),
	};
	struct lis_val *lv = bpf_map_lookup_elem(&osec_net_lis, &lk);

	if (lv && lv->sk == key)
		bpf_map_delete_elem(&osec_net_lis, &lk);
	bpf_map_delete_elem(&osec_net_sk, &key);
}

static __always_inline void on_closed(const struct sock *sk, __u64 key, int old)
{
	struct sk_owner *o = bpf_map_lookup_elem(&osec_net_sk, &key);
	struct net_event e = {};

	if (!o) {
		/* A child that never completed its handshake was never a connection. */
		if (old != TCP_SYN_RECV)
			net_count(NET_UNOWNED);
		return;
	}
	if (!(o->flags & (NET_OUTBOUND | NET_ACCEPTED))) {
		net_count(NET_UNACCEPTED);
		bpf_map_delete_elem(&osec_net_sk, &key);
		return;
	}
	net_header(&e, o, NET_CLOSE, IPPROTO_TCP);
	sk_tuple(sk, &e);
	close_bytes(sk, old, o->flags, &e);
	bpf_map_delete_elem(&osec_net_sk, &key);
	net_send(&e);
}

static __always_inline int on_state(const struct sock *sk, int old, int new)
{
	__u64 key = (__u64)sk;

	if (!is_inet_tcp(sk))
		return 0;
	switch (new) {
	case TCP_SYN_SENT:
		on_syn_sent(sk, key);
		break;
	case TCP_ESTABLISHED:
		on_established(sk, key, old);
		break;
	case TCP_LISTEN:
		on_listen(sk, key);
		break;
	case TCP_CLOSE:
		if (old == TCP_LISTEN)
			on_listen_closed(sk, key);
		else if (old == TCP_SYN_SENT)
			on_connect_failed(sk, key);
		else
			on_closed(sk, key, old);
		break;
	}
	return 0;
}

SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(osec_ns_btf, const struct sock *sk, int oldstate, int newstate)
{
	return on_state(sk, oldstate, newstate);
}

SEC("raw_tp/inet_sock_set_state")
int BPF_PROG(osec_ns_raw, const struct sock *sk, int oldstate, int newstate)
{
	return on_state(sk, oldstate, newstate);
}

/* accept: sk is the accepted connection, in the accepting process's context. */
static __always_inline int on_accept(struct sock *sk)
{
	__u64 key = (__u64)sk;
	struct sk_owner o, *prev;
	struct net_event e = {};

	if (!sk || !is_inet_tcp(sk))
		return 0;
	owner_current(&o, NET_ACCEPTED);
	o.netns = sk_netns(sk);
	prev = bpf_map_lookup_elem(&osec_net_sk, &key);
	if (prev)
		o.established = prev->established;
	/* One that already ended was counted as unaccepted; only the accept is reported. */
	if (BPF_CORE_READ(sk, __sk_common.skc_state) != TCP_CLOSE)
		bpf_map_update_elem(&osec_net_sk, &key, &o, BPF_ANY);
	net_header(&e, &o, NET_ACCEPT, IPPROTO_TCP);
	sk_tuple(sk, &e);
	net_send(&e);
	return 0;
}

SEC("fexit/inet_csk_accept")
int BPF_PROG(osec_ac_fexit, struct sock *listener)
{
	__u64 ret = 0;

	if (bpf_get_func_ret(ctx, &ret))
		return 0;
	return on_accept((struct sock *)ret);
}

SEC("tracepoint/syscalls/sys_exit_accept4")
int osec_ac4_exit(struct trace_event_raw_sys_exit *ctx)
{
	if (ctx->ret < 0)
		return 0;
	return on_accept(fd_sock(ctx->ret));
}

SEC("tracepoint/syscalls/sys_exit_accept")
int osec_ac_exit(struct trace_event_raw_sys_exit *ctx)
{
	if (ctx->ret < 0)
		return 0;
	return on_accept(fd_sock(ctx->ret));
}

/* connect()'s return: a failure no state transition reported. */
static __always_inline void connect_returned(long ret, const struct conn_pend *p)
{
	const struct sock *sk = (const struct sock *)p->sk;
	struct sk_owner o;
	struct net_event e = {};

	if (p->syn || ret >= 0 || ret == -EINPROGRESS || ret == -EALREADY || ret == -EISCONN)
		return;
	owner_current(&o, NET_OUTBOUND | NET_PRE_SYN);
	net_header(&e, &o, NET_CONNECT, IPPROTO_TCP);
	sk_tuple(sk, &e);
	__builtin_memcpy(e.remote, p->addr, 16);
	e.remote_port = p->port;
	e.error = -ret;
	net_send(&e);
}

SEC("tracepoint/syscalls/sys_enter_connect")
int osec_cn_enter(struct trace_event_raw_sys_enter *ctx)
{
	struct sock *sk = fd_sock(ctx->args[0]);
	struct conn_pend p = {};
	__u32 tid;

	if (!sk || !is_inet_tcp(sk))
		return 0;
	p.sk = (__u64)sk;
	if (read_sockaddr(&p, (const void *)ctx->args[1], ctx->args[2], true))
		return 0;
	tid = (__u32)bpf_get_current_pid_tgid();
	bpf_map_update_elem(&osec_net_pend, &tid, &p, BPF_ANY);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_connect")
int osec_cn_exit(struct trace_event_raw_sys_exit *ctx)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct conn_pend *pp = bpf_map_lookup_elem(&osec_net_pend, &tid);
	struct conn_pend p;

	if (!pp)
		return 0;
	p = *pp;
	bpf_map_delete_elem(&osec_net_pend, &tid);
	connect_returned(ctx->ret, &p);
	return 0;
}

SEC("fexit/inet_stream_connect")
int BPF_PROG(osec_cn_fexit, struct socket *sock, struct sockaddr *uaddr, int addr_len)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct sock *sk = BPF_CORE_READ(sock, sk);
	struct conn_pend *pp = bpf_map_lookup_elem(&osec_net_pend, &tid);
	struct conn_pend p = {};
	__u64 ret = 0;

	if (pp) {
		if (pp->sk == (__u64)sk)
			p.syn = pp->syn;
		bpf_map_delete_elem(&osec_net_pend, &tid);
	}
	if (p.syn || !sk || !is_inet_tcp(sk) || bpf_get_func_ret(ctx, &ret))
		return 0;
	p.sk = (__u64)sk;
	if (read_sockaddr(&p, uaddr, addr_len, false))
		return 0;
	connect_returned((long)(int)ret, &p);
	return 0;
}

/* UDP */

/* udp_report reports a send from the current process on the socket cookie to dst:dport once
 * per (socket, destination). */
static __always_inline void udp_report(__u64 cookie, const __u8 *dst, __u16 dport, const __u8 *src,
				       __u16 sport, __u16 family, __u32 flags)
{
	struct udp_key k = {.cookie = cookie, .port = dport};
	struct sk_owner o;
	struct net_event e = {};
	__u8 one = 1;

	__builtin_memcpy(k.addr, dst, 16);
	if (bpf_map_lookup_elem(&osec_net_udp, &k))
		return;
	bpf_map_update_elem(&osec_net_udp, &k, &one, BPF_ANY);
	owner_current(&o, NET_OUTBOUND | flags);
	net_header(&e, &o, NET_SEND, IPPROTO_UDP);
	e.family = family;
	__builtin_memcpy(e.local, src, 16);
	e.local_port = sport;
	__builtin_memcpy(e.remote, dst, 16);
	e.remote_port = dport;
	net_send(&e);
}

/* A UDP send from sk: to the address in msg, or to the connected peer. */
static __always_inline int udp_msg(struct sock *sk, struct msghdr *msg)
{
	struct conn_pend dst = {};
	struct net_event t = {};
	void *name = BPF_CORE_READ(msg, msg_name);

	if (BPF_CORE_READ(sk, sk_protocol) != IPPROTO_UDP)
		return 0;
	sk_tuple(sk, &t);
	if (name) {
		if (read_sockaddr(&dst, name, BPF_CORE_READ(msg, msg_namelen), false))
			return 0;
	} else if (BPF_CORE_READ(sk, __sk_common.skc_state) == TCP_ESTABLISHED) {
		__builtin_memcpy(dst.addr, t.remote, 16);
		dst.port = t.remote_port;
	} else {
		return 0;
	}
	udp_report(bpf_get_socket_cookie(sk), dst.addr, dst.port, t.local, t.local_port, t.family, 0);
	return 0;
}

SEC("fentry/udp_sendmsg")
int BPF_PROG(osec_u4_fent, struct sock *sk, struct msghdr *msg)
{
	return udp_msg(sk, msg);
}

SEC("fentry/udpv6_sendmsg")
int BPF_PROG(osec_u6_fent, struct sock *sk, struct msghdr *msg)
{
	return udp_msg(sk, msg);
}

/* Connected UDP sockets, after each send (sock_send_length: not in 6.1; in 6.12 and later). */
SEC("tp_btf/sock_send_length")
int BPF_PROG(osec_usl_btf, struct sock *sk, int ret, int flags)
{
	struct net_event t = {};

	if (ret < 0 || sk->sk_protocol != IPPROTO_UDP ||
	    sk->__sk_common.skc_state != TCP_ESTABLISHED)
		return 0;
	if (sk->__sk_common.skc_family != AF_INET && sk->__sk_common.skc_family != AF_INET6)
		return 0;
	sk_tuple(sk, &t);
	udp_report(bpf_get_socket_cookie(sk), t.remote, t.remote_port, t.local, t.local_port,
		   t.family, 0);
	return 0;
}

/* The UAPI context of cgroup sock_addr programs, without vmlinux.h's CO-RE relocations: the
 * verifier rewrites context accesses by their fixed UAPI offsets, and a relocated offset would
 * be pointer arithmetic on the socket, which it refuses. */
struct sock_uapi {
	__u32 bound_dev_if, family, type, protocol, mark, priority;
	__u32 src_ip4;
	__u32 src_ip6[4];
	__u32 src_port;
};

struct sock_addr_uapi {
	__u32 user_family;
	__u32 user_ip4;
	__u32 user_ip6[4];
	__u32 user_port;
	__u32 family;
	__u32 type;
	__u32 protocol;
	__u32 msg_src_ip4;
	__u32 msg_src_ip6[4];
	struct sock_uapi *sk;
};

/* sock_addr_report reports a UDP send seen by a sock_addr program: v6 (a constant) for the
 * AF_INET6 attach types, whose context has the IPv6 fields and not the IPv4 ones. */
static __always_inline void sock_addr_report(struct sock_addr_uapi *ctx, bool v6, __u32 flags)
{
	struct sock_uapi *sk = ctx->sk;
	__u8 dst[16], src[16];
	__u32 a[4];

	if (!sk || ctx->protocol != IPPROTO_UDP)
		return;
	if (!v6) {
		__u32 d4 = ctx->user_ip4, s4 = sk->src_ip4;

		/* Loaded here, as 32-bit context reads, not copied byte by byte later. */
		barrier_var(d4);
		barrier_var(s4);
		map4(dst, d4);
		map4(src, s4);
	} else {
		a[0] = ctx->user_ip6[0];
		a[1] = ctx->user_ip6[1];
		a[2] = ctx->user_ip6[2];
		a[3] = ctx->user_ip6[3];
		__builtin_memcpy(dst, a, 16);
		a[0] = sk->src_ip6[0];
		a[1] = sk->src_ip6[1];
		a[2] = sk->src_ip6[2];
		a[3] = sk->src_ip6[3];
		__builtin_memcpy(src, a, 16);
	}
	udp_report(bpf_get_socket_cookie(ctx), dst, bpf_ntohs((__u16)ctx->user_port), src,
		   sk->src_port, v6 ? AF_INET6 : AF_INET, flags);
}

/* Unconnected UDP sends (an explicit destination). */
SEC("cgroup/sendmsg4")
int osec_u4_cg(struct sock_addr_uapi *ctx)
{
	sock_addr_report(ctx, false, 0);
	return 1;
}

SEC("cgroup/sendmsg6")
int osec_u6_cg(struct sock_addr_uapi *ctx)
{
	sock_addr_report(ctx, true, 0);
	return 1;
}

/* Connected UDP sockets where no send hook sees them: the destination at connect(). */
SEC("cgroup/connect4")
int osec_uc4_cg(struct sock_addr_uapi *ctx)
{
	if (ctx->type == SOCK_DGRAM)
		sock_addr_report(ctx, false, NET_AT_CONNECT);
	return 1;
}

SEC("cgroup/connect6")
int osec_uc6_cg(struct sock_addr_uapi *ctx)
{
	if (ctx->type == SOCK_DGRAM)
		sock_addr_report(ctx, true, NET_AT_CONNECT);
	return 1;
}
