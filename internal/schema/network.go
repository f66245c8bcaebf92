package schema

// Network event names.
const (
	EventNetworkConnect = "network.connect"
	EventNetworkAccept  = "network.accept"
	EventNetworkClose   = "network.close"
	EventNetworkListen  = "network.listen"
	EventNetworkSend    = "network.send"
)

// NetworkEvents are the network sensor's event names.
var NetworkEvents = []string{EventNetworkConnect, EventNetworkAccept, EventNetworkClose, EventNetworkListen, EventNetworkSend}

// Network attributes. TCP events name the two ends by their role in the connection
// (client.*, server.*: the semantic conventions' choice where the relationship is known); a UDP
// send has no such relationship, so it names the sender and the destination (source.*,
// destination.*).
const (
	NetworkTransport    = "network.transport"
	NetworkType         = "network.type"
	NetworkProtocolName = "network.protocol.name"
	ClientAddress       = "client.address"
	ClientPort          = "client.port"
	ServerAddress       = "server.address"
	ServerPort          = "server.port"
	SourceAddress       = "source.address"
	SourcePort          = "source.port"
	DestinationAddress  = "destination.address"
	DestinationPort     = "destination.port"
	ErrorType           = "error.type"

	NetworkDirection        = "otelsec.network.direction"
	NetworkBytesSent        = "otelsec.network.bytes_sent"
	NetworkBytesReceived    = "otelsec.network.bytes_received"
	NetworkDuration         = "otelsec.network.connection.duration_ns"
	NetworkNamespace        = "otelsec.network.namespace"
	NetworkOwnerIsListener  = "otelsec.network.owner.listener"
	NetworkSendAtConnect    = "otelsec.network.send.at_connect"
	NetworkConnectBeforeSYN = "otelsec.network.connect.before_syn"
)

var (
	tcpEvents      = []string{EventNetworkConnect, EventNetworkAccept, EventNetworkClose, EventNetworkListen}
	tcpConnEvents  = []string{EventNetworkConnect, EventNetworkAccept, EventNetworkClose}
	directedEvents = []string{EventNetworkConnect, EventNetworkAccept, EventNetworkClose, EventNetworkSend}
	sendEvents     = []string{EventNetworkSend}
)

func init() {
	All = append(All,
		Attribute{Name: NetworkTransport, Type: String, Events: NetworkEvents, Presence: "always", Source: "kernel: the socket's protocol", Example: "tcp", Description: "tcp or udp.", ECS: "network.transport", CIM: "transport"},
		Attribute{Name: NetworkType, Type: String, Events: NetworkEvents, Presence: "always", Source: "kernel: the peer's address family (an IPv4-mapped IPv6 address is IPv4 on the wire)", Example: "ipv4", Description: "ipv4 or ipv6.", ECS: "network.type"},
		Attribute{Name: NetworkProtocolName, Type: String, Events: NetworkEvents, Presence: "when the service port is a well-known one otelsec names", Source: "the service port (server.port, destination.port): 53 is dns", Example: "dns", Description: "Inferred from the port; otelsec does not parse payloads.", ECS: "network.protocol", CIM: "app"},
		Attribute{Name: ClientAddress, Type: String, Events: tcpConnEvents, Presence: "always", Source: "kernel: connect: the socket's local address; accept: the peer's; close: either, by direction", Example: "10.0.0.7", Description: "The end that opened the connection.", ECS: "client.ip", CIM: "src_ip"},
		Attribute{Name: ClientPort, Type: Int, Events: tcpConnEvents, Presence: "when known (a connect that failed before a port was bound has none)", Source: "kernel: as client.address", Example: "51234", Description: "", ECS: "client.port", CIM: "src_port"},
		Attribute{Name: ServerAddress, Type: String, Events: tcpEvents, Presence: "always", Source: "kernel: connect: the peer's address; accept, listen: the socket's local address; close: either, by direction", Example: "93.184.216.34", Description: "The end that accepted (or listens). On listen, :: or 0.0.0.0 for every address.", ECS: "server.ip", CIM: "dest_ip"},
		Attribute{Name: ServerPort, Type: Int, Events: tcpEvents, Presence: "always", Source: "kernel: as server.address", Example: "443", Description: "", ECS: "server.port", CIM: "dest_port"},
		Attribute{Name: SourceAddress, Type: String, Events: sendEvents, Presence: "when the socket is bound to an address", Source: "kernel: the socket's local address", Example: "10.0.0.7", Description: "The sender's address; an unbound socket's is chosen per packet by routing and not reported.", ECS: "source.ip"},
		Attribute{Name: SourcePort, Type: Int, Events: sendEvents, Presence: "when known", Source: "kernel: the socket's local port", Example: "40312", Description: "", ECS: "source.port"},
		Attribute{Name: DestinationAddress, Type: String, Events: sendEvents, Presence: "always", Source: "kernel: the address given to sendto/sendmsg, or the connected peer", Example: "10.96.0.10", Description: "", ECS: "destination.ip"},
		Attribute{Name: DestinationPort, Type: Int, Events: sendEvents, Presence: "always", Source: "kernel: as destination.address", Example: "53", Description: "", ECS: "destination.port"},
		Attribute{Name: NetworkDirection, Type: String, Events: directedEvents, Presence: "always", Source: "which hook saw the socket open", Example: "outbound", Description: "outbound: the process opened the connection (connect) or sends (UDP); inbound: it accepted the connection.", CIM: "direction"},
		Attribute{Name: NetworkBytesSent, Type: Int, Events: []string{EventNetworkClose}, Presence: "always", Source: "kernel: tcp_sock bytes_acked at the close transition, less the SYN and FIN sequence numbers", Example: "1048576", Description: "Data bytes the process's socket sent that the peer acknowledged.", CIM: "bytes_out"},
		Attribute{Name: NetworkBytesReceived, Type: Int, Events: []string{EventNetworkClose}, Presence: "always", Source: "kernel: tcp_sock bytes_received at the close transition, less the peer's FIN", Example: "5120", Description: "Data bytes the socket received.", CIM: "bytes_in"},
		Attribute{Name: NetworkDuration, Type: Int, Events: []string{EventNetworkClose}, Presence: "when the connection was established after the sensor started", Source: "kernel: from the handshake's completion to the close transition", Example: "1500000000", Description: "Nanoseconds.", CIM: "duration"},
		Attribute{Name: NetworkNamespace, Type: Int, Events: NetworkEvents, Presence: "always", Source: "kernel: the socket's network namespace inode", Example: "4026531840", Description: "Tells the loopback of one container from another's; compare otelsec.process.namespaces.net."},
		Attribute{Name: NetworkOwnerIsListener, Type: Bool, Events: []string{EventNetworkAccept, EventNetworkClose}, Presence: "when true", Source: "hook choice: the kernel offered no accept hook (no fexit, no syscall tracepoints)", Example: "true", Description: "The process is the one that listened, not necessarily the one that accepted."},
		Attribute{Name: NetworkSendAtConnect, Type: Bool, Events: sendEvents, Presence: "when true", Source: "hook choice: no hook sees sends on connected UDP sockets on this kernel", Example: "true", Description: "A connected UDP socket's destination, reported at connect() rather than at its first send."},
		Attribute{Name: NetworkConnectBeforeSYN, Type: Bool, Events: []string{EventNetworkConnect}, Presence: "when true", Source: "kernel: connect() failed before a SYN was sent (read at its return)", Example: "true", Description: "The attempt never left the host: a local policy, no route, no local port."},
	)
	// error.type is shared with other families' events (see shared in schema.go).
	shared = append(shared, Attribute{Name: ErrorType, Type: String, Events: []string{EventNetworkConnect}, Presence: "when the connection attempt failed", Source: "kernel: the socket error (sk_err) when the attempt ended, or connect()'s return for failures before any packet was sent", Example: "ECONNREFUSED", Description: "The errno name: ECONNREFUSED (reset by the peer), ETIMEDOUT (no answer), EPERM (refused by a local policy), ENETUNREACH, EHOSTUNREACH, ECONNABORTED (the socket was closed before the handshake completed), ... Absent: the connection was established.", ECS: "error.code"})
	Events = append(Events,
		Event{Name: EventNetworkConnect, Meaning: "an outbound TCP connection attempt ended: established, or failed (error.type)",
			ECSKind: "event", ECSCategory: []string{"network"}, ECSType: []string{"connection", "start"}, ECSAction: "connect",
			CIMDataModel: "Network_Traffic", CIMTags: []string{"network", "communicate"}},
		Event{Name: EventNetworkAccept, Meaning: "an inbound TCP connection was accepted",
			ECSKind: "event", ECSCategory: []string{"network"}, ECSType: []string{"connection", "start"}, ECSAction: "accept", ECSOutcome: "success",
			CIMDataModel: "Network_Traffic", CIMTags: []string{"network", "communicate"}, CIMAction: "allowed"},
		Event{Name: EventNetworkClose, Meaning: "a TCP connection ended (byte counts, duration)",
			ECSKind: "event", ECSCategory: []string{"network"}, ECSType: []string{"connection", "end"}, ECSAction: "close", ECSOutcome: "success",
			CIMDataModel: "Network_Traffic", CIMTags: []string{"network", "communicate"}, CIMAction: "allowed"},
		Event{Name: EventNetworkListen, Meaning: "a TCP socket started listening",
			ECSKind: "event", ECSCategory: []string{"network"}, ECSType: []string{"start"}, ECSAction: "listen", ECSOutcome: "success"},
		Event{Name: EventNetworkSend, Meaning: "the first UDP send from a socket to a destination",
			ECSKind: "event", ECSCategory: []string{"network"}, ECSType: []string{"connection", "protocol"}, ECSAction: "send", ECSOutcome: "success",
			CIMDataModel: "Network_Traffic", CIMTags: []string{"network", "communicate"}, CIMAction: "allowed"},
	)
}
